"""MySQL adapter of the writer: a batch of queued creations written at once, idempotently."""

from collections.abc import Sequence

from ...domain.models import ChatKey, Clash, MessageKey, NewChat, NewMessage, clash
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
# A redelivered creation changes nothing, and never overwrites an edit that got there first (it
# only gives the edit's row its create id, and its time and author if it lacks them); another
# create's row is left alone (a clash).
INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, number, body, version, create_id, created_ms, author_id, author_name) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE created_ms = COALESCE(created_ms, VALUES(created_ms)), "
    "author_name = IF(author_id IS NULL, VALUES(author_name), author_name), "
    "author_id = COALESCE(author_id, VALUES(author_id)), "
    "create_id = COALESCE(create_id, VALUES(create_id))"
)
# Each chat of the batch: the accept time of its newest message (the row exists: one statement
# for all, as a multi-row upsert).
UPDATE_CHAT_LAST_MESSAGE = (
    "INSERT INTO chats (application_id, number, last_message_ms) VALUES (%s, %s, %s) "
    "ON DUPLICATE KEY UPDATE "
    "last_message_ms = GREATEST(COALESCE(last_message_ms, 0), VALUES(last_message_ms))"
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

    def persist(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> list[Clash]:
        """Writes a batch idempotently: one multi-row INSERT per table, each atomic on its own.
        Returns the clashes (creates whose number holds another create's row), recorded in
        `create_conflicts` with their bodies.

        Chats are nearly always in MySQL before their messages arrive, so their ids are read first
        and only the missing chats are inserted: that spares a no-op upsert of every chat of the
        batch (a third of the database's work per batch, docs/performance.md). No transaction
        wraps the statements (a replay completes a half-written batch), so each read sees what
        other writers committed before it, a chat another writer inserted meanwhile included.
        """
        chat_keys = sorted({(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages})

        def write(cur: Cursor) -> list[Clash]:
            rows = self._chat_rows(cur, chat_keys)
            clashes = self._write_chats(cur, chat_keys, chats, rows)
            if messages:
                clashes += self._write_messages(cur, messages, {key: row[0] for key, row in rows.items()})
            for c in clashes:
                cur.execute(
                    INSERT_CONFLICT,
                    (
                        c.kind,
                        c.application_id,
                        c.chat_number,
                        c.number,
                        c.create_id,
                        c.stored_create_id,
                        c.body,
                    ),
                )
            return clashes

        return self._mysql.retrying(write, transaction=False)

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

    def _write_messages(
        self, cur: Cursor, messages: Sequence[NewMessage], chat_ids: dict[ChatKey, int]
    ) -> list[Clash]:
        rows = sorted((_message_row(chat_ids[m.chat_key], m) for m in messages), key=lambda row: row[:2])
        cur.executemany(INSERT_MESSAGE, rows)
        latest: dict[ChatKey, int] = {}
        for m in messages:
            if m.created_at_ms is not None:
                latest[m.chat_key] = max(latest.get(m.chat_key, 0), m.created_at_ms)
        if latest:
            cur.executemany(UPDATE_CHAT_LAST_MESSAGE, [(*key, ms) for key, ms in sorted(latest.items())])
        with_ids = [m for m in messages if m.create_id]
        if not with_ids:
            return []
        stored = self._message_create_ids(cur, sorted({(chat_ids[m.chat_key], m.number) for m in with_ids}))
        found = (clash(m, stored.get((chat_ids[m.chat_key], m.number))) for m in with_ids)
        return [c for c in found if c is not None]

    @staticmethod
    def _message_create_ids(cur: Cursor, keys: list[tuple[int, int]]) -> dict[tuple[int, int], str | None]:
        cur.execute(
            "SELECT chat_id, number, create_id FROM messages WHERE (chat_id, number) IN "
            f"({placeholders(len(keys), 2)})",
            [v for key in keys for v in key],
        )
        return {(chat_id, number): create_id for chat_id, number, create_id in cur.fetchall()}

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


def _message_row(chat_id: int, m: NewMessage) -> tuple[object, ...]:
    author = m.author
    return (
        chat_id,
        m.number,
        m.body,
        m.version,
        m.create_id,
        m.created_at_ms,
        author and author.id,
        author and author.name,
    )
