"""MySQL adapter of the counter: chats_count and messages_count recounted from the rows, and the
highest numbers stored, which say whether an idle counter's numbers have all arrived."""

from collections.abc import Iterable

from .models import ChatKey
from .mysql import MySQL, placeholders

REFRESH_MESSAGES_COUNT = """
    UPDATE chats c
    LEFT JOIN (SELECT chat_id, COUNT(*) AS n FROM messages GROUP BY chat_id) m ON m.chat_id = c.id
    SET c.messages_count = COALESCE(m.n, 0)
    WHERE c.messages_count <> COALESCE(m.n, 0)"""
REFRESH_CHATS_COUNT = """
    UPDATE applications a
    LEFT JOIN (SELECT application_id, COUNT(*) AS n FROM chats GROUP BY application_id) c
        ON c.application_id = a.id
    SET a.chats_count = COALESCE(c.n, 0)
    WHERE a.chats_count <> COALESCE(c.n, 0)"""

# The incremental variants: one correlated COUNT per chat (application) named, via the unique keys.
RECOUNT_CHATS = (
    "UPDATE chats c SET c.messages_count = "
    "(SELECT COUNT(*) FROM messages m WHERE m.chat_id = c.id) "
    "WHERE (c.application_id, c.number) IN"
)
RECOUNT_APPLICATIONS = (
    "UPDATE applications a SET a.chats_count = "
    "(SELECT COUNT(*) FROM chats c WHERE c.application_id = a.id) WHERE a.id IN"
)

# The highest number stored per chat (application) named; one indexed lookup each (the unique keys).
HIGHEST_MESSAGE_NUMBERS = (
    "SELECT c.application_id, c.number, COALESCE(MAX(m.number), 0) "
    "FROM chats c LEFT JOIN messages m ON m.chat_id = c.id WHERE (c.application_id, c.number) IN"
)
HIGHEST_CHAT_NUMBERS = "SELECT application_id, MAX(number) FROM chats WHERE application_id IN"


class CountStore:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def refresh_chat_counts(self, chats: Iterable[ChatKey]) -> int:
        """Recounts the messages of the given (application_id, number) chats; returns rows changed."""
        keys = sorted(chats)
        if not keys:
            return 0
        with self._mysql.cursor() as cur:
            return cur.execute(
                f"{RECOUNT_CHATS} ({placeholders(len(keys), 2)})", [v for key in keys for v in key]
            )

    def refresh_application_counts(self, applications: Iterable[int]) -> int:
        ids = sorted(applications)
        if not ids:
            return 0
        with self._mysql.cursor() as cur:
            return cur.execute(f"{RECOUNT_APPLICATIONS} ({placeholders(len(ids), 1)})", ids)

    def refresh_counts(self) -> tuple[int, int]:
        """Recounts every chat's messages and every application's chats; returns rows changed."""
        with self._mysql.cursor() as cur:
            chats_changed = cur.execute(REFRESH_MESSAGES_COUNT)
            applications_changed = cur.execute(REFRESH_CHATS_COUNT)
        return chats_changed, applications_changed

    def highest_message_numbers(self, chats: Iterable[ChatKey]) -> dict[ChatKey, int]:
        """The highest message number stored in each of the chats (absent: no such chat)."""
        keys = sorted(set(chats))
        if not keys:
            return {}
        sql = f"{HIGHEST_MESSAGE_NUMBERS} ({placeholders(len(keys), 2)}) GROUP BY c.application_id, c.number"
        rows = self._mysql.all(sql, tuple(v for key in keys for v in key))
        return {(int(a), int(c)): int(n) for a, c, n in rows}

    def highest_chat_numbers(self, applications: Iterable[int]) -> dict[int, int]:
        """The highest chat number stored for each application (absent: none)."""
        ids = sorted(set(applications))
        if not ids:
            return {}
        rows = self._mysql.all(
            f"{HIGHEST_CHAT_NUMBERS} ({placeholders(len(ids), 1)}) GROUP BY application_id", tuple(ids)
        )
        return {int(a): int(n) for a, n in rows}
