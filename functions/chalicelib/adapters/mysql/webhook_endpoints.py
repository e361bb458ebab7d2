"""MySQL adapter of webhook endpoints: what an application registered, and its signing secrets.

An endpoint is known to its application by its number (1, 2, … per application, the highest + 1);
its id stays inside (the delivery state's key)."""

from ...domain.webhooks import Endpoint, EndpointChange
from .mysql import Cursor, MySQL, Row, utc

COLUMNS = (
    "id", "application_id", "number", "url", "events", "description", "enabled", "secret",
    "previous_secret", "previous_secret_expires_at", "created_at", "failures", "retry_at",
)  # fmt: skip
_COLUMNS = ", ".join(COLUMNS)
# The application's row is locked while its endpoints are counted: two concurrent registrations
# cannot both take the last place.
LOCK_APPLICATION = "SELECT id FROM applications WHERE id = %s FOR UPDATE"
COUNT_ENDPOINTS = "SELECT COUNT(*), COALESCE(MAX(number), 0) FROM webhook_endpoints WHERE application_id = %s"
INSERT_ENDPOINT = (
    "INSERT INTO webhook_endpoints (application_id, number, url, events, description, secret, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, CURRENT_TIMESTAMP(6))"
)
SELECT_ENDPOINT = f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE application_id = %s AND number = %s"
SELECT_ENDPOINTS = f"SELECT {_COLUMNS} FROM webhook_endpoints WHERE application_id = %s ORDER BY number"
UPDATE_ENDPOINT = (
    "UPDATE webhook_endpoints SET url = COALESCE(%s, url), events = COALESCE(%s, events), "
    "description = COALESCE(%s, description), enabled = COALESCE(%s, enabled) "
    "WHERE application_id = %s AND number = %s"
)
DELETE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE application_id = %s AND number = %s"
ROTATE_SECRET = (
    "UPDATE webhook_endpoints SET previous_secret = secret, secret = %s, "
    "previous_secret_expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND) "
    "WHERE application_id = %s AND number = %s"
)


def endpoint_from(row: Row) -> Endpoint:
    return Endpoint(
        id=int(row[0]),
        application_id=int(row[1]),
        number=int(row[2]),
        url=row[3],
        events=tuple(e for e in str(row[4]).split(",") if e),
        description=row[5],
        enabled=bool(row[6]),
        secret=row[7],
        previous_secret=row[8],
        previous_secret_expires_at=utc(row[9]),
        created_at=utc(row[10]),
        failures=int(row[11]),
        retry_at=utc(row[12]),
    )


class WebhookEndpoints:
    def __init__(self, mysql: MySQL):
        self._mysql = mysql

    def insert(
        self,
        application_id: int,
        url: str,
        events: tuple[str, ...],
        description: str,
        secret: str,
        limit: int,
    ) -> Endpoint | None:
        """The new endpoint, or None when the application holds `limit` already."""

        def insert(cur: Cursor) -> Endpoint | None:
            cur.execute(LOCK_APPLICATION, (application_id,))
            cur.execute(COUNT_ENDPOINTS, (application_id,))
            row = cur.fetchone()
            if row is None or int(row[0]) >= limit:
                return None
            number = int(row[1]) + 1
            cur.execute(INSERT_ENDPOINT, (application_id, number, url, ",".join(events), description, secret))
            cur.execute(SELECT_ENDPOINT, (application_id, number))
            row = cur.fetchone()
            assert row is not None, "inserted in this transaction"
            return endpoint_from(row)

        return self._mysql.retrying(insert)

    def get(self, application_id: int, number: int) -> Endpoint | None:
        row = self._mysql.one(SELECT_ENDPOINT, (application_id, number))
        return endpoint_from(row) if row else None

    def of_application(self, application_id: int) -> list[Endpoint]:
        return [endpoint_from(row) for row in self._mysql.all(SELECT_ENDPOINTS, (application_id,))]

    def update(self, application_id: int, number: int, change: EndpointChange) -> Endpoint | None:
        events = ",".join(change.events) if change.events is not None else None
        enabled = int(change.enabled) if change.enabled is not None else None
        with self._mysql.cursor() as cur:
            cur.execute(
                UPDATE_ENDPOINT,
                (change.url, events, change.description, enabled, application_id, number),
            )
        return self.get(application_id, number)

    def delete(self, application_id: int, number: int) -> bool:
        with self._mysql.cursor() as cur:
            return bool(cur.execute(DELETE_ENDPOINT, (application_id, number)))

    def rotate_secret(
        self, application_id: int, number: int, secret: str, grace_seconds: int
    ) -> Endpoint | None:
        with self._mysql.cursor() as cur:
            cur.execute(ROTATE_SECRET, (secret, grace_seconds, application_id, number))
        return self.get(application_id, number)
