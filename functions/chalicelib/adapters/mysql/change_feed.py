"""MySQL adapter of the change feed as webhook delivery reads it: the feed the API answers
(changes.py: each message once, at its latest change's position, given under the chat row's
lock in the change's own transaction, so a position read means every smaller one is
committed), where an endpoint starts in a chat, and the chats some endpoint is behind on.
"""

import datetime

from ...domain.changes import Change
from . import changes
from .mysql import MySQL

_CHAT = "c.application_id = %s AND c.number = %s"
# Where a pair first seen starts: -1 (chat.created next) for a chat the API accepted after the
# endpoint was registered, else the last position of what changed before then.
SELECT_START = (
    "SELECT c.created_ms, (SELECT COALESCE(MAX(m.change_position), 0) FROM messages m "
    "WHERE m.chat_id = c.id AND GREATEST(COALESCE(m.created_ms, 0), COALESCE(m.edited_ms, 0), "
    "COALESCE(m.deleted_ms, 0)) < %s) "
    f"FROM chats c WHERE {_CHAT}"
)
SELECT_CREATED = f"SELECT c.created_ms FROM chats c WHERE {_CHAT}"
# Chats changed within the window (an index range on the minute of chats.updated_at, which
# every change and every new chat moves, then the instant itself) with a change past an enabled
# endpoint's cursor, where no worker holds the pair and nothing is due later; a pair with no
# cursor counts from the endpoint's registration (created_at on the database's clock, as chats'
# updated_at; created_ms is the API's epoch ms).
# At most `per_application` chats of each application, oldest change first: one tenant's backlog
# neither fills the sweep nor keeps another's chats waiting, and no chat waits behind newer ones.
SELECT_BEHIND = (
    "SELECT application_id, number FROM ("
    "  SELECT application_id, number, updated_at, "
    "    ROW_NUMBER() OVER (PARTITION BY application_id ORDER BY updated_at, number) AS nth FROM ("
    "    SELECT DISTINCT c.application_id, c.number, c.updated_at FROM chats c "
    "    JOIN webhook_endpoints e ON e.application_id = c.application_id "
    "    LEFT JOIN webhook_cursors w ON w.endpoint_id = e.id AND w.chat_number = c.number "
    "    WHERE c.updated_minute >= TO_SECONDS(CURRENT_TIMESTAMP(6) - INTERVAL %s SECOND) DIV 60 "
    "    AND c.updated_at >= CURRENT_TIMESTAMP(6) - INTERVAL %s SECOND "
    "    AND e.enabled = 1 AND (e.retry_at IS NULL OR e.retry_at <= UTC_TIMESTAMP(6)) "
    "    AND ((w.endpoint_id IS NULL AND c.created_ms >= UNIX_TIMESTAMP(e.created_at) * 1000) "
    "      OR (w.endpoint_id IS NULL AND c.last_change > 0 AND c.updated_at >= e.created_at) "
    "      OR (c.last_change > w.delivered_position "
    "          AND (w.lease_until IS NULL OR w.lease_until < UTC_TIMESTAMP(6)) "
    "          AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= UTC_TIMESTAMP(6))))"
    "  ) changed"
    ") ranked WHERE nth <= %s ORDER BY updated_at, application_id, number LIMIT %s"
)


def _ms(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


class ChangeFeed:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def changes(self, application_id: int, chat_number: int, since: int, limit: int) -> list[Change]:
        """The feed the API answers (changes.feed: one statement, read in one place)."""
        with self._mysql.cursor() as cur:
            fed = changes.feed(cur, application_id, chat_number, since, limit)
        return fed.changes if fed is not None else []

    def start_position(
        self, application_id: int, chat_number: int, endpoint_created_at: datetime.datetime
    ) -> int:
        since_ms = _ms(endpoint_created_at)
        row = self._mysql.one(SELECT_START, (since_ms, application_id, chat_number))
        if row is None:
            return -1  # not stored yet: created (accepted) after the endpoint, most likely
        created_ms, before = row
        return -1 if created_ms is not None and created_ms >= since_ms else int(before)

    def created_at(self, application_id: int, chat_number: int) -> datetime.datetime | None:
        row = self._mysql.one(SELECT_CREATED, (application_id, chat_number))
        if row is None or row[0] is None:
            return None
        return datetime.datetime.fromtimestamp(int(row[0]) / 1000, datetime.UTC)

    def behind(self, window_seconds: int, per_application: int, limit: int) -> list[tuple[int, int]]:
        rows = self._mysql.all(SELECT_BEHIND, (window_seconds, window_seconds, per_application, limit))
        return [(int(a), int(c)) for a, c in rows]
