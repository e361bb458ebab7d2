"""How the readers' SELECTs name a chat's and a message's columns, and the records they make.

Rows written before times were stored (NULL `created_ms`) answer their insert time instead.
"""

from typing import Any

from ...domain.models import Author, Chat, Message, NewMessage
from .mysql import Row


def _created(table: str) -> str:
    return f"COALESCE({table}.created_ms, FLOOR(UNIX_TIMESTAMP({table}.created_at) * 1000))"


CHAT_COLUMNS = (
    f"c.number, c.messages_count, {_created('c')}, c.last_message_ms, c.last_change, c.deleted_count"
)
MESSAGE_COLUMNS = f"m.number, m.body, {_created('m')}, m.edited_ms, m.author_id, m.author_name, m.deleted_ms"
# A message as the writer indexes it: its chat's key and version too.
INDEXED_COLUMNS = (
    f"c.application_id, c.number, m.number, m.body, m.version, {_created('m')}, "
    "m.edited_ms, m.author_id, m.author_name, m.deleted_ms"
)


def chat_of(row: Row) -> Chat:
    return Chat(int(row[0]), int(row[1]), _ms(row[2]), _ms(row[3]), int(row[4]), deleted_count=int(row[5]))


def message_of(row: Row) -> Message:
    author = _author(row[4], row[5])
    return Message(int(row[0]), row[1], _ms(row[2]), _ms(row[3]), author, deleted_at_ms=_ms(row[6]))


def indexed_of(row: Row) -> NewMessage:
    return NewMessage(
        int(row[0]),
        int(row[1]),
        int(row[2]),
        row[3],
        int(row[4]),
        created_at_ms=_ms(row[5]),
        edited_at_ms=_ms(row[6]),
        author=_author(row[7], row[8]),
        deleted_at_ms=_ms(row[9]),
    )


def _ms(value: Any) -> int | None:
    return None if value is None else int(value)  # a Decimal from FLOOR()


def _author(author_id: str | None, name: str | None) -> Author | None:
    return None if author_id is None else Author(author_id, name or "")
