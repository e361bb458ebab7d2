"""MySQL reads for rebuilding the search index: every message in id order, or those changed since
a time. The source of truth for the index, read in pages by primary key (keyset, not OFFSET)."""

import datetime
from collections.abc import Iterator

from ...domain.models import NewMessage
from .mysql import MySQL
from .rows import INDEXED_COLUMNS, indexed_of

NOW = "SELECT NOW(6)"
COUNT = "SELECT COUNT(*) FROM messages"
# STRAIGHT_JOIN: messages drive the join, read in primary key order from the cursor on, so the
# LIMIT stops the read after a page. Left to itself MariaDB read all chats first, joined every
# message after the cursor to them and sorted them, bodies and all, to keep a page: 6 s a page on
# 660 MB of 64 KB bodies (docs/performance.md, "The page query"). Both MySQL 8 and MariaDB accept it.
_PAGE = (
    f"SELECT STRAIGHT_JOIN m.id, {INDEXED_COLUMNS} "
    "FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.id > %s {changed} ORDER BY m.id LIMIT %s"
)
SELECT_PAGE = _PAGE.format(changed="")
# No index on updated_at (it would tax every write for a rare operation): a pass reads the table
# once, in primary key order (docs/performance.md, "Rebuilding the index", has its time at 1M).
SELECT_CHANGED_PAGE = _PAGE.format(changed="AND m.updated_at >= %s")


class StoredMessages:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def now(self) -> datetime.datetime:
        """The database's clock, the one `updated_at` is written by."""
        row = self._mysql.one(NOW, ())
        assert row is not None, "NOW() always answers a row"
        now: datetime.datetime = row[0]
        return now

    def count(self) -> int:
        return self._mysql.count(COUNT, ())

    def pages(self, size: int, changed_since: datetime.datetime | None = None) -> Iterator[list[NewMessage]]:
        """Every message (or every one changed since a time), `size` at a time, in id order."""
        after = 0
        while True:
            if changed_since is None:
                rows = self._mysql.all(SELECT_PAGE, (after, size))
            else:
                rows = self._mysql.all(SELECT_CHANGED_PAGE, (after, changed_since, size))
            if not rows:
                return
            after = rows[-1][0]
            yield [indexed_of(row[1:]) for row in rows]
