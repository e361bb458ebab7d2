"""The API's side of the change feed (MySQL): edits and deletes take their chat's next position
under the chat row's lock, in the transaction that writes them; the feed reads what changed.

The writer takes the same locks (message_rows.py): a position a reader can see means every
smaller one is committed, so a client reading after its last position never skips one.
"""

from ...domain.changes import Change, Feed
from ...domain.models import Message
from .mysql import Cursor
from .read_positions import COUNT_CHAT_DELETION, COUNT_DELETION, RECORD_DELETION
from .rows import MESSAGE_COLUMNS, message_of

# The no-op update keeps an edit of a queued chat's message (and a redelivery) from failing.
INSERT_CHAT = (
    "INSERT INTO chats (application_id, number) VALUES (%s, %s) ON DUPLICATE KEY UPDATE number = number"
)
LOCK_CHAT = "SELECT id, last_change FROM chats WHERE application_id = %s AND number = %s FOR UPDATE"
DELETED = "SELECT deleted_ms FROM messages WHERE chat_id = %s AND number = %s"
# The row written may be ahead of the writer: the chat's highest number goes up to it (if known).
ADVANCE_CHAT = "UPDATE chats SET last_change = %s, last_number = GREATEST(last_number, %s) WHERE id = %s"
# An edit of a message still in the queue writes the row itself, as version 2, with the time
# and author its pending record holds: the creation, version 1, then finds it there and leaves
# its body alone.
UPSERT_EDIT = (
    "INSERT INTO messages (chat_id, number, body, version, edited_ms, created_ms, author_id, "
    "author_name, change_position) VALUES (%s, %s, %s, 2, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE body = VALUES(body), version = version + 1, "
    "edited_ms = VALUES(edited_ms), change_position = VALUES(change_position)"
)
# A delete leaves a tombstone: the number, times and author stay, the body goes. Written before
# the creation reaches the writer, it is the row the creation then finds (and leaves alone).
UPSERT_TOMBSTONE = (
    "INSERT INTO messages (chat_id, number, body, version, deleted_ms, created_ms, author_id, "
    "author_name, change_position) VALUES (%s, %s, '', 2, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE body = '', version = version + 1, "
    "deleted_ms = VALUES(deleted_ms), change_position = VALUES(change_position)"
)
# A clashing create recorded with the deleted message's number kept a body too.
FORGET_CONFLICT_BODIES = (
    "UPDATE create_conflicts SET body = NULL "
    "WHERE kind = 'message' AND application_id = %s AND chat_number = %s AND number = %s"
)
SELECT_CHAT_FEED = "SELECT id, last_change FROM chats WHERE application_id = %s AND number = %s"
SELECT_CHANGES = (
    f"SELECT m.change_position, {MESSAGE_COLUMNS} FROM messages m "
    "WHERE m.chat_id = %s AND m.change_position > %s ORDER BY m.change_position LIMIT %s"
)


def _locked(cur: Cursor, application_id: int, chat_number: int, number: int) -> tuple[int, int, bool]:
    """Locks the chat (written first if still queued): its id, its next position, and whether
    the message is deleted."""
    cur.execute(INSERT_CHAT, (application_id, chat_number))
    cur.execute(LOCK_CHAT, (application_id, chat_number))
    locked = cur.fetchone()
    assert locked is not None, "the statement before wrote the row"
    chat_id, last = locked
    cur.execute(DELETED, (chat_id, number))
    row = cur.fetchone()
    return int(chat_id), int(last) + 1, row is not None and row[0] is not None


def edit(cur: Cursor, application_id: int, chat_number: int, edited: Message) -> int | None:
    """Writes the edit at the chat's next position (returned); None if the message is deleted."""
    author = edited.author
    values = (
        edited.body,
        edited.edited_at_ms,
        edited.created_at_ms,
        author and author.id,
        author and author.name,
    )
    written = _at_next_position(cur, application_id, chat_number, edited.number, UPSERT_EDIT, values)
    return None if written is None else written[1]


def delete(cur: Cursor, application_id: int, chat_number: int, found: Message, at_ms: int) -> int | None:
    """Leaves the tombstone at the chat's next position (returned); None if it already was."""
    author = found.author
    values = (at_ms, found.created_at_ms, author and author.id, author and author.name)
    written = _at_next_position(cur, application_id, chat_number, found.number, UPSERT_TOMBSTONE, values)
    if written is None:
        return None
    chat_id, position = written
    cur.execute(FORGET_CONFLICT_BODIES, (application_id, chat_number, found.number))
    cur.execute(RECORD_DELETION, (chat_id, found.number))  # what a later mark counts
    cur.execute(COUNT_DELETION, (chat_id, found.number))  # one unread fewer for readers before it
    cur.execute(COUNT_CHAT_DELETION, (chat_id,))  # and for those who never marked the chat
    return position


def _at_next_position(
    cur: Cursor,
    application_id: int,
    chat_number: int,
    number: int,
    statement: str,
    values: tuple[object, ...],
) -> tuple[int, int] | None:
    """Runs `statement` (the message's upsert: chat id, number, `values`, position) at the chat's
    next position and moves the chat there; (chat id, position), or None if it is deleted."""
    chat_id, position, deleted = _locked(cur, application_id, chat_number, number)
    if deleted:
        return None
    cur.execute(statement, (chat_id, number, *values, position))
    cur.execute(ADVANCE_CHAT, (position, number, chat_id))
    return chat_id, position


def feed(cur: Cursor, application_id: int, chat_number: int, since: int, limit: int) -> Feed | None:
    """The changes after `since`, oldest first; None if MySQL has no such chat (yet)."""
    cur.execute(SELECT_CHAT_FEED, (application_id, chat_number))
    row = cur.fetchone()
    if row is None:
        return None
    chat_id, last = int(row[0]), int(row[1])
    cur.execute(SELECT_CHANGES, (chat_id, since, limit))
    return Feed([Change(int(r[0]), message_of(r[1:])) for r in cur.fetchall()], last)
