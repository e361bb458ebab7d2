"""MySQL adapter of the API: applications, chats and messages as the routes read and edit them.

Tokens come in as callers send them and are stored and looked up as their SHA-256 only.
"""

import dataclasses

from ...domain.changes import Feed
from ...domain.models import Application, Chat, CreatedApplication, CreatedMessage, Message
from ...domain.tokens import token_hash
from ...domain.user_tokens import Versions
from . import changes
from .mysql import MySQL
from .rows import CHAT_COLUMNS, MESSAGE_COLUMNS, chat_of, message_of

INSERT_APPLICATION = (
    "INSERT INTO applications (token, name, create_id, create_sealed_token) VALUES (%s, %s, %s, %s)"
)
# The current token, or the one a rotation replaced until its grace ends (UTC on both sides).
SELECT_APPLICATION = (
    "SELECT id, name, chats_count, token_version, token <> %s FROM applications "
    "WHERE token = %s OR (previous_token = %s AND previous_token_expires_at > UTC_TIMESTAMP(6))"
)
SELECT_APPLICATION_BY_CREATE_ID = (
    "SELECT id, name, create_sealed_token FROM applications WHERE create_id = %s"
)
RENAME_APPLICATION = "UPDATE applications SET name = %s WHERE id = %s"
ROTATE_TOKEN = (
    "UPDATE applications SET previous_token = token, token = %s, token_version = token_version + 1, "
    "previous_token_expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND) "
    "WHERE id = %s AND token = %s"
)
# The application a rotation took `token` from, its grace over or not (until revoked or rotated again).
SELECT_APPLICATION_ROTATED_FROM = (
    "SELECT id, name, chats_count, token_version FROM applications WHERE previous_token = %s"
)
# The versions whose keys verify user tokens: the current one, and the previous while its token's
# grace runs (seconds left, on MySQL's clock, as the token lookup measures the grace).
SELECT_TOKEN_VERSIONS = (
    "SELECT token_version, GREATEST(0, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), "
    "previous_token_expires_at)) / 1000000 FROM applications WHERE id = %s"
)
REVOKE_PREVIOUS_TOKEN = (
    "UPDATE applications SET previous_token = NULL, previous_token_expires_at = NULL WHERE id = %s"
)

SELECT_CHAT = f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.application_id = %s AND c.number = %s"
SELECT_CHATS = (
    f"SELECT {CHAT_COLUMNS} FROM chats c WHERE c.application_id = %s AND c.number > %s "
    "ORDER BY c.number LIMIT %s"
)
MAX_CHAT_NUMBER = "SELECT COALESCE(MAX(number), 0) FROM chats WHERE application_id = %s"
SELECT_CHAT_BY_CREATE_ID = "SELECT number FROM chats WHERE application_id = %s AND create_id = %s"
SELECT_MESSAGE_BY_CREATE_ID = (
    "SELECT c.number, m.number, m.body, m.deleted_ms IS NOT NULL "
    "FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.create_id = %s AND c.application_id = %s"
)

_MESSAGES_OF_CHAT = (
    "FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = %s AND c.number = %s"
)
SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} {_MESSAGES_OF_CHAT} AND m.number = %s"
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} {_MESSAGES_OF_CHAT} AND m.number > %s ORDER BY m.number LIMIT %s"
MAX_MESSAGE_NUMBER = f"SELECT COALESCE(MAX(m.number), 0) {_MESSAGES_OF_CHAT}"


class Database:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    # -- applications --------------------------------------------------------------------------

    def insert_application(
        self, token: str, name: str, create_id: str | None = None, sealed_token: str | None = None
    ) -> Application:
        with self._mysql.cursor() as cur:
            cur.execute(INSERT_APPLICATION, (token_hash(token), name, create_id, sealed_token))
            return Application(cur.lastrowid, token, name, 0)

    def application(self, token: str) -> Application | None:
        """The application whose current token this is, or whose previous one in its grace."""
        hashed = token_hash(token)
        row = self._mysql.one(SELECT_APPLICATION, (hashed, hashed, hashed))
        return Application(row[0], token, row[1], row[2], row[3], bool(row[4])) if row else None

    def application_created_by(self, create_id: str) -> CreatedApplication | None:
        row = self._mysql.one(SELECT_APPLICATION_BY_CREATE_ID, (create_id,))
        return CreatedApplication(*row) if row else None

    def rotate_token(self, application_id: int, token: str, new_token: str, grace_seconds: int) -> bool:
        """Makes `new_token` the current one if `token` still is; `token` then works for
        `grace_seconds` more. False if `token` is not the current token (any more)."""
        with self._mysql.cursor() as cur:
            args = (token_hash(new_token), grace_seconds, application_id, token_hash(token))
            return bool(cur.execute(ROTATE_TOKEN, args))

    def application_rotated_from(self, token: str) -> Application | None:
        row = self._mysql.one(SELECT_APPLICATION_ROTATED_FROM, (token_hash(token),))
        return Application(row[0], token, row[1], row[2], row[3], True) if row else None

    def revoke_previous_token(self, application_id: int) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(REVOKE_PREVIOUS_TOKEN, (application_id,))

    def token_versions(self, application_id: int) -> Versions | None:
        row = self._mysql.one(SELECT_TOKEN_VERSIONS, (application_id,))
        return Versions(int(row[0]), float(row[1] or 0)) if row else None

    def chat_created_by(self, application_id: int, create_id: str) -> int | None:
        """The number of the chat that create stored, if MySQL has it."""
        row = self._mysql.one(SELECT_CHAT_BY_CREATE_ID, (application_id, create_id))
        return int(row[0]) if row else None

    def message_created_by(self, application_id: int, create_id: str) -> CreatedMessage | None:
        """The message that create stored, if MySQL has it."""
        row = self._mysql.one(SELECT_MESSAGE_BY_CREATE_ID, (create_id, application_id))
        return CreatedMessage(int(row[0]), int(row[1]), row[2], bool(row[3])) if row else None

    def rename_application(self, app: Application, name: str) -> Application:
        with self._mysql.cursor() as cur:
            cur.execute(RENAME_APPLICATION, (name, app.id))
        return dataclasses.replace(app, name=name)

    # -- chats ---------------------------------------------------------------------------------

    def chat(self, application_id: int, number: int) -> Chat | None:
        row = self._mysql.one(SELECT_CHAT, (application_id, number))
        return chat_of(row) if row else None

    def chats(self, application_id: int, after: int, limit: int) -> list[Chat]:
        return [chat_of(row) for row in self._mysql.all(SELECT_CHATS, (application_id, after, limit))]

    def max_chat_number(self, application_id: int) -> int:
        return self._mysql.count(MAX_CHAT_NUMBER, (application_id,))

    # -- messages ------------------------------------------------------------------------------

    def message(self, application_id: int, chat_number: int, number: int) -> Message | None:
        row = self._mysql.one(SELECT_MESSAGE, (application_id, chat_number, number))
        return message_of(row) if row else None

    def messages(self, application_id: int, chat_number: int, after: int, limit: int) -> list[Message]:
        rows = self._mysql.all(SELECT_MESSAGES, (application_id, chat_number, after, limit))
        return [message_of(row) for row in rows]

    def max_message_number(self, application_id: int, chat_number: int) -> int:
        return self._mysql.count(MAX_MESSAGE_NUMBER, (application_id, chat_number))

    def edit_message(self, application_id: int, chat_number: int, edited: Message) -> int | None:
        """Sets the body, writing the row (and its chat's) if the creation is still queued:
        `edited` is the message as found, with the new body (its time and author for that row).
        Returns the edit's feed position; None if the message was deleted meanwhile."""
        return self._mysql.retrying(lambda cur: changes.edit(cur, application_id, chat_number, edited))

    def delete_message(self, application_id: int, chat_number: int, found: Message, at_ms: int) -> int | None:
        """Leaves `found`'s tombstone (its body gone, here and in recorded clashes); returns its
        feed position, or None if it was deleted already (nothing changes then)."""
        return self._mysql.retrying(
            lambda cur: changes.delete(cur, application_id, chat_number, found, at_ms)
        )

    def changes(self, application_id: int, chat_number: int, since: int, limit: int) -> Feed | None:
        with self._mysql.cursor() as cur:
            return changes.feed(cur, application_id, chat_number, since, limit)
