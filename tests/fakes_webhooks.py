"""In-memory stand-ins for the webhook ports (ports.py), held to the real adapters'
behaviour by tests/integration/contracts/test_webhook_endpoints.py."""

import dataclasses
import datetime
import json
import math

from chalicelib.domain.changes import Change
from chalicelib.domain.deliveries import Cursor, DeadLetter, Event, LeaseLost, Outcome
from chalicelib.domain.models import Message
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


class Clock:
    """The fakes' and the use case's one clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)  # signatures are checked against real time

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@dataclasses.dataclass
class _Row:
    application_id: int
    delivered_position: int
    attempts: int = 0
    failing_since: datetime.datetime | None = None
    next_attempt_at: datetime.datetime | None = None
    last_error: str = ""
    lease_id: str = ""
    lease_until: datetime.datetime | None = None
    recheck: bool = False


class FakeCursors(fakes.Store, ports.DeliveryCursors):
    def __init__(self, clock: Clock, endpoints: FakeWebhookEndpoints) -> None:
        self.clock, self.endpoints = clock, endpoints
        self.rows: dict[tuple[int, int], _Row] = {}
        self._leases = 0

    def _free(self, row: _Row) -> bool:
        return row.lease_until is None or row.lease_until < self.clock.now

    def _mine(self, cursor: Cursor) -> _Row:
        row = self.rows[(cursor.endpoint_id, cursor.chat_number)]
        if row.lease_id != cursor.lease_id or self._free(row):
            raise LeaseLost("taken")
        return row

    def claim(self, endpoint: Endpoint, chat_number: int, start, lease_seconds: int) -> Cursor | None:
        self._check()
        key = (endpoint.id, chat_number)
        if key not in self.rows:
            self.rows[key] = _Row(endpoint.application_id, start())
        row = self.rows[key]
        if not self._free(row):
            row.recheck = True
            return None
        if row.next_attempt_at is not None and row.next_attempt_at > self.clock.now:
            return None
        self._leases += 1
        row.lease_id, row.recheck = f"lease-{self._leases}", False
        row.lease_until = self.clock.now + datetime.timedelta(seconds=lease_seconds)
        return Cursor(
            endpoint.id,
            chat_number,
            row.delivered_position,
            row.attempts,
            row.failing_since,
            row.lease_id,
            lease_seconds,
        )

    def hold(self, endpoint: Endpoint, chat_number: int, start, until: datetime.datetime) -> None:
        self._check()
        row = self.rows.setdefault((endpoint.id, chat_number), _Row(endpoint.application_id, start()))
        if self._free(row) and row.next_attempt_at is None:
            row.next_attempt_at = until

    def advance(self, cursor: Cursor, position: int) -> Cursor:
        row = self._mine(cursor)
        row.delivered_position, row.attempts, row.failing_since, row.next_attempt_at = position, 0, None, None
        row.lease_until = self.clock.now + datetime.timedelta(seconds=cursor.lease_seconds)
        return dataclasses.replace(cursor, delivered_position=position, attempts=0, failing_since=None)

    def release(self, cursor: Cursor) -> bool:
        row = self._mine(cursor)
        if row.recheck:
            row.recheck = False
            return False
        row.lease_id, row.lease_until, row.next_attempt_at = "", None, None
        return True

    def abandon(self, cursor: Cursor) -> None:
        row = self.rows.get((cursor.endpoint_id, cursor.chat_number))
        if row is not None and row.lease_id == cursor.lease_id:
            row.lease_id, row.lease_until = "", None

    def failed(self, cursor: Cursor, error: str, delay_seconds: float) -> None:
        row = self._mine(cursor)
        row.attempts += 1
        row.failing_since = row.failing_since or self.clock.now
        self.postpone(cursor, delay_seconds)
        row.last_error = error

    def postpone(self, cursor: Cursor, delay_seconds: float) -> None:
        row = self._mine(cursor)
        row.next_attempt_at = self.clock.now + datetime.timedelta(seconds=delay_seconds)
        row.lease_id, row.lease_until, row.recheck = "", None, False

    def due(self, limit: int, endpoint_id: int | None = None) -> list[tuple[int, int]]:
        self._check()
        due = sorted(
            (row.next_attempt_at, row.application_id, key[1])
            for key, row in self.rows.items()
            if row.next_attempt_at is not None
            and row.next_attempt_at <= self.clock.now
            and self._free(row)
            and endpoint_id in (None, key[0])
        )
        return [(a, c) for _, a, c in due[:limit]]

    def endpoint_failed(self, endpoint_id: int, delay_seconds: float) -> None:
        found = self.endpoints.rows[endpoint_id]
        self.endpoints.rows[endpoint_id] = dataclasses.replace(
            found,
            failures=found.failures + 1,
            retry_at=self.clock.now + datetime.timedelta(seconds=delay_seconds),
        )

    def endpoint_recovered(self, endpoint_id: int) -> bool:
        found = self.endpoints.rows[endpoint_id]
        if found.failures == 0:
            return False
        self.endpoints.rows[endpoint_id] = dataclasses.replace(found, failures=0, retry_at=None)
        for (e, _), row in self.rows.items():
            if e == endpoint_id and row.next_attempt_at is not None and row.next_attempt_at > self.clock.now:
                row.next_attempt_at = self.clock.now
        return True


class FakeFeed(fakes.Store, ports.ChangeFeed):
    """Chats' feeds: each message once, at its latest change's position."""

    def __init__(self, clock: Clock, cursors: FakeCursors, endpoints: FakeWebhookEndpoints) -> None:
        self.clock, self.cursors, self.endpoints = clock, cursors, endpoints
        self.entries: dict[tuple[int, int], dict[int, Change]] = {}  # chat -> number -> change
        self.created: dict[tuple[int, int], datetime.datetime] = {}
        self.changed_at: dict[tuple[int, int, int], datetime.datetime] = {}

    def create_chat(self, application_id: int, chat_number: int) -> None:
        self.created[(application_id, chat_number)] = self.clock.now
        self.entries.setdefault((application_id, chat_number), {})

    def change(self, application_id: int, chat_number: int, number: int, kind: str, body: str) -> int:
        chat = self.entries.setdefault((application_id, chat_number), {})
        self.created.setdefault((application_id, chat_number), self.clock.now)
        position = self.last(application_id, chat_number) + 1
        now_ms = int(self.clock.now.timestamp() * 1000)
        before = chat.get(number)
        created_ms = before.message.created_at_ms if before is not None else now_ms
        message = Message(
            number,
            "" if kind == "deleted" else body,
            created_at_ms=created_ms,
            edited_at_ms=now_ms if kind == "edited" else None,
            deleted_at_ms=now_ms if kind == "deleted" else None,
        )
        chat[number] = Change(position, message)
        self.changed_at[(application_id, chat_number, number)] = self.clock.now
        return position

    def last(self, application_id: int, chat_number: int) -> int:
        return max(
            (c.position for c in self.entries.get((application_id, chat_number), {}).values()), default=0
        )

    def changes(self, application_id: int, chat_number: int, since: int, limit: int) -> list[Change]:
        self._check()
        found = sorted(
            (c for c in self.entries.get((application_id, chat_number), {}).values() if c.position > since),
            key=lambda c: c.position,
        )
        return found[:limit]

    def start_position(
        self, application_id: int, chat_number: int, endpoint_created_at: datetime.datetime
    ) -> int:
        if self.created.get((application_id, chat_number), endpoint_created_at) >= endpoint_created_at:
            return -1
        before = [
            c.position
            for number, c in self.entries[(application_id, chat_number)].items()
            if self.changed_at[(application_id, chat_number, number)] < endpoint_created_at
        ]
        return max(before, default=0)

    def created_at(self, application_id: int, chat_number: int) -> datetime.datetime | None:
        return self.created.get((application_id, chat_number))

    def behind(self, window_seconds: int, per_application: int, limit: int) -> list[tuple[int, int]]:
        self._check()
        since = self.clock.now - datetime.timedelta(seconds=window_seconds)
        found: dict[tuple[int, int], datetime.datetime] = {}
        for endpoint in self.endpoints.rows.values():
            if endpoint.enabled and (endpoint.retry_at is None or endpoint.retry_at <= self.clock.now):
                for chat, at in self._behind(endpoint).items():
                    if at >= since:
                        found[chat] = at
        taken: dict[int, int] = {}
        out = []
        for chat, _ in sorted(found.items(), key=lambda item: (item[1], item[0])):
            taken[chat[0]] = taken.get(chat[0], 0) + 1
            if taken[chat[0]] <= per_application:
                out.append(chat)
        return out[:limit]

    def _behind(self, endpoint: Endpoint) -> dict[tuple[int, int], datetime.datetime]:
        """The endpoint's chats behind, with when each last changed."""
        found = {}
        for (app_id, chat), _ in sorted(self.entries.items()):
            if app_id != endpoint.application_id:
                continue
            row = self.cursors.rows.get((endpoint.id, chat))
            since = endpoint.created_at or self.clock.now
            changes = [at for (a, c, _), at in self.changed_at.items() if (a, c) == (app_id, chat)]
            updated = max([self.created[(app_id, chat)], *changes])
            if row is None:
                if self.created[(app_id, chat)] >= since or any(at >= since for at in changes):
                    found[(app_id, chat)] = updated
            elif (
                self.last(app_id, chat) > row.delivered_position
                and self.cursors._free(row)
                and (row.next_attempt_at is None or row.next_attempt_at <= self.clock.now)
            ):
                found[(app_id, chat)] = updated
        return found


class FakeDeadLetters(fakes.Store, ports.DeadLetters):
    def __init__(self, endpoints: FakeWebhookEndpoints, clock: Clock) -> None:
        self.endpoints, self.clock = endpoints, clock
        self.letters: dict[int, tuple[int, DeadLetter]] = {}  # id -> (endpoint id, letter)

    def add(self, endpoint: Endpoint, event: Event, attempts: int, error: str) -> None:
        letter_id = len(self.letters) + 1
        letter = DeadLetter(
            letter_id,
            endpoint.number,
            event.chat_number,
            event.position,
            event.type,
            event.id,
            event.body,
            attempts,
            error,
            self.clock.now,
        )
        self.letters[letter_id] = (endpoint.id, letter)

    def of_application(self, application_id: int, after: int, limit: int) -> list[DeadLetter]:
        mine = [
            letter
            for e, letter in self.letters.values()
            if self.endpoints.rows[e].application_id == application_id and letter.id > after
        ]
        return mine[:limit]

    def request_replay(self, application_id: int, letter_id: int) -> bool:
        found = self.letters.get(letter_id)
        if found is None or self.endpoints.rows[found[0]].application_id != application_id:
            return False
        self.letters[letter_id] = (
            found[0],
            dataclasses.replace(found[1], replay_requested_at=self.clock.now, replayed_at=None),
        )
        return True

    def replays_due(self, limit: int, per_application: int) -> list[tuple[DeadLetter, Endpoint]]:
        asked = sorted(
            ((letter, self.endpoints.rows[e]) for e, letter in self.letters.values()
             if letter.replay_requested_at is not None and letter.replayed_at is None
             and self.endpoints.rows[e].enabled),
            key=lambda pair: (pair[0].replay_requested_at, pair[0].id),
        )  # fmt: skip
        taken: dict[int, int] = {}
        due = []
        for letter, endpoint in asked:
            taken[endpoint.application_id] = taken.get(endpoint.application_id, 0) + 1
            if taken[endpoint.application_id] <= per_application:
                due.append((letter, endpoint))
        return due[:limit]

    def replayed(self, letter_id: int) -> None:
        e, letter = self.letters[letter_id]
        self.letters[letter_id] = (e, dataclasses.replace(letter, replayed_at=self.clock.now))


class FakeSender(ports.WebhookSender):
    """Receivers by URL: refusing (`down`), answering after so many seconds of the clock (`slow`;
    past the sender's timeout or the time given, not at all: `late`), else 200 at once; records
    what each got, and each send's time given (`given`)."""

    TIMEOUT_SECONDS = 5.0  # the real sender's response timeout

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.down: set[str] = set()
        self.slow: dict[str, float] = {}
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.tried: list[tuple[str, dict[str, str], bytes]] = []  # the attempts that failed
        self.attempts = 0
        self.given: list[float | None] = []

    def send(self, url: str, headers: dict[str, str], body: bytes, within: float | None = None) -> Outcome:
        self.attempts += 1
        self.given.append(within)
        if url in self.down:
            self.tried.append((url, headers, body))
            return Outcome(False, "could not connect")
        answers_in = self.slow.get(url, 0.0)
        timeout = self.TIMEOUT_SECONDS if within is None else min(within, self.TIMEOUT_SECONDS)
        if answers_in and self.clock is not None:
            self.clock.advance(min(answers_in, timeout))
        if answers_in >= timeout:
            self.tried.append((url, headers, body))
            return Outcome(False, f"no answer within {timeout:g} s", late=True)
        self.received.append((url, headers, body))
        return Outcome(True)

    def events(self, url: str) -> list[dict]:
        return [json.loads(body) for u, _, body in self.received if u == url]


class FakeWork(ports.WebhookWork):
    """The two lanes' queues: what each was asked, with its delay."""

    def __init__(self) -> None:
        self.requested: list[tuple[tuple[int, int], float]] = []
        self.requested_slow: list[tuple[tuple[int, int], float]] = []

    def request(self, chats, delay_seconds: float = 0, slow: bool = False) -> None:
        (self.requested_slow if slow else self.requested).extend((chat, delay_seconds) for chat in chats)


class FakeLanes(ports.DeliveryLanes):
    """The slow lane's marks, expiring on the fakes' clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.until: dict[int, datetime.datetime] = {}

    def slow(self, application_id: int) -> bool:
        return self.until.get(application_id, self.clock.now) > self.clock.now

    def mark_slow(self, application_id: int, seconds: float) -> None:
        self.until[application_id] = self.clock.now + datetime.timedelta(seconds=max(1, math.ceil(seconds)))


class FakeSlots(ports.DeliverySlots):
    def __init__(self, most: int = 4) -> None:
        self.most = most
        self.taken: dict[int, int] = {}

    def take(self, application_id: int) -> bool:
        if self.taken.get(application_id, 0) >= self.most:
            return False
        self.taken[application_id] = self.taken.get(application_id, 0) + 1
        return True

    def give_back(self, application_id: int) -> None:
        self.taken[application_id] -= 1


@dataclasses.dataclass
class FakeDeliveryDeps:
    clock: Clock
    webhook_endpoints: FakeWebhookEndpoints
    cursors: FakeCursors
    feed: FakeFeed
    dead_letters: FakeDeadLetters
    sender: FakeSender
    work: FakeWork
    lanes: FakeLanes
    slots: FakeSlots = dataclasses.field(default_factory=FakeSlots)
    delivery_rate: object = dataclasses.field(default_factory=lambda: fakes.FakeRateLimits({}))


def delivery_deps() -> FakeDeliveryDeps:
    clock = Clock()
    endpoints = FakeWebhookEndpoints()
    endpoints.now = clock.now
    cursors = FakeCursors(clock, endpoints)
    return FakeDeliveryDeps(
        clock,
        endpoints,
        cursors,
        FakeFeed(clock, cursors, endpoints),
        FakeDeadLetters(endpoints, clock),
        FakeSender(clock),
        FakeWork(),
        FakeLanes(clock),
    )


@dataclasses.dataclass
class FakeWebhookDeps(fakes.FakeDeps):
    webhook_endpoints: FakeWebhookEndpoints = dataclasses.field(default_factory=FakeWebhookEndpoints)
    dead_letters: FakeDeadLetters | None = None


def deps() -> FakeWebhookDeps:
    base = fakes.deps()
    made = FakeWebhookDeps(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
    made.dead_letters = FakeDeadLetters(made.webhook_endpoints, Clock())
    return made
