"""MySQL adapter: the only module that knows SQL or pymysql. Driver errors leave as our own."""

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import pymysql

from . import schema
from .errors import Refused, Unavailable
from .models import Application, Chat, Clash, Message, NewMessage

_DEADLOCK, _LOCK_WAIT_TIMEOUT = 1213, 1205

INSERT_APPLICATION = "INSERT INTO applications (token, name, create_id) VALUES (%s, %s, %s)"
SELECT_APPLICATION = "SELECT id, token, name, chats_count FROM applications WHERE token = %s"
SELECT_APPLICATION_BY_CREATE_ID = "SELECT id, token, name, chats_count FROM applications WHERE create_id = %s"
RENAME_APPLICATION = "UPDATE applications SET name = %s WHERE id = %s"

SELECT_CHAT = "SELECT number, messages_count FROM chats WHERE application_id = %s AND number = %s"
SELECT_CHATS = (
    "SELECT number, messages_count FROM chats WHERE application_id = %s AND number > %s "
    "ORDER BY number LIMIT %s"
)
MAX_CHAT_NUMBER = "SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = %s"
# The no-op update keeps a redelivered or already-written chat from failing the batch.
INSERT_CHAT = (
    "INSERT INTO chats (application_id, number) VALUES (%s, %s) ON DUPLICATE KEY UPDATE number = number"
)
SELECT_CHAT_ID = "SELECT id FROM chats WHERE application_id = %s AND number = %s"
# A chat's creation adopts a row a message or an edit wrote before it (without an id); a row
# holding another create's id is left alone: that is a clash, reported by the writer.
INSERT_CREATED_CHAT = (
    "INSERT INTO chats (application_id, number, create_id) VALUES (%s, %s, %s) "
    "ON DUPLICATE KEY UPDATE create_id = COALESCE(create_id, VALUES(create_id))"
)
SELECT_CHAT_BY_CREATE_ID = "SELECT number FROM chats WHERE application_id = %s AND create_id = %s"

_MESSAGES_OF_CHAT = (
    "FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = %s AND c.number = %s"
)
SELECT_MESSAGE = f"SELECT m.number, m.body {_MESSAGES_OF_CHAT} AND m.number = %s"
SELECT_MESSAGES = f"SELECT m.number, m.body {_MESSAGES_OF_CHAT} AND m.number > %s ORDER BY m.number LIMIT %s"
MAX_MESSAGE_NUMBER = f"SELECT COALESCE(MAX(m.number), 0) {_MESSAGES_OF_CHAT}"
# A redelivered creation changes nothing, and never overwrites an edit that got there first (it
# only gives the edit's row its create id); another create's row is left alone (a clash).
INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, number, body, version, create_id) VALUES (%s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE create_id = COALESCE(create_id, VALUES(create_id))"
)
SELECT_MESSAGE_BY_CREATE_ID = (
    "SELECT c.number, m.number, m.body FROM messages m JOIN chats c ON c.id = m.chat_id "
    "WHERE m.create_id = %s AND c.application_id = %s"
)
INSERT_CONFLICT = (
    "INSERT INTO create_conflicts "
    "(kind, application_id, chat_number, number, create_id, stored_create_id, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE create_id = create_id"
)
# An edit of a message still in the queue writes the row itself, as version 2: the creation,
# version 1, then finds it there and leaves it alone.
UPSERT_MESSAGE_BODY = (
    "INSERT INTO messages (chat_id, number, body, version) VALUES (%s, %s, %s, 2) "
    "ON DUPLICATE KEY UPDATE body = VALUES(body), version = version + 1"
)
SELECT_MESSAGE_VERSION = "SELECT version FROM messages WHERE chat_id = %s AND number = %s"

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


def connector(host: str, port: int, user: str, password: str, database: str) -> Callable:
    def connect() -> pymysql.connections.Connection:
        return pymysql.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=3,
            read_timeout=30,
            write_timeout=30,
        )

    return connect


class Database:
    """One connection per thread, opened on first use and reopened after a failure."""

    def __init__(self, connect: Callable[[], pymysql.connections.Connection]):
        self._connect = connect
        self._local = threading.local()

    # -- plumbing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[pymysql.cursors.Cursor]:
        try:
            conn = getattr(self._local, "conn", None)
            if conn is None or not conn.open:
                conn = self._local.conn = self._connect()
            with conn.cursor() as cur:
                yield cur
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            self._drop()
            if exc.args and exc.args[0] in (_DEADLOCK, _LOCK_WAIT_TIMEOUT):
                raise _Retryable(str(exc)) from exc
            raise Unavailable("the database is unavailable") from exc
        except (pymysql.err.IntegrityError, pymysql.err.DataError) as exc:
            raise Refused("the database refused the data") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[pymysql.cursors.Cursor]:
        with self._cursor() as cur:
            cur.connection.begin()
            try:
                yield cur
            except BaseException:
                _quietly(cur.connection.rollback)
                raise
            cur.connection.commit()

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            _quietly(conn.close)

    def _one(self, sql: str, args: tuple) -> tuple | None:
        with self._cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchone()

    def _all(self, sql: str, args: tuple) -> list:
        with self._cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    # -- applications --------------------------------------------------------------------------

    def insert_application(self, token: str, name: str, create_id: str | None = None) -> Application:
        with self._cursor() as cur:
            cur.execute(INSERT_APPLICATION, (token, name, create_id))
            return Application(cur.lastrowid, token, name, 0)

    def application(self, token: str) -> Application | None:
        row = self._one(SELECT_APPLICATION, (token,))
        return Application(*row) if row else None

    def application_created_by(self, create_id: str) -> Application | None:
        row = self._one(SELECT_APPLICATION_BY_CREATE_ID, (create_id,))
        return Application(*row) if row else None

    def chat_created_by(self, application_id: int, create_id: str) -> int | None:
        """The number of the chat that create stored, if MySQL has it."""
        row = self._one(SELECT_CHAT_BY_CREATE_ID, (application_id, create_id))
        return int(row[0]) if row else None

    def message_created_by(self, application_id: int, create_id: str) -> tuple | None:
        """(chat number, number, body) of the message that create stored, if MySQL has it."""
        row = self._one(SELECT_MESSAGE_BY_CREATE_ID, (create_id, application_id))
        return (int(row[0]), int(row[1]), row[2]) if row else None

    def rename_application(self, app: Application, name: str) -> Application:
        with self._cursor() as cur:
            cur.execute(RENAME_APPLICATION, (name, app.id))
        return Application(app.id, app.token, name, app.chats_count)

    # -- chats ---------------------------------------------------------------------------------

    def chat(self, application_id: int, number: int) -> Chat | None:
        row = self._one(SELECT_CHAT, (application_id, number))
        return Chat(*row) if row else None

    def chats(self, application_id: int, after: int, limit: int) -> list:
        return [Chat(*row) for row in self._all(SELECT_CHATS, (application_id, after, limit))]

    def max_chat_number(self, application_id: int) -> int:
        return int(self._one(MAX_CHAT_NUMBER, (application_id,))[0])

    # -- messages ------------------------------------------------------------------------------

    def message(self, application_id: int, chat_number: int, number: int) -> Message | None:
        row = self._one(SELECT_MESSAGE, (application_id, chat_number, number))
        return Message(*row) if row else None

    def messages(self, application_id: int, chat_number: int, after: int, limit: int) -> list:
        rows = self._all(SELECT_MESSAGES, (application_id, chat_number, after, limit))
        return [Message(*row) for row in rows]

    def max_message_number(self, application_id: int, chat_number: int) -> int:
        return int(self._one(MAX_MESSAGE_NUMBER, (application_id, chat_number))[0])

    def edit_message(self, application_id: int, chat_number: int, number: int, body: str) -> int:
        """Sets the body, writing the row if the creation is still queued; returns its version."""

        def edit(cur) -> int:
            cur.execute(INSERT_CHAT, (application_id, chat_number))
            cur.execute(SELECT_CHAT_ID, (application_id, chat_number))
            chat_id = cur.fetchone()[0]
            cur.execute(UPSERT_MESSAGE_BODY, (chat_id, number, body))
            cur.execute(SELECT_MESSAGE_VERSION, (chat_id, number))
            return int(cur.fetchone()[0])

        return self._retrying(edit)

    # -- the writer ----------------------------------------------------------------------------

    def persist(self, chats: list, messages: list) -> list:
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

        def write(cur) -> list:
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

        return self._retrying(write, transaction=False)

    def _write_chats(self, cur, chat_keys: list, chats: list, rows: dict) -> list:
        """Inserts the batch's missing chats, fills `rows` ({key: (id, create id)}); returns clashes."""
        first: dict = {}
        for c in chats:
            first.setdefault((c.application_id, c.number), c)
        # A creation adopts a row written without an id; chats only named by messages get none.
        adopt = [c for key, c in first.items() if c.create_id and (key not in rows or rows[key][1] is None)]
        missing = [key for key in chat_keys if key not in rows and key not in first]
        missing += [key for key, c in first.items() if not c.create_id and key not in rows]
        if adopt:
            cur.executemany(INSERT_CREATED_CHAT, [(c.application_id, c.number, c.create_id) for c in adopt])
        if missing:
            cur.executemany(INSERT_CHAT, missing)
        if adopt or missing:
            rows.update(self._chat_rows(cur, [(c.application_id, c.number) for c in adopt] + missing))
        return [
            Clash("chat", c.application_id, c.number, 0, c.create_id, rows[key][1], None)
            for c in chats
            if c.create_id and rows[(key := (c.application_id, c.number))][1] not in (None, c.create_id)
        ]

    def _write_messages(self, cur, messages: list, chat_ids: dict) -> list:
        rows = sorted(
            ((chat_ids[m.chat_key], m.number, m.body, m.version, m.create_id) for m in messages),
            key=lambda row: row[:2],
        )
        cur.executemany(INSERT_MESSAGE, rows)
        with_ids = [m for m in messages if m.create_id]
        if not with_ids:
            return []
        stored = self._message_create_ids(cur, sorted({(chat_ids[m.chat_key], m.number) for m in with_ids}))
        return [
            Clash("message", m.application_id, m.chat_number, m.number, m.create_id, other, m.body)
            for m in with_ids
            if (other := stored.get((chat_ids[m.chat_key], m.number))) not in (None, m.create_id)
        ]

    @staticmethod
    def _message_create_ids(cur, keys: list) -> dict:
        placeholders = ", ".join(["(%s, %s)"] * len(keys))
        cur.execute(
            f"SELECT chat_id, number, create_id FROM messages WHERE (chat_id, number) IN ({placeholders})",
            [v for key in keys for v in key],
        )
        return {(chat_id, number): create_id for chat_id, number, create_id in cur.fetchall()}

    def current_messages(self, keys: list) -> list:
        """The rows of (application_id, chat_number, number) keys, as they are now."""
        if not keys:
            return []
        placeholders = ", ".join(["(%s, %s, %s)"] * len(keys))
        rows = self._all(
            f"SELECT c.application_id, c.number, m.number, m.body, m.version "
            f"FROM messages m JOIN chats c ON c.id = m.chat_id "
            f"WHERE (c.application_id, c.number, m.number) IN ({placeholders})",
            tuple(v for key in keys for v in key),
        )
        return [NewMessage(*row) for row in rows]

    @staticmethod
    def _chat_rows(cur, keys: list) -> dict:
        """{(application_id, number): (chat id, create id)} of the chats that exist."""
        if not keys:
            return {}
        placeholders = ", ".join(["(%s, %s)"] * len(keys))
        cur.execute(
            f"SELECT application_id, number, id, create_id FROM chats WHERE (application_id, number) IN "
            f"({placeholders})",
            [v for key in keys for v in key],
        )
        return {
            (app_id, number): (chat_id, create_id) for app_id, number, chat_id, create_id in cur.fetchall()
        }

    def _retrying(self, work: Callable, attempts: int = 3, transaction: bool = True):
        """Runs `work(cursor)`, in a transaction unless told not to, again after a deadlock."""
        for attempt in range(attempts):
            try:
                with self._transaction() if transaction else self._cursor() as cur:
                    return work(cur)
            except _Retryable:
                if attempt == attempts - 1:
                    raise Unavailable("the database stayed busy (deadlocks); try again") from None
                time.sleep(0.05 * (attempt + 1))

    # -- the counter and the schema ------------------------------------------------------------

    def refresh_chat_counts(self, chats: list) -> int:
        """Recounts the messages of the given (application_id, number) chats; returns rows changed."""
        if not chats:
            return 0
        placeholders = ", ".join(["(%s, %s)"] * len(chats))
        with self._cursor() as cur:
            return cur.execute(f"{RECOUNT_CHATS} ({placeholders})", [v for key in sorted(chats) for v in key])

    def refresh_application_counts(self, applications: list) -> int:
        if not applications:
            return 0
        placeholders = ", ".join(["%s"] * len(applications))
        with self._cursor() as cur:
            return cur.execute(f"{RECOUNT_APPLICATIONS} ({placeholders})", sorted(applications))

    def refresh_counts(self) -> tuple:
        """Recounts every chat's messages and every application's chats; returns rows changed."""
        with self._cursor() as cur:
            chats_changed = cur.execute(REFRESH_MESSAGES_COUNT)
            applications_changed = cur.execute(REFRESH_CHATS_COUNT)
        return chats_changed, applications_changed

    def migrate(self) -> list:
        """Applies the migrations not yet recorded; returns their names."""
        applied = []
        with self._cursor() as cur:
            cur.execute(schema.CREATE_MIGRATIONS_TABLE)
            cur.execute("SELECT name FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for name, statement in schema.MIGRATIONS:
                if name not in done:
                    cur.execute(statement)
                    cur.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                    applied.append(name)
        return applied


class _Retryable(Exception):
    """A deadlock or lock wait timeout: the transaction rolled back and may run again."""


def _quietly(action: Callable) -> None:
    try:
        action()
    except Exception:  # the connection is being thrown away anyway
        pass
