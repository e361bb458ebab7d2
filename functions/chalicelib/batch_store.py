"""MySQL adapter of the writer: a batch of queued creations written at once, idempotently."""

from collections.abc import Sequence

from .models import ChatKey, MessageKey, NewChat, NewMessage
from .mysql import Cursor, MySQL, placeholders

# The no-op update keeps a redelivered or already-written chat from failing the batch.
INSERT_CHAT = (
    "INSERT INTO chats (application_id, number) VALUES (%s, %s) ON DUPLICATE KEY UPDATE number = number"
)
# A redelivered creation changes nothing, and never overwrites an edit that got there first.
INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, number, body, version) VALUES (%s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE id = id"
)


class BatchStore:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def persist(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> None:
        """Writes a batch idempotently: one multi-row INSERT per table, each atomic on its own.

        Chats are nearly always in MySQL before their messages arrive, so their ids are read first
        and only the missing chats are inserted: that spares a no-op upsert of every chat of the
        batch (a third of the database's work per batch, docs/performance.md). No transaction
        wraps the statements (a replay completes a half-written batch), so each read sees what
        other writers committed before it, a chat another writer inserted meanwhile included.
        """
        chat_keys = sorted({(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages})

        def write(cur: Cursor) -> None:
            ids = self._chat_ids(cur, chat_keys)
            missing = [key for key in chat_keys if key not in ids]
            if missing:
                cur.executemany(INSERT_CHAT, missing)
                ids.update(self._chat_ids(cur, missing))
            if messages:
                rows = sorted((ids[m.chat_key], m.number, m.body, m.version) for m in messages)
                cur.executemany(INSERT_MESSAGE, rows)

        self._mysql.retrying(write, transaction=False)

    def current_messages(self, keys: Sequence[MessageKey]) -> list[NewMessage]:
        """The rows of (application_id, chat_number, number) keys, as they are now."""
        if not keys:
            return []
        rows = self._mysql.all(
            f"SELECT c.application_id, c.number, m.number, m.body, m.version "
            f"FROM messages m JOIN chats c ON c.id = m.chat_id "
            f"WHERE (c.application_id, c.number, m.number) IN ({placeholders(len(keys), 3)})",
            tuple(v for key in keys for v in key),
        )
        return [NewMessage(*row) for row in rows]

    @staticmethod
    def _chat_ids(cur: Cursor, keys: Sequence[ChatKey]) -> dict[ChatKey, int]:
        if not keys:
            return {}
        cur.execute(
            f"SELECT application_id, number, id FROM chats WHERE (application_id, number) IN "
            f"({placeholders(len(keys), 2)})",
            [v for key in keys for v in key],
        )
        return {(app_id, number): chat_id for app_id, number, chat_id in cur.fetchall()}
