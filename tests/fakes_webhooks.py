"""In-memory stand-ins for the webhook ports (ports.py), held to the real adapters'
behaviour by tests/integration/contracts/test_webhook_endpoints.py."""

import dataclasses
import datetime

from chalicelib.domain.webhooks import Endpoint, EndpointChange
from chalicelib.usecases import ports
from tests import fakes


class FakeWebhookEndpoints(fakes.Store, ports.WebhookEndpoints):
    def __init__(self) -> None:
        self.rows: dict[int, Endpoint] = {}
        self.now = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)

    def insert(
        self,
        application_id: int,
        url: str,
        events: tuple[str, ...],
        description: str,
        secret: str,
        limit: int,
    ) -> Endpoint | None:
        self._check()
        mine = self.of_application(application_id)
        if len(mine) >= limit:
            return None
        endpoint_id = max(self.rows, default=0) + 1
        number = max((e.number for e in mine), default=0) + 1
        self.rows[endpoint_id] = Endpoint(
            endpoint_id, application_id, number, url, events, description, True, secret, created_at=self.now
        )
        return self.rows[endpoint_id]

    def get(self, application_id: int, number: int) -> Endpoint | None:
        self._check()
        found = [e for e in self.rows.values() if (e.application_id, e.number) == (application_id, number)]
        return found[0] if found else None

    def of_application(self, application_id: int) -> list[Endpoint]:
        self._check()
        return sorted(
            (e for e in self.rows.values() if e.application_id == application_id), key=lambda e: e.number
        )

    def update(self, application_id: int, number: int, change: EndpointChange) -> Endpoint | None:
        found = self.get(application_id, number)
        if found is None:
            return None
        changed = {k: v for k, v in dataclasses.asdict(change).items() if v is not None}
        self.rows[found.id] = dataclasses.replace(found, **changed)
        return self.rows[found.id]

    def delete(self, application_id: int, number: int) -> bool:
        found = self.get(application_id, number)
        if found is None:
            return False
        del self.rows[found.id]
        return True

    def rotate_secret(
        self, application_id: int, number: int, secret: str, grace_seconds: int
    ) -> Endpoint | None:
        found = self.get(application_id, number)
        if found is None:
            return None
        expires = self.now + datetime.timedelta(seconds=grace_seconds)
        self.rows[found.id] = dataclasses.replace(
            found, secret=secret, previous_secret=found.secret, previous_secret_expires_at=expires
        )
        return self.rows[found.id]


@dataclasses.dataclass
class FakeWebhookDeps(fakes.FakeDeps):
    webhook_endpoints: FakeWebhookEndpoints = dataclasses.field(default_factory=FakeWebhookEndpoints)


def deps() -> FakeWebhookDeps:
    base = fakes.deps()
    return FakeWebhookDeps(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
