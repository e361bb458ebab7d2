"""MySQL adapter: users' read positions in chats, and the applications' read-receipts setting.

A position only moves forward. Marking takes the chat row's lock, as a deletion does, so the
count of deleted messages after the new position and the deletions that follow it are one
sequence (domain/reading.py).
"""

from collections.abc import Sequence

from ...domain.models import Author
from ...domain.reading import ReadPosition
from ...domain.times import now_ms
from .mysql import Cursor, MySQL, Row, first, placeholders

# A chat still queued gets its row now (as an edit does): the position needs its id.
INSERT_CHAT = (
    "INSERT INTO chats (application_id, number) VALUES (%s, %s) ON DUPLICATE KEY UPDATE number = number"
)
LOCK_CHAT = "SELECT id FROM chats WHERE application_id = %s AND number = %s FOR UPDATE"
# Deleted messages after a new position, counted when it is marked (a write), never at a read:
# from the tombstones' own table, so the count reads the deletions after it, not the messages.
COUNT_DELETED_AFTER = "SELECT COUNT(*) FROM message_deletions WHERE chat_id = %s AND number > %s"
# Run by a message's deletion, in its transaction, under the chat row's lock.
RECORD_DELETION = (
    "INSERT INTO message_deletions (chat_id, number) VALUES (%s, %s) ON DUPLICATE KEY UPDATE number = number"
)
# Assignments run left to right: `up_to` last, so the others compare with the old one.
UPSERT_POSITION = (
    "INSERT INTO read_positions (chat_id, user_id, user_name, up_to, deleted_after, read_at_ms) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE "
    "deleted_after = IF(VALUES(up_to) > up_to, VALUES(deleted_after), deleted_after), "
    "read_at_ms = IF(VALUES(up_to) > up_to, VALUES(read_at_ms), read_at_ms), "
    "user_name = VALUES(user_name), up_to = GREATEST(up_to, VALUES(up_to))"
)
SELECT_POSITION = (
    "SELECT user_name, up_to, deleted_after, read_at_ms FROM read_positions "
    "WHERE chat_id = %s AND user_id = %s"
)
_OF_CHATS = "FROM read_positions r JOIN chats c ON c.id = r.chat_id WHERE c.application_id = %s"
_COLUMNS = "c.number, r.user_id, r.user_name, r.up_to, r.deleted_after, r.read_at_ms"
SELECT_READERS = (
    f"SELECT {_COLUMNS} {_OF_CHATS} AND c.number = %s ORDER BY r.read_at_ms DESC, r.user_id DESC LIMIT %s"
)
SELECT_READ_RECEIPTS = "SELECT read_receipts FROM applications WHERE id = %s"
UPDATE_READ_RECEIPTS = "UPDATE applications SET read_receipts = %s WHERE id = %s"
# Run by a message's deletion, in its transaction, under the chat row's lock: each reader whose
# position is before the deleted message has one unread message fewer.
COUNT_DELETION = (
    "UPDATE read_positions SET deleted_after = deleted_after + 1 WHERE chat_id = %s AND up_to < %s"
)
# And the chat's own count, for readers with no position yet.
COUNT_CHAT_DELETION = "UPDATE chats SET deleted_count = deleted_count + 1 WHERE id = %s"


def _position(row: Row) -> ReadPosition:
    number, user_id, name, up_to, deleted_after, read_at_ms = row
    return ReadPosition(int(number), Author(user_id, name), int(up_to), int(deleted_after), int(read_at_ms))


class ReadPositions:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def mark_read(self, application_id: int, chat_number: int, user: Author, up_to: int) -> ReadPosition:
        """Moves the user's position forward to `up_to` (never back); the position it holds now."""

        def mark(cur: Cursor) -> ReadPosition:
            cur.execute(INSERT_CHAT, (application_id, chat_number))
            cur.execute(LOCK_CHAT, (application_id, chat_number))
            chat_id = first(cur)
            cur.execute(COUNT_DELETED_AFTER, (chat_id, up_to))
            deleted = first(cur)
            args = (chat_id, user.id, user.name, up_to, deleted, now_ms())
            cur.execute(UPSERT_POSITION, args)
            cur.execute(SELECT_POSITION, (chat_id, user.id))
            row = cur.fetchone()
            assert row is not None
            return _position((chat_number, user.id, *row))

        return self._mysql.retrying(mark)

    def positions(
        self, application_id: int, chat_numbers: Sequence[int], user_id: str
    ) -> dict[int, ReadPosition]:
        if not chat_numbers:
            return {}
        sql = (
            f"SELECT {_COLUMNS} {_OF_CHATS} AND r.user_id = %s "
            f"AND c.number IN ({placeholders(len(chat_numbers), 1)})"
        )
        rows = self._mysql.all(sql, (application_id, user_id, *chat_numbers))
        return {p.chat_number: p for p in map(_position, rows)}

    def readers(self, application_id: int, chat_number: int, limit: int) -> list[ReadPosition]:
        """The chat's readers, the latest to read first."""
        return [
            _position(row) for row in self._mysql.all(SELECT_READERS, (application_id, chat_number, limit))
        ]

    def read_receipts(self, application_id: int) -> bool:
        row = self._mysql.one(SELECT_READ_RECEIPTS, (application_id,))
        return bool(row and row[0])

    def set_read_receipts(self, application_id: int, shown: bool) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(UPDATE_READ_RECEIPTS, (shown, application_id))
