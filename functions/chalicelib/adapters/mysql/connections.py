"""MySQL adapter of live delivery: open sockets, the chats each follows, who follows a chat.

A connection opened with an application token keeps the token's SHA-256, one opened with a user
token the token version whose key signed it; every read compares either with the application's
current token and version (or the ones a rotation replaced, within its grace), so a revoked
token's sockets are found out at the next change or frame, as its HTTP calls are. A row ends
(`expires_at`) with AWS's socket lifetime, or sooner with the user token it opened with.
"""

import json
from collections.abc import Sequence

from ...domain.live import Connection, NewConnection, Subscribers
from .mysql import Cursor, MySQL, placeholders

# Whether the connection's credential no longer opens its application (0/1; NULL never): an
# application token neither the current nor the previous within its grace, or a user token whose
# key version is neither (`+ 1`, not `- 1`: the columns are unsigned).
_IN_GRACE = "a.previous_token_expires_at > UTC_TIMESTAMP(6)"
_REVOKED = (
    "((c.token_hash IS NOT NULL AND c.token_hash <> a.token AND NOT COALESCE("
    f"c.token_hash = a.previous_token AND {_IN_GRACE}, FALSE)) "
    "OR (c.token_version IS NOT NULL AND c.token_version <> a.token_version AND NOT COALESCE("
    f"c.token_version + 1 = a.token_version AND {_IN_GRACE}, FALSE)))"
)
_LIVE = "c.expires_at > UTC_TIMESTAMP(6)"

COUNT_OPEN = (
    "SELECT COUNT(*) FROM socket_connections WHERE application_id = %s AND expires_at > UTC_TIMESTAMP(6)"
)
# Rows past their lifetime are certainly gone (AWS closes every socket by then): a few go each time.
DELETE_EXPIRED = (
    "DELETE FROM socket_connections WHERE application_id = %s AND expires_at <= UTC_TIMESTAMP(6) LIMIT 100"
)
INSERT_CONNECTION = (
    "INSERT INTO socket_connections "
    "(connection_id, application_id, token_hash, token_version, chats, expires_at) "
    "VALUES (%s, %s, %s, %s, %s, DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND))"
)
SELECT_CONNECTION = (
    f"SELECT c.application_id, c.chats, {_REVOKED} FROM socket_connections c "
    f"JOIN applications a ON a.id = c.application_id WHERE c.connection_id = %s AND {_LIVE}"
)
LOCK_CONNECTION = "SELECT application_id FROM socket_connections WHERE connection_id = %s FOR UPDATE"
COUNT_SUBSCRIPTIONS = "SELECT COUNT(*) FROM socket_subscriptions WHERE connection_id = %s"
INSERT_SUBSCRIPTION = (
    "INSERT INTO socket_subscriptions (connection_id, application_id, chat_number) VALUES (%s, %s, %s) "
    "ON DUPLICATE KEY UPDATE chat_number = chat_number"
)
SELECT_SUBSCRIBED = "SELECT 1 FROM socket_subscriptions WHERE connection_id = %s AND chat_number = %s"
DELETE_SUBSCRIPTION = "DELETE FROM socket_subscriptions WHERE connection_id = %s AND chat_number = %s"
DELETE_CONNECTIONS = "DELETE FROM socket_connections WHERE connection_id IN ({})"
# A row past its end (its user token expired, or AWS's lifetime passed) counts as revoked: the
# push closes it rather than sending to it, and forgets it.
SELECT_SUBSCRIBERS = (
    f"SELECT s.connection_id, {_REVOKED} OR NOT {_LIVE} FROM socket_subscriptions s "
    "JOIN socket_connections c ON c.connection_id = s.connection_id "
    "JOIN applications a ON a.id = c.application_id "
    "WHERE s.application_id = %s AND s.chat_number = %s"
)


class Connections:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def open(self, connection: NewConnection, lifetime_seconds: int, most_per_application: int) -> bool:
        """Records the connection, unless its application holds `most_per_application` already
        (a limit two connects at the same instant may overstep by one each)."""
        chats = None if connection.chats is None else json.dumps(sorted(connection.chats))

        def work(cur: Cursor) -> bool:
            cur.execute(DELETE_EXPIRED, (connection.application_id,))
            cur.execute(COUNT_OPEN, (connection.application_id,))
            row = cur.fetchone()
            if row is not None and int(row[0]) >= most_per_application:
                return False
            cur.execute(
                INSERT_CONNECTION,
                (
                    connection.connection_id,
                    connection.application_id,
                    connection.token_hash,
                    connection.token_version,
                    chats,
                    lifetime_seconds,
                ),
            )
            return True

        return self._mysql.retrying(work)

    def connection(self, connection_id: str) -> Connection | None:
        row = self._mysql.one(SELECT_CONNECTION, (connection_id,))
        if row is None:
            return None
        chats = None if row[1] is None else frozenset(int(n) for n in json.loads(row[1]))
        return Connection(connection_id, int(row[0]), chats, bool(row[2]))

    def subscribe(self, connection_id: str, chat_number: int, most: int) -> bool:
        """Follows the chat, unless the connection follows `most` others or is gone."""

        def work(cur: Cursor) -> bool:
            cur.execute(LOCK_CONNECTION, (connection_id,))  # one subscribe of a socket at a time
            row = cur.fetchone()
            if row is None:
                return False
            cur.execute(SELECT_SUBSCRIBED, (connection_id, chat_number))
            if cur.fetchone() is not None:
                return True
            cur.execute(COUNT_SUBSCRIPTIONS, (connection_id,))
            counted = cur.fetchone()
            if counted is not None and int(counted[0]) >= most:
                return False
            cur.execute(INSERT_SUBSCRIPTION, (connection_id, int(row[0]), chat_number))
            return True

        return self._mysql.retrying(work)

    def unsubscribe(self, connection_id: str, chat_number: int) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(DELETE_SUBSCRIPTION, (connection_id, chat_number))

    def close(self, connection_ids: Sequence[str]) -> None:
        """Forgets the connections and their subscriptions (ON DELETE CASCADE)."""
        ids = list(dict.fromkeys(connection_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            with self._mysql.cursor() as cur:
                cur.execute(DELETE_CONNECTIONS.format(placeholders(len(chunk), 1)), tuple(chunk))

    def subscribers(self, application_id: int, chat_number: int) -> Subscribers:
        live: list[str] = []
        revoked: list[str] = []
        for connection_id, is_revoked in self._mysql.all(SELECT_SUBSCRIBERS, (application_id, chat_number)):
            (revoked if is_revoked else live).append(connection_id)
        return Subscribers(live, revoked)
