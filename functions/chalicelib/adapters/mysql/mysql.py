"""MySQL connections: one per thread, reopened after a failure; driver errors leave as our own.

The four MySQL adapters (db, batch_store, count_store, schema) run their statements through
`MySQL`; none of them, and nothing above them, sees a pymysql error.
"""

import contextlib
import datetime
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pymysql
from pymysql.constants import CLIENT, SERVER_STATUS

from ...domain.errors import Refused, Unavailable

T = TypeVar("T")
Connect = Callable[[], "pymysql.connections.Connection[Any]"]
Cursor = pymysql.cursors.Cursor
Row = tuple[Any, ...]

_DEADLOCK, _LOCK_WAIT_TIMEOUT = 1213, 1205


def connector(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    tls_ca: str | None = None,
    several_statements: bool = False,
) -> Connect:
    """`tls_ca`: a CA bundle; the connection then requires TLS and verifies the server's
    certificate and name (pymysql refuses a server that offers no TLS). `several_statements`:
    one query may hold several (`together`), for the writer's connection only."""
    tls: dict[str, Any] = {}
    if tls_ca is not None:
        tls = {"ssl_ca": tls_ca, "ssl_verify_cert": True, "ssl_verify_identity": True}
    flags = CLIENT.MULTI_STATEMENTS if several_statements else 0

    def connect() -> "pymysql.connections.Connection[Any]":
        return pymysql.connect(
            **tls,
            host=host,
            port=port,
            user=user,
            password=password,
            database=database,
            charset="utf8mb4",
            client_flag=flags,
            autocommit=True,
            connect_timeout=3,
            read_timeout=30,
            write_timeout=30,
        )

    return connect


class MySQL:
    """One connection per thread, opened on first use and reopened after a failure."""

    def __init__(self, connect: Connect):
        self._connect = connect
        self._local = threading.local()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[Cursor]:
        """A cursor in autocommit mode; a deadlock here is a busy database (503)."""
        try:
            with self._cursor() as cur:
                yield cur
        except _Retryable as exc:
            raise Unavailable("the database is busy; try again") from exc

    def one(self, sql: str, args: Row) -> Row | None:
        with self.cursor() as cur:
            cur.execute(sql, args)
            row: Row | None = cur.fetchone()
            return row

    def all(self, sql: str, args: Row) -> list[Row]:
        with self.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def count(self, sql: str, args: Row) -> int:
        """The one number an aggregate query answers."""
        row = self.one(sql, args)
        assert row is not None, "an aggregate always answers a row"
        return int(row[0])

    def retrying(
        self,
        work: Callable[[Cursor], T],
        attempts: int = 3,
        transaction: bool = True,
        begun_by_work: bool = False,
    ) -> T:
        """Runs `work(cursor)`, in a transaction unless told not to, again after a deadlock.
        `begun_by_work`: the work's first query opens the transaction (`BEGIN`, sent `together`
        with it) and its last may commit it (`COMMIT`), which saves both their round trips; it
        is committed here if still open, and rolled back on failure all the same."""
        for attempt in range(attempts):
            try:
                with self._transaction(begun_by_work) if transaction else self._cursor() as cur:
                    return work(cur)
            except _Retryable:
                if attempt == attempts - 1:
                    raise Unavailable("the database stayed busy (deadlocks); try again") from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Cursor]:
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
    def _transaction(self, begun_by_work: bool = False) -> Iterator[Cursor]:
        with self._cursor() as cur:
            if not begun_by_work:
                cur.connection.begin()
            try:
                yield cur
            except BaseException:
                _quietly(cur.connection.rollback)
                raise
            if not begun_by_work or _in_transaction(cur.connection):
                cur.connection.commit()

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            _quietly(conn.close)


BEGIN, COMMIT = "START TRANSACTION", "COMMIT"
MAX_QUERY_BYTES = 1_024_000  # as pymysql's executemany: well within any max_allowed_packet


def together(cur: Cursor, *statements: str) -> None:
    """Sends `statements` in as few queries as hold them in MAX_QUERY_BYTES each (one longer goes
    alone): one round trip for a batch's, on a connection opened with `several_statements`. The
    cursor then holds the last one's rows; the server stops at the first that fails, whose error
    is raised here."""
    query: list[str] = []
    size = 0
    for statement in statements:
        length = len(statement.encode("utf-8", "surrogateescape")) + 1
        if query and size + length > MAX_QUERY_BYTES:
            _send(cur, query)
            query, size = [], 0
        query.append(statement)
        size += length
    _send(cur, query)


def _send(cur: Cursor, statements: list[str]) -> None:
    cur.execute(";".join(statements))
    while cur.nextset():  # each statement's result in turn: an error surfaces here
        pass


def first(cur: Cursor) -> Any:
    """The first column of the row the last statement found."""
    row = cur.fetchone()
    assert row is not None, "the statement before it wrote the row"
    return row[0]


def utc(moment: datetime.datetime | None) -> datetime.datetime | None:
    """A DATETIME the statements wrote with UTC_TIMESTAMP(), as an aware time."""
    return moment.replace(tzinfo=datetime.UTC) if moment is not None else None


def placeholders(count: int, width: int) -> str:
    """`(%s, %s), (%s, %s)` for `count` rows of `width` values: an IN list or VALUES rows."""
    row = "(" + ", ".join(["%s"] * width) + ")" if width > 1 else "%s"
    return ", ".join([row] * count)


def _in_transaction(conn: "pymysql.connections.Connection[Any]") -> bool:
    """What the last OK packet said: BEGIN and every write in a transaction set it, COMMIT clears it."""
    status: int = conn.server_status  # type: ignore[attr-defined]  # pymysql's, not in its stubs
    return bool(status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)


class _Retryable(Exception):
    """A deadlock or lock wait timeout: the transaction rolled back and may run again."""


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:  # the connection is being thrown away anyway
        pass
