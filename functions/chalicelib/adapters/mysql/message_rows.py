"""The writer's messages of a batch, written in one transaction under their chats' row locks, so
each new row takes the next position of its chat's change feed (docs/architecture.md, "The
change feed"): one lock read, one read of the rows already there, one multi-row INSERT of the
messages and one multi-row upsert of the chats' counters.

Locks are taken in chat id order, and rows written in (chat id, number) order, by every writer and
by the API's edits and deletes (one chat each): concurrent writers wait, never deadlock. A row
already there (a redelivery, or an edit or delete that came first) takes no position and keeps
its body: the creation only fills in its create id, accept instant and author if it lacks them.
"""

from collections.abc import Sequence

from ...domain.changes import ChatChanged
from ...domain.models import ChatKey, Clash, NewMessage, clash
from .mysql import Cursor, placeholders

LOCK_CHATS = "SELECT id, last_change FROM chats WHERE id IN ({}) ORDER BY id FOR UPDATE"
STORED = "SELECT chat_id, number, create_id FROM messages WHERE (chat_id, number) IN ({})"
INSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, number, body, version, create_id, created_ms, author_id, "
    "author_name, change_position) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE created_ms = COALESCE(created_ms, VALUES(created_ms)), "
    "author_name = IF(author_id IS NULL, VALUES(author_name), author_name), "
    "author_id = COALESCE(author_id, VALUES(author_id)), "
    "create_id = COALESCE(create_id, VALUES(create_id))"
)
# The rows exist (locked above): a multi-row upsert sets every chat's counters in one statement.
ADVANCE_CHATS = (
    "INSERT INTO chats (id, application_id, number, last_change, last_message_ms) "
    "VALUES (%s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE last_change = VALUES(last_change), "
    "last_message_ms = COALESCE(GREATEST(last_message_ms, VALUES(last_message_ms)), "
    "last_message_ms, VALUES(last_message_ms))"
)
Key = tuple[int, int]  # (chat id, number)


def write_messages(
    cur: Cursor, messages: Sequence[NewMessage], chat_ids: dict[ChatKey, int]
) -> tuple[list[Clash], list[ChatChanged]]:
    """Writes `messages` (in the caller's transaction); returns the clashes and, for each chat
    that moved, its positions before and after."""
    ids = sorted({chat_ids[m.chat_key] for m in messages})
    cur.execute(LOCK_CHATS.format(placeholders(len(ids), 1)), ids)
    last = {int(chat_id): int(position) for chat_id, position in cur.fetchall()}
    before = dict(last)
    ordered = sorted(messages, key=lambda m: (chat_ids[m.chat_key], m.number))
    keys = sorted({(chat_ids[m.chat_key], m.number) for m in ordered})
    cur.execute(STORED.format(placeholders(len(keys), 2)), [v for key in keys for v in key])
    stored: dict[Key, str | None] = {(int(c), int(n)): create_id for c, n, create_id in cur.fetchall()}

    rows: list[tuple[object, ...]] = []
    clashes: list[Clash] = []
    newest: dict[int, int] = {}
    advanced: set[int] = set()
    for m in ordered:
        chat_id = chat_ids[m.chat_key]
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
            advanced.add(chat_id)
            if m.created_at_ms is not None:
                newest[chat_id] = max(newest.get(chat_id, 0), m.created_at_ms)
        rows.append(_row(chat_id, m, position))
    cur.executemany(INSERT_MESSAGE, rows)
    if not advanced:
        return clashes, []
    chat_keys = {chat_id: key for key, chat_id in chat_ids.items()}
    cur.executemany(
        ADVANCE_CHATS,
        [(c, *chat_keys[c], last[c], newest.get(c)) for c in sorted(advanced)],
    )
    return clashes, [ChatChanged(*chat_keys[c], last[c], before[c]) for c in sorted(advanced)]


def _row(chat_id: int, m: NewMessage, position: int | None) -> tuple[object, ...]:
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
        position,
    )
