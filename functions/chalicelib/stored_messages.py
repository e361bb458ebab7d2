"""MySQL reads for rebuilding the search index: every message in id order, or those changed since
a time. The source of truth for the index, read in pages by primary key (keyset, not OFFSET)."""

import datetime
from collections.abc import Callable, Iterator

import pymysql

from .errors import Unavailable
from .models import NewMessage

NOW = "SELECT NOW(6)"
COUNT = "SELECT COUNT(*) FROM messages"
_PAGE = (
    "SELECT m.id, c.application_id, c.number, m.number, m.body, m.version "
    "FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.id > %s {changed} ORDER BY m.id LIMIT %s"
)
SELECT_PAGE = _PAGE.format(changed="")
# No index on updated_at (it would tax every write for a rare operation): a pass reads the table
# once, in primary key order (docs/performance.md has its time at 1M messages).
SELECT_CHANGED_PAGE = _PAGE.format(changed="AND m.updated_at >= %s")


class StoredMessages:
    """One connection, reopened on the next call after a failure."""

    def __init__(self, connect: Callable[[], pymysql.connections.Connection]):
        self._connect = connect
        self._conn: pymysql.connections.Connection | None = None

    def _run(self, sql: str, args: tuple = ()) -> list:
        try:
            if self._conn is None or not self._conn.open:
                self._conn = self._connect()
            with self._conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        except pymysql.err.MySQLError as exc:
            self._conn = None
            raise Unavailable("the database is unavailable") from exc

    def now(self) -> datetime.datetime:
        """The database's clock, the one `updated_at` is written by."""
        return self._run(NOW)[0][0]

    def count(self) -> int:
        return self._run(COUNT)[0][0]

    def pages(self, size: int, changed_since: datetime.datetime | None = None) -> Iterator[list]:
        """Every message (or every one changed since a time), `size` at a time, in id order."""
        after = 0
        while True:
            if changed_since is None:
                rows = self._run(SELECT_PAGE, (after, size))
            else:
                rows = self._run(SELECT_CHANGED_PAGE, (after, changed_since, size))
            if not rows:
                return
            after = rows[-1][0]
            yield [NewMessage(*row[1:]) for row in rows]
