"""MySQL adapter of the writer: a batch of queued creations written at once, idempotently."""

from collections.abc import Sequence

from ...domain.changes import Written
from ...domain.errors import Unavailable
from ...domain.models import ChatKey, Clash, MessageKey, NewChat, NewMessage, clash
from .message_rows import LockedChat, lock_chats, write_messages
from .mysql import COMMIT, Cursor, MySQL, placeholders, together
from .rows import INDEXED_COLUMNS, indexed_of

# The no-op update keeps a redelivered or already-written chat from failing the batch.
INSERT_CHAT = (
    "INSERT INTO chats (application_id, number, created_ms) VALUES (%s, %s, %s) "
    "ON DUPLICATE KEY UPDATE number = number"
)
# A chat's creation adopts a row a message or an edit wrote before it (without an id); a row
# holding another create's id is left alone: that is a clash, reported by the writer.
INSERT_CREATED_CHAT = (
    "INSERT INTO chats (application_id, number, create_id, created_ms) VALUES (%s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE created_ms = COALESCE(created_ms, VALUES(created_ms)), "
    "create_id = COALESCE(create_id, VALUES(create_id))"
)
INSERT_CONFLICT = (
    "INSERT INTO create_conflicts "
    "(kind, application_id, chat_number, number, create_id, stored_create_id, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE create_id = create_id"
)


class BatchStore:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def persist(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> Written:
        """Writes a batch idempotently. Returns the clashes (creates whose number holds another
        create's row), recorded in `create_conflicts` with their bodies, and where each chat's
        change feed now ends.

        Chats are nearly always in MySQL before their messages arrive, so one transaction locks
        the batch's chats by key and writes the messages under those locks (message_rows.py),
        which gives their feed positions: two round trips, its BEGIN sent with the first and
        its COMMIT with the last (on a connection opened with `several_statements`). Where a
        chat is missing, or a chat's creation has a row to adopt, that transaction gives way:
        the chats are written first, outside it (a replay completes a half-written batch), and
        it runs again.
        """
        keys = sorted({(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages})

        def write(cur: Cursor) -> Written | None:
            locked = lock_chats(cur, keys)
            if self._chats_to_write(keys, chats, locked):
                return None
            found = (clash(c, locked[(c.application_id, c.number)].create_id) for c in chats)
            clashes = [c for c in found if c is not None]
            if not messages:
                return Written(clashes, [])
            planned = write_messages(cur, messages, locked)
            together(cur, *planned.statements, COMMIT)
            return Written(clashes + planned.clashes, planned.changes)

        written = self._mysql.retrying(write, begun_by_work=True)
        if written is None:
            self._mysql.retrying(lambda cur: self._write_chats(cur, keys, chats), transaction=False)
            written = self._mysql.retrying(write, begun_by_work=True)
        if written is None:
            raise Unavailable("the batch's chats were not there after they were written; try again")
        if written.clashes:
            self._mysql.retrying(lambda cur: self._record(cur, written.clashes), transaction=False)
        return written

    @staticmethod
    def _record(cur: Cursor, clashes: Sequence[Clash]) -> None:
        for c in clashes:
            args = (
                c.kind,
                c.application_id,
                c.chat_number,
                c.number,
                c.create_id,
                c.stored_create_id,
                c.body,
            )
            cur.execute(INSERT_CONFLICT, args)

    @staticmethod
    def _chats_to_write(
        keys: list[ChatKey], chats: Sequence[NewChat], locked: dict[ChatKey, LockedChat]
    ) -> bool:
        """Whether a chat of the batch is missing, or a chat's creation would adopt a row
        written without an id (by a message or an edit that came first)."""
        return len(locked) < len(keys) or any(
            c.create_id and locked[(c.application_id, c.number)].create_id is None for c in chats
        )

    def _write_chats(self, cur: Cursor, chat_keys: list[ChatKey], chats: Sequence[NewChat]) -> None:
        """Inserts the batch's missing chats; a creation adopts a row written without an id."""
        rows = self._chat_rows(cur, chat_keys)
        first: dict[ChatKey, NewChat] = {}
        for c in chats:
            first.setdefault((c.application_id, c.number), c)
        # Chats only named by messages get no id; a row holding another create's id is left
        # alone: that is a clash, which the messages' transaction reports.
        adopt = [c for key, c in first.items() if c.create_id and (key not in rows or rows[key] is None)]
        missing = [key for key in chat_keys if key not in rows and key not in first]
        missing += [key for key, c in first.items() if not c.create_id and key not in rows]
        if adopt:
            cur.executemany(
                INSERT_CREATED_CHAT,
                [(c.application_id, c.number, c.create_id, c.created_at_ms) for c in adopt],
            )
        if missing:
            created = {key: c.created_at_ms for key, c in first.items()}
            cur.executemany(INSERT_CHAT, [(*key, created.get(key)) for key in missing])

    def current_messages(self, keys: Sequence[MessageKey]) -> list[NewMessage]:
        """The rows of (application_id, chat_number, number) keys, as they are now."""
        if not keys:
            return []
        rows = self._mysql.all(
            f"SELECT {INDEXED_COLUMNS} FROM messages m JOIN chats c ON c.id = m.chat_id "
            f"WHERE (c.application_id, c.number, m.number) IN ({placeholders(len(keys), 3)})",
            tuple(v for key in keys for v in key),
        )
        return [indexed_of(row) for row in rows]

    @staticmethod
    def _chat_rows(cur: Cursor, keys: Sequence[ChatKey]) -> dict[ChatKey, str | None]:
        """{(application_id, number): create id} of the chats that exist."""
        cur.execute(
            f"SELECT application_id, number, create_id FROM chats WHERE (application_id, number) IN "
            f"({placeholders(len(keys), 2)})",
            [v for key in keys for v in key],
        )
        return {(app_id, number): create_id for app_id, number, create_id in cur.fetchall()}
