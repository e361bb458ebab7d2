"""MySQL adapter of webhook dead letters: events whose retries ran out, per application, kept
until the endpoint is removed; a replay asked for is sent by the next sweep."""

from ...domain.deliveries import DeadLetter, Event
from ...domain.webhooks import Endpoint
from .mysql import MySQL, Row, utc
from .webhook_endpoints import COLUMNS, endpoint_from

INSERT_DEAD_LETTER = (
    "INSERT INTO webhook_dead_letters (application_id, endpoint_id, chat_number, position, event_type, "
    "message_id, payload, attempts, last_error) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_LETTER = (
    "d.id, e.number, d.chat_number, d.position, d.event_type, d.message_id, d.payload, d.attempts, "
    "d.last_error, d.failed_at, d.replay_requested_at, d.replayed_at"
)
SELECT_DEAD_LETTERS = (
    f"SELECT {_LETTER} FROM webhook_dead_letters d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
    "WHERE d.application_id = %s AND d.id > %s ORDER BY d.id LIMIT %s"
)
REQUEST_REPLAY = (
    "UPDATE webhook_dead_letters SET replay_requested_at = UTC_TIMESTAMP(6), replayed_at = NULL "
    "WHERE application_id = %s AND id = %s"
)
_ENDPOINT_COLUMNS = ", ".join(f"e.{c}" for c in COLUMNS)
# The replays asked for, oldest first, at most `per_application` of each application: one that
# asks for thousands does not keep another's waiting.
SELECT_REPLAYS_DUE = (
    f"SELECT {_LETTER}, {_ENDPOINT_COLUMNS} FROM ("
    "  SELECT d.id AS letter_id, ROW_NUMBER() OVER ("
    "    PARTITION BY d.application_id ORDER BY d.replay_requested_at, d.id) AS nth "
    "  FROM webhook_dead_letters d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
    "  WHERE d.replay_requested_at IS NOT NULL AND d.replayed_at IS NULL AND e.enabled = 1"
    ") asked JOIN webhook_dead_letters d ON d.id = asked.letter_id "
    "JOIN webhook_endpoints e ON e.id = d.endpoint_id "
    "WHERE asked.nth <= %s ORDER BY d.replay_requested_at, d.id LIMIT %s"
)
REPLAYED = "UPDATE webhook_dead_letters SET replayed_at = UTC_TIMESTAMP(6) WHERE id = %s"
_WIDTH = 12  # columns of _LETTER


def _letter(row: Row) -> DeadLetter:
    payload = row[6].encode() if isinstance(row[6], str) else bytes(row[6])
    failed_at = utc(row[9])
    assert failed_at is not None, "failed_at is NOT NULL"
    return DeadLetter(
        int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4], row[5], payload,
        int(row[7]), row[8] or "", failed_at, utc(row[10]), utc(row[11]),
    )  # fmt: skip


class WebhookDeadLetters:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def add(self, endpoint: Endpoint, event: Event, attempts: int, error: str) -> None:
        args = (
            endpoint.application_id, endpoint.id, event.chat_number, event.position, event.type,
            event.id, event.body.decode(), attempts, error[:255],
        )  # fmt: skip
        with self._mysql.cursor() as cur:
            cur.execute(INSERT_DEAD_LETTER, args)

    def of_application(self, application_id: int, after: int, limit: int) -> list[DeadLetter]:
        return [_letter(row) for row in self._mysql.all(SELECT_DEAD_LETTERS, (application_id, after, limit))]

    def request_replay(self, application_id: int, letter_id: int) -> bool:
        with self._mysql.cursor() as cur:
            return bool(cur.execute(REQUEST_REPLAY, (application_id, letter_id)))

    def replays_due(self, limit: int, per_application: int) -> list[tuple[DeadLetter, Endpoint]]:
        rows = self._mysql.all(SELECT_REPLAYS_DUE, (per_application, limit))
        return [(_letter(row[:_WIDTH]), endpoint_from(row[_WIDTH:])) for row in rows]

    def replayed(self, letter_id: int) -> None:
        with self._mysql.cursor() as cur:
            cur.execute(REPLAYED, (letter_id,))
