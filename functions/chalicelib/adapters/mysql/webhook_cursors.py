"""MySQL adapter of webhook delivery state: per (endpoint, chat) the position delivered, the
next retry and the lease of the one worker sending it; per endpoint, its backoff while failing.

Times are UTC_TIMESTAMP(6) on the database's clock, so workers' clocks never disagree on a lease.
"""

import datetime
import uuid
from collections.abc import Callable

from ...domain.deliveries import Cursor, LeaseLost
from ...domain.webhooks import Endpoint
from .mysql import MySQL, utc

_PAIR = "endpoint_id = %s AND chat_number = %s"
_FREE = "(lease_until IS NULL OR lease_until < UTC_TIMESTAMP(6))"
_MINE = f"{_PAIR} AND lease_id = %s"

SELECT_CURSOR = f"SELECT delivered_position, attempts, failing_since FROM webhook_cursors WHERE {_PAIR}"
INSERT_CURSOR = (
    "INSERT IGNORE INTO webhook_cursors (endpoint_id, chat_number, application_id, delivered_position) "
    "VALUES (%s, %s, %s, %s)"
)
CLAIM = (
    "UPDATE webhook_cursors SET lease_id = %s, "
    "lease_until = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND), recheck = 0 "
    f"WHERE {_PAIR} AND {_FREE} AND (next_attempt_at IS NULL OR next_attempt_at <= UTC_TIMESTAMP(6))"
)
# A worker that finds the pair held tells the holder to read the feed once more before it lets go.
ASK_RECHECK = f"UPDATE webhook_cursors SET recheck = 1 WHERE {_PAIR} AND NOT {_FREE}"
ADVANCE = (
    "UPDATE webhook_cursors SET delivered_position = %s, attempts = 0, failing_since = NULL, "
    "next_attempt_at = NULL, last_error = NULL, "
    f"lease_until = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND) WHERE {_MINE}"
)
# Let go with nothing left to send: nothing is due either.
RELEASE = (
    "UPDATE webhook_cursors SET lease_id = NULL, lease_until = NULL, next_attempt_at = NULL "
    f"WHERE {_MINE} AND recheck = 0"
)
CLEAR_RECHECK = f"UPDATE webhook_cursors SET recheck = 0 WHERE {_MINE}"
FAILED = (
    "UPDATE webhook_cursors SET attempts = attempts + 1, "
    "failing_since = COALESCE(failing_since, UTC_TIMESTAMP(6)), "
    "next_attempt_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND), last_error = %s, "
    f"lease_id = NULL, lease_until = NULL, recheck = 0 WHERE {_MINE}"
)
POSTPONE = (
    "UPDATE webhook_cursors SET next_attempt_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND), "
    f"lease_id = NULL, lease_until = NULL, recheck = 0 WHERE {_MINE}"
)
_DUE = f"next_attempt_at <= UTC_TIMESTAMP(6) AND {_FREE} ORDER BY next_attempt_at LIMIT %s"
SELECT_DUE = f"SELECT application_id, chat_number FROM webhook_cursors WHERE {_DUE}"
SELECT_DUE_FOR = f"SELECT application_id, chat_number FROM webhook_cursors WHERE endpoint_id = %s AND {_DUE}"
# A chat announced while its endpoint backs off waits for the endpoint's next probe, in MySQL:
# the sweep hands it out when due, however long the receiver was down.
HOLD = f"UPDATE webhook_cursors SET next_attempt_at = COALESCE(next_attempt_at, %s) WHERE {_PAIR} AND {_FREE}"
ENDPOINT_FAILED = (
    "UPDATE webhook_endpoints SET failures = failures + 1, "
    "retry_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s MICROSECOND) WHERE id = %s"
)
ENDPOINT_RECOVERED = (
    "UPDATE webhook_endpoints SET failures = 0, retry_at = NULL WHERE id = %s AND failures > 0"
)
# Chats that waited for the endpoint's probe are due at once when it succeeds.
CURSORS_DUE_NOW = (
    "UPDATE webhook_cursors SET next_attempt_at = UTC_TIMESTAMP(6) "
    "WHERE endpoint_id = %s AND next_attempt_at > UTC_TIMESTAMP(6)"
)


def _micros(seconds: float) -> int:
    return max(int(seconds * 1_000_000), 0)


class DeliveryCursors:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def claim(
        self, endpoint: Endpoint, chat_number: int, start: Callable[[], int], lease_seconds: int
    ) -> Cursor | None:
        """The pair's cursor under a new lease; None while another worker holds it (which is then
        asked to look again) or its retry is not due. A pair first seen starts at `start()`."""
        pair = self._made(endpoint, chat_number, start)
        lease = uuid.uuid4().hex
        for _ in range(3):
            with self._mysql.cursor() as cur:
                if cur.execute(CLAIM, (lease, lease_seconds, *pair)):
                    cur.execute(SELECT_CURSOR, pair)
                    row = cur.fetchone()
                    assert row is not None, "claimed just now"
                    return Cursor(
                        endpoint.id, chat_number, int(row[0]), int(row[1]), utc(row[2]), lease, lease_seconds
                    )
                if cur.execute(ASK_RECHECK, pair):
                    return None
                cur.execute(SELECT_CURSOR, pair)
                if (row := cur.fetchone()) is not None and int(row[1]) > 0:
                    return None  # not held: its retry is not due yet
            # Let go between the two statements: try again.
        return None

    def hold(
        self, endpoint: Endpoint, chat_number: int, start: Callable[[], int], until: datetime.datetime
    ) -> None:
        """Makes the pair due at `until` (its endpoint's next probe) unless something is due
        sooner; a pair held by a worker is left to it."""
        pair = self._made(endpoint, chat_number, start)
        with self._mysql.cursor() as cur:
            cur.execute(HOLD, (until.astimezone(datetime.UTC).replace(tzinfo=None), *pair))

    def _made(self, endpoint: Endpoint, chat_number: int, start: Callable[[], int]) -> tuple[int, int]:
        pair = (endpoint.id, chat_number)
        if self._mysql.one(SELECT_CURSOR, pair) is None:
            with self._mysql.cursor() as cur:
                cur.execute(INSERT_CURSOR, (*pair, endpoint.application_id, start()))
        return pair

    def advance(self, cursor: Cursor, position: int) -> Cursor:
        with self._mysql.cursor() as cur:
            if not cur.execute(ADVANCE, (position, cursor.lease_seconds, *self._mine(cursor))):
                raise LeaseLost(f"endpoint {cursor.endpoint_id} chat {cursor.chat_number}")
        return Cursor(
            cursor.endpoint_id, cursor.chat_number, position, 0, None, cursor.lease_id, cursor.lease_seconds
        )

    def release(self, cursor: Cursor) -> bool:
        """Lets the pair go; False (still held) if another worker asked for a recheck meanwhile."""
        with self._mysql.cursor() as cur:
            if cur.execute(RELEASE, self._mine(cursor)):
                return True
            if not cur.execute(CLEAR_RECHECK, self._mine(cursor)):
                raise LeaseLost(f"endpoint {cursor.endpoint_id} chat {cursor.chat_number}")
            return False

    def abandon(self, cursor: Cursor) -> None:
        """Lets the pair go on the way out of a failure (best effort: the lease runs out anyway)."""
        try:
            with self._mysql.cursor() as cur:
                cur.execute(
                    f"UPDATE webhook_cursors SET lease_id = NULL, lease_until = NULL WHERE {_MINE}",
                    self._mine(cursor),
                )
        except Exception:
            pass

    def failed(self, cursor: Cursor, error: str, delay_seconds: float) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(FAILED, (_micros(delay_seconds), error[:255], *self._mine(cursor)))

    def postpone(self, cursor: Cursor, delay_seconds: float) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(POSTPONE, (_micros(delay_seconds), *self._mine(cursor)))

    def due(self, limit: int, endpoint_id: int | None = None) -> list[tuple[int, int]]:
        """Chats whose retry is due and no worker holds, soonest first (of one endpoint, if named)."""
        if endpoint_id is None:
            rows = self._mysql.all(SELECT_DUE, (limit,))
        else:
            rows = self._mysql.all(SELECT_DUE_FOR, (endpoint_id, limit))
        return [(int(a), int(c)) for a, c in rows]

    def endpoint_failed(self, endpoint_id: int, delay_seconds: float) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(ENDPOINT_FAILED, (_micros(delay_seconds), endpoint_id))

    def endpoint_recovered(self, endpoint_id: int) -> bool:
        """True if the endpoint was failing (its chats' retries are then due at once)."""
        with self._mysql.cursor() as cur:
            if not cur.execute(ENDPOINT_RECOVERED, (endpoint_id,)):
                return False
            cur.execute(CURSORS_DUE_NOW, (endpoint_id,))
            return True

    @staticmethod
    def _mine(cursor: Cursor) -> tuple[int, int, str]:
        return (cursor.endpoint_id, cursor.chat_number, cursor.lease_id)
