"""MySQL adapter of the writer: a batch of queued creations written at once, idempotently."""

from collections.abc import Sequence

from ...domain.changes import ChatChanged, Written
from ...domain.models import ChatKey, Clash, MessageKey, NewChat, NewMessage, clash
from .message_rows import write_messages
from .mysql import Cursor, MySQL, placeholders
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
ChatRows = dict[ChatKey, tuple[int, str | None]]  # (chat id, create id)


class BatchStore:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def persist(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> Written:
        """Writes a batch idempotently. Returns the clashes (creates whose number holds another
        create's row), recorded in `create_conflicts` with their bodies, and where each chat's
        change feed now ends.

        Chats are nearly always in MySQL before their messages arrive, so their ids are read first
        and only the missing chats are inserted: that spares a no-op upsert of every chat of the
        batch (a third of the database's work per batch, docs/performance.md). The chats are
        written outside the messages' transaction (a replay completes a half-written batch), so
        each read sees what other writers committed before it, a chat another writer inserted
        meanwhile included; the messages are one transaction under their chats' locks
        (message_rows.py), which gives their feed positions.
        """
        chat_keys = sorted({(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages})

        def write_chats(cur: Cursor) -> tuple[list[Clash], dict[ChatKey, int]]:
            rows = self._chat_rows(cur, chat_keys)
            clashes = self._write_chats(cur, chat_keys, chats, rows)
            return clashes, {key: row[0] for key, row in rows.items()}

        clashes, chat_ids = self._mysql.retrying(write_chats, transaction=False)
        changes: list[ChatChanged] = []
        if messages:
            found, changes = self._mysql.retrying(lambda cur: write_messages(cur, messages, chat_ids))
            clashes += found
        if clashes:
            self._mysql.retrying(lambda cur: self._record(cur, clashes), transaction=False)
        return Written(clashes, changes)

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

    def _write_chats(
        self, cur: Cursor, chat_keys: list[ChatKey], chats: Sequence[NewChat], rows: ChatRows
    ) -> list[Clash]:
        """Inserts the batch's missing chats, fills `rows`; returns the clashes."""
        first: dict[ChatKey, NewChat] = {}
        for c in chats:
            first.setdefault((c.application_id, c.number), c)
        # A creation adopts a row written without an id; chats only named by messages get none.
        adopt = [c for key, c in first.items() if c.create_id and (key not in rows or rows[key][1] is None)]
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
        if adopt or missing:
            rows.update(self._chat_rows(cur, [(c.application_id, c.number) for c in adopt] + missing))
        found = (clash(c, rows[(c.application_id, c.number)][1]) for c in chats)
        return [c for c in found if c is not None]

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
    def _chat_rows(cur: Cursor, keys: Sequence[ChatKey]) -> ChatRows:
        """{(application_id, number): (chat id, create id)} of the chats that exist."""
        if not keys:
            return {}
        cur.execute(
            f"SELECT application_id, number, id, create_id FROM chats WHERE (application_id, number) IN "
            f"({placeholders(len(keys), 2)})",
            [v for key in keys for v in key],
        )
        return {
            (app_id, number): (chat_id, create_id) for app_id, number, chat_id, create_id in cur.fetchall()
        }
