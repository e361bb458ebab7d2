"""The writer's messages of a batch, written in one transaction under their chats' row locks, so
each new row takes the next position of its chat's change feed (docs/architecture.md, "The
change feed"): one lock read of the chats (sent with the transaction's BEGIN), then one
multi-row INSERT of the messages and one UPDATE of the chats' feed ends, highest numbers and
times (sent with its COMMIT): two round trips. And, for the messages numbered at or below
their chat's highest number (`chats.last_number`; read from the rows, once, where a chat has
not kept one), one read of the rows already there. Every statement that writes a message row
raises that number under the same lock (changes.py for edits and deletes), so a message above
it has no row yet.

Locks are taken in (application_id, number) order, by every writer and by the API's edits,
deletes and read marks (one chat each): concurrent writers wait, never deadlock. A row already
there (a redelivery, or an edit or delete that came first) takes no position and keeps its body:
the creation only fills in its create id, accept instant and author if it lacks them.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

from ...domain.changes import ChatChanged
from ...domain.models import ChatKey, Clash, NewMessage, clash
from .mysql import BEGIN, Cursor, together

# Values are written out as literals: integers (from MySQL or a checked event) by format, text by
# the connection's quoting; pymysql's per-value escaping took twice as long (docs/performance.md,
# "The writer before and after").
LOCK_CHATS = (
    "SELECT application_id, number, id, create_id, last_change, last_number, last_message_ms FROM chats "
    "WHERE (application_id, number) IN ({}) ORDER BY application_id, number FOR UPDATE"
)
STORED = "SELECT chat_id, number, create_id FROM messages WHERE (chat_id, number) IN ({})"
INSERT_MESSAGES = (
    "INSERT INTO messages (chat_id, number, body, version, create_id, created_ms, author_id, "
    "author_name, change_position) VALUES ",
    " ON DUPLICATE KEY UPDATE created_ms = COALESCE(created_ms, VALUES(created_ms)), "
    "author_name = IF(author_id IS NULL, VALUES(author_name), author_name), "
    "author_id = COALESCE(author_id, VALUES(author_id)), "
    "create_id = COALESCE(create_id, VALUES(create_id))",
)
MAX_STATEMENT_BYTES = 1_024_000  # as pymysql's executemany: big bodies take several statements
# The highest number of the chats that have not kept one yet, read under their locks.
HIGHEST_STORED = "SELECT chat_id, MAX(number) FROM messages WHERE chat_id IN ({}) GROUP BY chat_id"
# The rows are locked above: one UPDATE sets every chat's feed end, highest number and last
# message time, each a value worked out here (expressions per chat cost MariaDB 4-10x as much).
ADVANCE_CHATS = (
    "UPDATE chats SET last_change = ELT({at}, {}), last_number = ELT({at}, {}), "
    "last_message_ms = ELT({at}, {}) WHERE id IN ({ids})"
)
Key = tuple[int, int]  # (chat id, number)


class LockedChat(NamedTuple):
    id: int
    create_id: str | None
    last_change: int
    last_number: int | None  # no row of the chat is numbered above it (None: not known)
    last_message_ms: int | None


def lock_chats(cur: Cursor, keys: Sequence[ChatKey]) -> dict[ChatKey, LockedChat]:
    """Opens the transaction and locks the chats of `keys` that exist; their rows by key."""
    if not keys:
        return {}
    together(cur, BEGIN, LOCK_CHATS.format(_pairs(sorted(keys))))
    return {
        (int(app), int(number)): LockedChat(
            int(chat_id), create_id, int(last), _maybe_int(top), _maybe_int(ms)
        )
        for app, number, chat_id, create_id, last, top, ms in cur.fetchall()
    }


class Planned(NamedTuple):
    clashes: list[Clash]
    changes: list[ChatChanged]  # each chat that moved: its positions before and after
    statements: list[str]  # what writes the rows, for the caller to send (with its COMMIT)


def write_messages(cur: Cursor, messages: Sequence[NewMessage], chats: dict[ChatKey, LockedChat]) -> Planned:
    """The statements that write `messages` of the locked `chats` (read in the caller's
    transaction where rows may be there already), their clashes and the chats' moves."""
    by_id = {chat.id: chat for chat in chats.values()}
    last = {chat.id: chat.last_change for chat in chats.values()}
    before = dict(last)
    ordered = sorted(messages, key=lambda m: (chats[m.chat_key].id, m.number))
    top = _highest(cur, {chats[m.chat_key].id for m in messages}, by_id)
    stored = _stored(
        cur,
        sorted({(chats[m.chat_key].id, m.number) for m in ordered if m.number <= top[chats[m.chat_key].id]}),
    )

    rows: list[str] = []
    text = cur.connection.escape
    clashes: list[Clash] = []
    newest: dict[int, int] = {}
    advanced: dict[int, ChatKey] = {}
    for m in ordered:
        chat_id = chats[m.chat_key].id
        key, position = (chat_id, m.number), None
        if key in stored:
            found = clash(m, stored[key])
            if found is not None:
                clashes.append(found)
            if stored[key] is None:
                stored[key] = m.create_id  # the insert adopts the row
        else:
            stored[key] = m.create_id
            position = last[chat_id] = last[chat_id] + 1
            advanced[chat_id] = m.chat_key
            if m.created_at_ms is not None:
                newest[chat_id] = max(newest.get(chat_id, 0), m.created_at_ms)
        top[chat_id] = max(top[chat_id], m.number)
        rows.append(_values(text, chat_id, m, position))
    statements = _inserts(INSERT_MESSAGES, rows)
    if not advanced:
        return Planned(clashes, [], statements)
    ids = sorted(advanced)
    times = [_latest(by_id[c].last_message_ms, newest.get(c)) for c in ids]
    statements.append(
        ADVANCE_CHATS.format(
            ", ".join(f"{last[c]:d}" for c in ids),
            ", ".join(f"{top[c]:d}" for c in ids),
            ", ".join(_int(t) for t in times),
            at=f"FIELD(id, {', '.join(f'{c:d}' for c in ids)})",
            ids=", ".join(f"{c:d}" for c in ids),
        )
    )
    return Planned(clashes, [ChatChanged(*advanced[c], last[c], before[c]) for c in ids], statements)


def _highest(cur: Cursor, ids: set[int], chats: dict[int, LockedChat]) -> dict[int, int]:
    """{chat id: no row of it is numbered above this}: kept in the chat row, else read (locked)."""
    top = {c: chats[c].last_number for c in ids}
    unknown = sorted(c for c, n in top.items() if n is None)
    if unknown:
        cur.execute(HIGHEST_STORED.format(", ".join(f"{c:d}" for c in unknown)))
        found = {int(c): int(n) for c, n in cur.fetchall()}
        top.update({c: found.get(c, 0) for c in unknown})
    return {c: n or 0 for c, n in top.items()}


def _latest(stored_ms: int | None, batch_ms: int | None) -> int | None:
    return batch_ms if stored_ms is None else stored_ms if batch_ms is None else max(stored_ms, batch_ms)


def _stored(cur: Cursor, keys: list[Key]) -> dict[Key, str | None]:
    """{(chat id, number): create id} of the rows of `keys` already there."""
    if not keys:
        return {}
    cur.execute(STORED.format(_pairs(keys)))
    return {(int(c), int(n)): create_id for c, n, create_id in cur.fetchall()}


def _maybe_int(value: int | None) -> int | None:
    return None if value is None else int(value)


def _pairs(pairs: Sequence[tuple[int, int]]) -> str:
    """`(1, 2), (3, 4)`: an IN list of integer pairs, written out."""
    return ", ".join(f"({a:d}, {b:d})" for a, b in pairs)


def _inserts(statement: tuple[str, str], rows: list[str]) -> list[str]:
    """Multi-row INSERTs of `rows` (VALUES tuples written out), split as pymysql would."""
    prefix, postfix = statement
    room = MAX_STATEMENT_BYTES - len(prefix.encode()) - len(postfix.encode())
    out: list[str] = []
    chunk: list[str] = []
    size = 0
    for row in rows:
        length = len(row.encode("utf-8", "surrogateescape")) + 1
        if chunk and size + length > room:
            out.append(prefix + ",".join(chunk) + postfix)
            chunk, size = [], 0
        chunk.append(row)
        size += length
    out.append(prefix + ",".join(chunk) + postfix)
    return out


def _values(text: Callable[[str], str], chat_id: int, m: NewMessage, position: int | None) -> str:
    who = "NULL,NULL" if m.author is None else f"{text(m.author.id)},{text(m.author.name)}"
    return (
        f"({chat_id:d},{m.number:d},{text(m.body)},{m.version:d},{_text(text, m.create_id)},"
        f"{_int(m.created_at_ms)},{who},{_int(position)})"
    )


def _text(text: Callable[[str], str], value: str | None) -> str:
    return "NULL" if value is None else text(value)


def _int(value: int | None) -> str:
    return "NULL" if value is None else f"{value:d}"
