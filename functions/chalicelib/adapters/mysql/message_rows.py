"""The writer's messages of a batch, written in one transaction under their chats' row locks, so
each new row takes the next position of its chat's change feed (docs/architecture.md, "The
change feed"): one lock read of the chats, one multi-row INSERT of the messages and one UPDATE
of the chats' feed ends, highest numbers and times; and, for the messages numbered at or below
their chat's highest number (`chats.last_number`, NULL where not known), one read of the rows
already there. Every statement that writes a message row raises that number under the same lock
(changes.py for edits and deletes), so a message above it has no row yet.

Locks are taken in (application_id, number) order, by every writer and by the API's edits,
deletes and read marks (one chat each): concurrent writers wait, never deadlock. A row already
there (a redelivery, or an edit or delete that came first) takes no position and keeps its body:
the creation only fills in its create id, accept instant and author if it lacks them.
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

from ...domain.changes import ChatChanged
from ...domain.models import ChatKey, Clash, NewMessage, clash
from .mysql import Cursor

# Values are written out as literals: integers (from MySQL or a checked event) by format, text by
# the connection's quoting; pymysql's per-value escaping took twice as long (docs/performance.md,
# "The writer before and after").
LOCK_CHATS = (
    "SELECT application_id, number, id, create_id, last_change, last_number FROM chats "
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
# The rows are locked above: one UPDATE moves every chat's feed end and highest number (and last
# message time). A highest number not known is the rows' own, found under the lock.
ADVANCE_CHATS = (
    "UPDATE chats SET last_change = CASE id {} END, last_number = CASE id {} END{} WHERE id IN ({})"
)
HIGHEST = "GREATEST(COALESCE(last_number, (SELECT MAX(number) FROM messages WHERE chat_id = {0:d})), {1:d})"
LAST_MESSAGE_MS = ", last_message_ms = CASE id {} ELSE last_message_ms END"
Key = tuple[int, int]  # (chat id, number)


class LockedChat(NamedTuple):
    id: int
    create_id: str | None
    last_change: int
    last_number: int | None  # no row of the chat is numbered above it (None: not known)

    def may_hold(self, number: int) -> bool:
        """Whether a row numbered `number` may exist already."""
        return self.last_number is None or number <= self.last_number


def lock_chats(cur: Cursor, keys: Sequence[ChatKey]) -> dict[ChatKey, LockedChat]:
    """Locks the chats of `keys` that exist (in the caller's transaction); their rows by key."""
    if not keys:
        return {}
    cur.execute(LOCK_CHATS.format(_pairs(sorted(keys))))
    return {
        (int(app), int(number)): LockedChat(int(chat_id), create_id, int(last), _maybe_int(highest))
        for app, number, chat_id, create_id, last, highest in cur.fetchall()
    }


def write_messages(
    cur: Cursor, messages: Sequence[NewMessage], chats: dict[ChatKey, LockedChat]
) -> tuple[list[Clash], list[ChatChanged]]:
    """Writes `messages` of the locked `chats` (in the caller's transaction); returns the clashes
    and each chat's new last position."""
    last = {chat.id: chat.last_change for chat in chats.values()}
    ordered = sorted(messages, key=lambda m: (chats[m.chat_key].id, m.number))
    stored = _stored(
        cur,
        sorted({(chats[m.chat_key].id, m.number) for m in ordered if chats[m.chat_key].may_hold(m.number)}),
    )

    rows: list[str] = []
    text = cur.connection.escape
    clashes: list[Clash] = []
    newest: dict[int, int] = {}
    highest: dict[int, int] = {}
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
        highest[chat_id] = max(highest.get(chat_id, 0), m.number)
        rows.append(_values(text, chat_id, m, position))
    _insert(cur, INSERT_MESSAGES, rows)
    if not advanced:
        return clashes, []
    ids = sorted(advanced)
    times = " ".join(f"WHEN {c:d} THEN GREATEST(COALESCE(last_message_ms, 0), {newest[c]:d})" for c in newest)
    cur.execute(
        ADVANCE_CHATS.format(
            " ".join(f"WHEN {c:d} THEN {last[c]:d}" for c in ids),
            " ".join(f"WHEN {c:d} THEN {HIGHEST.format(c, highest[c])}" for c in ids),
            LAST_MESSAGE_MS.format(times) if times else "",
            ", ".join(f"{c:d}" for c in ids),
        )
    )
    return clashes, [ChatChanged(*advanced[c], last[c]) for c in ids]


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


def _insert(cur: Cursor, statement: tuple[str, str], rows: list[str]) -> None:
    """One multi-row INSERT of `rows` (VALUES tuples written out), split as pymysql would."""
    prefix, postfix = statement
    room = MAX_STATEMENT_BYTES - len(prefix.encode()) - len(postfix.encode())
    chunk: list[str] = []
    size = 0
    for row in rows:
        length = len(row.encode("utf-8", "surrogateescape")) + 1
        if chunk and size + length > room:
            cur.execute(prefix + ",".join(chunk) + postfix)
            chunk, size = [], 0
        chunk.append(row)
        size += length
    cur.execute(prefix + ",".join(chunk) + postfix)


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
