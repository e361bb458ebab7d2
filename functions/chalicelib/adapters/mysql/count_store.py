"""MySQL adapter of the counter: chats_count and messages_count recounted from the rows, and the
highest numbers stored, which say whether an idle counter's numbers have all arrived."""

import functools
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ...domain.models import ChatKey
from .mysql import Cursor, MySQL, first, placeholders

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

# The full recount walks the parents' ids in ranges of RANGE, WORKERS ranges at once. One
# statement joining every parent to its children's counts made MariaDB dive into the children's
# index once per parent (a LATERAL DERIVED table: 1M dives at 1M chats) and held shared locks on
# both whole tables while it ran. A range is one ordered scan of the children's (parent, number)
# index, joined to the parents by primary key in the same statement, so only the parents whose
# count is wrong come back; they are written in chunks (docs/performance.md, "Counts").
RANGE = 10_000
WORKERS = 2
CHUNK = 1000


@dataclass(frozen=True)
class _Counted:
    """One parent table, its count column, and the child table and column that point at it."""

    parent: str
    count: str
    child: str
    key: str

    @property
    def wrong(self) -> str:
        # The counts first (STRAIGHT_JOIN), each joined to its parent by primary key: never a
        # dive into the children per parent. WITH ROLLUP adds the range's total (parent NULL) so
        # that parents without children, absent from the groups, are checked by their sum. One
        # JSON array comes back, cheaper for the driver than rows (docs/performance.md, "How the
        # full recount works"). (MariaDB caps JSON_ARRAYAGG at group_concat_max_len, 1 MB: a RANGE
        # of rows takes < 300 KB.)
        return (
            "SELECT STRAIGHT_JOIN JSON_ARRAYAGG(JSON_ARRAY(k.parent, k.n, p.{count})) FROM ("
            "SELECT {key} AS parent, COUNT(*) AS n FROM {child} WHERE {key} >= %s AND {key} < %s "
            "GROUP BY {key} WITH ROLLUP) k "
            "LEFT JOIN {parent} p ON p.id = k.parent WHERE p.id IS NULL OR p.{count} <> k.n"
        ).format(**vars(self))

    @property
    def stored_total(self) -> str:
        return f"SELECT COALESCE(SUM({self.count}), 0) FROM {self.parent} WHERE id >= %s AND id < %s"

    @property
    def wrong_without_children(self) -> str:
        return (
            f"SELECT p.id, 0, p.{self.count} FROM {self.parent} p "
            f"WHERE p.id >= %s AND p.id < %s AND p.{self.count} <> 0 "
            f"AND NOT EXISTS (SELECT 1 FROM {self.child} k WHERE k.{self.key} = p.id)"
        )

    def set_counts(self, wrong: list[tuple[int, int, int]]) -> tuple[str, tuple[int, ...]]:
        """One compare-and-set UPDATE of `wrong`'s (id, count, stored count): a count another run
        changed since it was read is left alone. ELT picks a row's values by position, O(1) per
        row (CASE compares a row with every branch; a JSON_TABLE join costs twice as much per row):
        dense ids by their offset, in one range scan; sparse ones by FIELD over at most CHUNK ids.
        The value lists are integers read from the database, written out as literals."""
        first, last = wrong[0][0], wrong[-1][0]
        args: tuple[int, ...]
        if last - first < 2 * len(wrong):
            counts, was = [0] * (last - first + 1), [-1] * (last - first + 1)  # -1: no count is
            for parent, n, stored in wrong:
                counts[parent - first], was[parent - first] = n, stored
            at, where, args = "id - %s + 1", "id BETWEEN %s AND %s", (first, first, last, first)
        else:
            counts, was = [n for _, n, _ in wrong], [stored for _, _, stored in wrong]
            at = f"FIELD(id, {_ints(p for p, _, _ in wrong)})"
            where, args = f"id IN ({_ints(p for p, _, _ in wrong)})", ()
        return (
            f"UPDATE {self.parent} SET {self.count} = ELT({at}, {_ints(counts)}) "
            f"WHERE {where} AND {self.count} = ELT({at}, {_ints(was)})",
            args,
        )


MESSAGES_PER_CHAT = _Counted("chats", "messages_count", "messages", "chat_id")
CHATS_PER_APPLICATION = _Counted("applications", "chats_count", "chats", "application_id")


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

    def refresh_counts(self, step: int = RANGE, workers: int = WORKERS) -> tuple[int, int]:
        """Recounts every chat's messages and every application's chats; returns rows changed.

        Reads take no locks (a writer is never held up); a message written after its range was
        read is marked changed by the writer once committed, so the next incremental run counts it.
        """
        with ThreadPoolExecutor(workers) as pool:  # a connection per thread (MySQL)
            chats, applications = (
                sum(pool.map(functools.partial(self._recount, table, step), self._starts(table, step)))
                for table in (MESSAGES_PER_CHAT, CHATS_PER_APPLICATION)
            )
        return chats, applications

    def _starts(self, table: _Counted, step: int) -> range:
        first, last = self._mysql.one(f"SELECT MIN(id), MAX(id) FROM {table.parent}", ()) or (None, None)
        return range(first or 1, (last or 0) + 1, step)

    def _recount(self, table: _Counted, step: int, start: int) -> int:
        """One range, read and written in one transaction: one commit (a log flush) per range,
        not per chunk (docs/performance.md, "How the full recount works")."""

        def work(cur: Cursor) -> int:
            wrong = _wrong_counts(cur, table, start, start + step)
            return sum(
                cur.execute(*table.set_counts(wrong[i : i + CHUNK])) for i in range(0, len(wrong), CHUNK)
            )

        return self._mysql.retrying(work)

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


def _wrong_counts(cur: Cursor, table: _Counted, start: int, end: int) -> list[tuple[int, int, int]]:
    """(id, count, stored count) of the parents in [start, end) whose stored count is wrong, in
    id order; in a transaction, so that both reads see the same snapshot (and lock nothing)."""
    cur.execute(table.wrong, (start, end))
    rows = json.loads(first(cur) or "[]")
    wrong = [(p, n, was) for p, n, was in rows if p is not None]
    total = next((n for p, n, _ in rows if p is None), 0)
    # The stored sum less what the parents with children should hold and the wrong ones do hold
    # is what parents without children hold: above 0, some of them are wrong (counts are unsigned).
    cur.execute(table.stored_total, (start, end))
    rest = int(first(cur)) - (total - sum(n for _, n, _ in wrong)) - sum(was for _, _, was in wrong)
    if rest > 0:
        cur.execute(table.wrong_without_children, (start, end))
        wrong += [(int(p), 0, int(was)) for p, _, was in cur.fetchall()]
    return sorted(wrong)


def _ints(values: Iterable[int]) -> str:
    return ",".join(map(str, map(int, values)))
