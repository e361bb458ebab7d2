"""In-memory stand-ins for the ports (chalicelib/usecases/ports.py), for fast tests of the use cases.

One fake per port, subclassing it, so mypy checks each fake's methods against its port; the fakes
of one store's ports share its state (Tables, Numbering, SearchIndex) as the adapters share the
store. They promise only what the real adapters do: tests/integration/contracts/ runs one suite
per port against both, so a fake cannot drift. Each store can be switched `down` (every call then
raises Unavailable, as the adapters do when their service is unreachable).
"""

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chalicelib.domain.changes import Change, ChatChanged, Feed, Written
from chalicelib.domain.errors import NotQueued, Refused, Unavailable
from chalicelib.domain.live import Connection, Delivery, NewConnection, SocketLimits, Subscribers
from chalicelib.domain.models import (
    Application,
    Author,
    Chat,
    ChatKey,
    CreatedApplication,
    CreatedMessage,
    IdleCounter,
    Login,
    Message,
    MessageKey,
    NewChat,
    NewMessage,
    SearchAfter,
    SearchPage,
    clash,
)
from chalicelib.domain.numbering import EpochState, Floors
from chalicelib.domain.quotas import Decision, Quota
from chalicelib.domain.reading import ReadPosition
from chalicelib.domain.request_keys import (
    Claim,
    Done,
    Mismatch,
    New,
    OverBudget,
    RecordLoss,
    Replay,
    RequestKey,
    Reserved,
    Running,
    Unsure,
)
from chalicelib.domain.tokens import token_hash
from chalicelib.domain.user_tokens import Versions
from chalicelib.usecases import ports, writer
from chalicelib.usecases.ports import Failures, RateLimits


class Store:
    down = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable(f"{type(self).__name__} is down")


@dataclasses.dataclass
class Tables:
    """MySQL's rows, shared by the fakes of its four adapters."""

    applications: dict[str, Application] = dataclasses.field(default_factory=dict)
    chats: dict[ChatKey, int] = dataclasses.field(default_factory=dict)  # -> messages_count
    messages: dict[MessageKey, NewMessage] = dataclasses.field(default_factory=dict)
    # -> (created_at_ms, last_message_at_ms) of a chat row that has them
    chat_times: dict[ChatKey, tuple[int | None, int | None]] = dataclasses.field(default_factory=dict)
    # The change feed: each chat's last position, each message's latest change's position.
    last_change: dict[ChatKey, int] = dataclasses.field(default_factory=dict)
    positions: dict[MessageKey, int] = dataclasses.field(default_factory=dict)
    # Read positions by (application id, chat number, user id): a deletion counts in them.
    read_held: dict[tuple[int, int, str], ReadPosition] = dataclasses.field(default_factory=dict)
    chat_create_ids: dict[ChatKey, str | None] = dataclasses.field(default_factory=dict)
    application_create_ids: dict[str, str] = dataclasses.field(default_factory=dict)  # -> token hash
    sealed_tokens: dict[str, str | None] = dataclasses.field(default_factory=dict)  # create id ->
    # A rotated token's hash -> (the current token's hash, when its grace ends on `now`).
    previous_tokens: dict[str, tuple[str, int]] = dataclasses.field(default_factory=dict)
    now: int = 0  # seconds, the clock a grace period is measured on
    down: bool = False

    def check(self) -> None:
        if self.down:
            raise Unavailable("the database is unavailable")

    def application_ids(self) -> set[int]:
        return {a.id for a in self.applications.values()}

    def advance(self, key: MessageKey) -> int:
        """Gives the message its chat's next feed position."""
        chat = (key[0], key[1])
        position = self.positions[key] = self.last_change[chat] = self.last_change.get(chat, 0) + 1
        return position


class FakeDatabase(ports.Database):
    """Applications are kept by their token's hash (as `Application.token`), as MySQL keeps them."""

    def __init__(self, tables: Tables):
        self.tables = tables

    def insert_application(
        self, token: str, name: str, create_id: str | None = None, sealed_token: str | None = None
    ) -> Application:
        self.tables.check()
        hashed = token_hash(token)
        if hashed in self.tables.applications or create_id in self.tables.application_create_ids:
            raise Refused("the database refused the data")
        app = Application(len(self.tables.applications) + 1, hashed, name, 0)
        self.tables.applications[hashed] = app
        if create_id is not None:
            self.tables.application_create_ids[create_id] = hashed
            self.tables.sealed_tokens[create_id] = sealed_token
        return dataclasses.replace(app, token=token)

    def application(self, token: str) -> Application | None:
        self.tables.check()
        hashed = token_hash(token)
        app, previous = self.tables.applications.get(hashed), False
        if app is None and hashed in self.tables.previous_tokens:
            current, until = self.tables.previous_tokens[hashed]
            app, previous = (
                (self.tables.applications[current], True) if until > self.tables.now else (None, False)
            )
        return None if app is None else dataclasses.replace(app, token=token, previous=previous)

    def application_created_by(self, create_id: str) -> CreatedApplication | None:
        self.tables.check()
        hashed = self.tables.application_create_ids.get(create_id)
        if hashed is None:
            return None
        app = self.tables.applications[hashed]
        return CreatedApplication(app.id, app.name, self.tables.sealed_tokens[create_id])

    def rotate_token(self, application_id: int, token: str, new_token: str, grace_seconds: int) -> bool:
        self.tables.check()
        app = self.tables.applications.get(token_hash(token))
        if app is None or app.id != application_id:
            return False
        new = dataclasses.replace(app, token=token_hash(new_token), token_version=app.token_version + 1)
        del self.tables.applications[app.token]
        self.tables.applications[new.token] = new
        self.tables.previous_tokens = {
            h: v for h, v in self.tables.previous_tokens.items() if v[0] != app.token
        }  # one previous token an application
        self.tables.previous_tokens[app.token] = (new.token, self.tables.now + grace_seconds)
        for create_id, hashed in self.tables.application_create_ids.items():
            if hashed == app.token:
                self.tables.application_create_ids[create_id] = new.token
        return True

    def application_rotated_from(self, token: str) -> Application | None:
        self.tables.check()
        current = self.tables.previous_tokens.get(token_hash(token))
        app = None if current is None else self.tables.applications[current[0]]
        return None if app is None else dataclasses.replace(app, token=token, previous=True)

    def revoke_previous_token(self, application_id: int) -> None:
        self.tables.check()
        self.tables.previous_tokens = {
            h: v
            for h, v in self.tables.previous_tokens.items()
            if self.tables.applications[v[0]].id != application_id
        }

    def token_versions(self, application_id: int) -> Versions | None:
        self.tables.check()
        app = next((a for a in self.tables.applications.values() if a.id == application_id), None)
        if app is None:
            return None
        grace = [until for current, until in self.tables.previous_tokens.values() if current == app.token]
        return Versions(app.token_version, float(max(0, grace[0] - self.tables.now)) if grace else 0.0)

    def chat_created_by(self, application_id: int, create_id: str) -> int | None:
        self.tables.check()
        found = [
            n for (a, n), c in self.tables.chat_create_ids.items() if a == application_id and c == create_id
        ]
        return found[0] if found else None

    def message_created_by(self, application_id: int, create_id: str) -> CreatedMessage | None:
        self.tables.check()
        for (a, c, n), m in self.tables.messages.items():
            if a == application_id and m.create_id == create_id:
                return CreatedMessage(c, n, m.body, m.deleted_at_ms is not None)
        return None

    def rename_application(self, app: Application, name: str) -> Application:
        self.tables.check()
        [hashed] = [h for h, a in self.tables.applications.items() if a.id == app.id]
        self.tables.applications[hashed] = dataclasses.replace(self.tables.applications[hashed], name=name)
        return dataclasses.replace(app, name=name)

    def chat(self, application_id: int, number: int) -> Chat | None:
        self.tables.check()
        return self._chat((application_id, number))

    def _chat(self, key: ChatKey) -> Chat | None:
        count = self.tables.chats.get(key)
        if count is None:
            return None
        times = self.tables.chat_times.get(key, (None, None))
        deleted = sum(
            1 for k, m in self.tables.messages.items() if k[:2] == key and m.deleted_at_ms is not None
        )
        return Chat(key[1], count, *times, self.tables.last_change.get(key, 0), deleted_count=deleted)

    def chats(self, application_id: int, after: int, limit: int) -> list[Chat]:
        self.tables.check()
        numbers = sorted(n for a, n in self.tables.chats if a == application_id and n > after)
        return [c for n in numbers[:limit] if (c := self._chat((application_id, n))) is not None]

    def max_chat_number(self, application_id: int) -> int:
        self.tables.check()
        return max((n for a, n in self.tables.chats if a == application_id), default=0)

    def message(self, application_id: int, chat_number: int, number: int) -> Message | None:
        self.tables.check()
        row = self.tables.messages.get((application_id, chat_number, number))
        return None if row is None else row.message()

    def messages(self, application_id: int, chat_number: int, after: int, limit: int) -> list[Message]:
        self.tables.check()
        keys = sorted(
            k for k in self.tables.messages if k[:2] == (application_id, chat_number) and k[2] > after
        )
        return [self.tables.messages[k].message() for k in keys[:limit]]

    def max_message_number(self, application_id: int, chat_number: int) -> int:
        self.tables.check()
        keys = [k for k in self.tables.messages if k[:2] == (application_id, chat_number)]
        return max((k[2] for k in keys), default=0)

    def edit_message(self, application_id: int, chat_number: int, edited: Message) -> int | None:
        return self._change(application_id, chat_number, edited, edited.body, edited.edited_at_ms, None)

    def delete_message(self, application_id: int, chat_number: int, found: Message, at_ms: int) -> int | None:
        return self._change(application_id, chat_number, found, "", found.edited_at_ms, at_ms)

    def _change(
        self,
        application_id: int,
        chat_number: int,
        found: Message,
        body: str,
        edited_at_ms: int | None,
        deleted_at_ms: int | None,
    ) -> int | None:
        """A change at the chat's next position; None (and nothing changed) if it is deleted."""
        self.tables.check()
        self.tables.chats.setdefault((application_id, chat_number), 0)
        key = (application_id, chat_number, found.number)
        stored = self.tables.messages.get(key)
        if stored is None:  # still queued: the row takes the time and author it was found with
            stored = NewMessage(*key, "", 1, None, found.created_at_ms, found.author)
        elif stored.deleted_at_ms is not None:
            return None
        self.tables.messages[key] = dataclasses.replace(
            stored,
            body=body,
            version=stored.version + 1,
            edited_at_ms=edited_at_ms,
            deleted_at_ms=deleted_at_ms,
        )
        if deleted_at_ms is not None:  # one unread fewer for each reader before it
            for k, p in self.tables.read_held.items():
                if k[:2] == key[:2] and p.up_to < found.number:
                    self.tables.read_held[k] = dataclasses.replace(p, deleted_after=p.deleted_after + 1)
        return self.tables.advance(key)

    def changes(self, application_id: int, chat_number: int, since: int, limit: int) -> Feed | None:
        self.tables.check()
        chat = (application_id, chat_number)
        if chat not in self.tables.chats:
            return None
        found = sorted((p, k) for k, p in self.tables.positions.items() if k[:2] == chat and p > since)
        changes = [Change(p, self.tables.messages[k].message()) for p, k in found[:limit]]
        return Feed(changes, self.tables.last_change.get(chat, 0))


class FakeReadPositions(ports.ReadPositions):
    """Read positions by (application id, chat number, user id), on MySQL's shared tables (a
    position needs its chat's row, as the foreign key does)."""

    def __init__(self, tables: Tables):
        self.tables = tables
        self.held = tables.read_held
        self.shown: set[int] = set()
        self.clock_ms = 0

    def mark_read(self, application_id: int, chat_number: int, user: Author, up_to: int) -> ReadPosition:
        self.tables.check()
        self.tables.chats.setdefault((application_id, chat_number), 0)
        key, self.clock_ms = (application_id, chat_number, user.id), self.clock_ms + 1
        held = self.held.get(key)
        if held is None or up_to > held.up_to:
            deleted = sum(
                1
                for (a, c, n), m in self.tables.messages.items()
                if (a, c) == (application_id, chat_number) and n > up_to and m.deleted_at_ms is not None
            )
            held = ReadPosition(chat_number, user, up_to, deleted, self.clock_ms)
        self.held[key] = dataclasses.replace(held, user=user)
        return self.held[key]

    def positions_of(self, application_id: int, chat_number: int) -> list[ReadPosition]:
        return [p for (a, c, _), p in self.held.items() if (a, c) == (application_id, chat_number)]

    def positions(
        self, application_id: int, chat_numbers: Sequence[int], user_id: str
    ) -> dict[int, ReadPosition]:
        self.tables.check()
        found = (self.held.get((application_id, n, user_id)) for n in chat_numbers)
        return {p.chat_number: p for p in found if p is not None}

    def readers(self, application_id: int, chat_number: int, limit: int) -> list[ReadPosition]:
        self.tables.check()
        held = self.positions_of(application_id, chat_number)
        ordered = sorted(held, key=lambda p: (p.read_at_ms or 0, p.user.id), reverse=True)
        return ordered[:limit]

    def read_receipts(self, application_id: int) -> bool:
        self.tables.check()
        return application_id in self.shown

    def set_read_receipts(self, application_id: int, shown: bool) -> None:
        self.tables.check()
        (self.shown.add if shown else self.shown.discard)(application_id)


class FakeBatches(ports.Batches):
    def __init__(self, tables: Tables):
        self.tables = tables

    def persist(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> Written:
        self.tables.check()
        known = self.tables.application_ids()
        if any(c.application_id not in known for c in chats) or any(
            m.application_id not in known for m in messages
        ):
            raise Refused("the database refused the data")  # the foreign key, as MySQL's
        clashes = []
        for key in {(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages}:
            self.tables.chats.setdefault(key, 0)
        for c in chats:
            key = (c.application_id, c.number)
            created, last = self.tables.chat_times.get(key, (None, None))
            self.tables.chat_times[key] = (created or c.created_at_ms, last)
            stored = self.tables.chat_create_ids.get(key)
            if stored is None:
                self.tables.chat_create_ids[key] = c.create_id  # adopts a row written without one
            elif (found := clash(c, stored)) is not None:
                clashes.append(found)
        moved: dict[ChatKey, int] = {}
        before: dict[ChatKey, int] = {}
        for m in sorted(messages, key=lambda m: m.key):
            new = m.key not in self.tables.messages
            if new:
                before.setdefault(m.chat_key, self.tables.last_change.get(m.chat_key, 0))
                moved[m.chat_key] = self.tables.advance(m.key)
            stored_message = self.tables.messages.setdefault(m.key, m)  # a replay changes nothing
            # An edit's row written first takes the creation's time and author if it lacks them.
            self.tables.messages[m.key] = stored_message = dataclasses.replace(
                stored_message,
                created_at_ms=stored_message.created_at_ms or m.created_at_ms,
                author=stored_message.author or m.author,
            )
            if stored_message.create_id is None and m.create_id:
                self.tables.messages[m.key] = dataclasses.replace(stored_message, create_id=m.create_id)
            elif (found := clash(m, stored_message.create_id)) is not None:
                clashes.append(found)
            created, last = self.tables.chat_times.get(m.chat_key, (None, None))
            if m.created_at_ms is not None and new:
                self.tables.chat_times[m.chat_key] = (created, max(last or 0, m.created_at_ms))
        return Written(
            clashes, [ChatChanged(*chat, position, before[chat]) for chat, position in sorted(moved.items())]
        )

    def current_messages(self, keys: Sequence[MessageKey]) -> list[NewMessage]:
        self.tables.check()
        return [self.tables.messages[k] for k in keys if k in self.tables.messages]


class FakeCounts(ports.Counts):
    def __init__(self, tables: Tables):
        self.tables = tables

    def refresh_chat_counts(self, chats: Iterable[ChatKey]) -> int:
        self.tables.check()
        return sum(self._recount_chat(key) for key in set(chats) if key in self.tables.chats)

    def refresh_application_counts(self, applications: Iterable[int]) -> int:
        self.tables.check()
        wanted = set(applications)
        return sum(
            self._recount_application(a) for a in list(self.tables.applications.values()) if a.id in wanted
        )

    def refresh_counts(self) -> tuple[int, int]:
        self.tables.check()
        chats = sum(self._recount_chat(key) for key in list(self.tables.chats))
        apps = sum(self._recount_application(a) for a in list(self.tables.applications.values()))
        return chats, apps

    def highest_message_numbers(self, chats: Iterable[ChatKey]) -> dict[ChatKey, int]:
        self.tables.check()
        return {
            key: max((k[2] for k in self.tables.messages if k[:2] == key), default=0)
            for key in set(chats)
            if key in self.tables.chats
        }

    def highest_chat_numbers(self, applications: Iterable[int]) -> dict[int, int]:
        self.tables.check()
        wanted = set(applications)
        found: dict[int, int] = {}
        for a, number in self.tables.chats:
            if a in wanted:
                found[a] = max(found.get(a, 0), number)
        return found

    def _recount_chat(self, key: ChatKey) -> int:
        count = sum(1 for k in self.tables.messages if k[:2] == key)
        changed = self.tables.chats[key] != count
        self.tables.chats[key] = count
        return int(changed)

    def _recount_application(self, app: Application) -> int:
        count = sum(1 for a, _ in self.tables.chats if a == app.id)
        self.tables.applications[app.token] = dataclasses.replace(app, chats_count=count)
        return int(app.chats_count != count)


class FakeSchema(ports.Schema):
    def __init__(self, tables: Tables):
        self.tables, self.applied = tables, False
        self.granted: Login | None = None

    def migrate(self) -> list[str]:
        self.tables.check()
        first = not self.applied
        self.applied = True
        return ["all"] if first else []

    def grant_api_user(self, login: Login) -> None:
        self.tables.check()
        self.granted = login


class Numbering:
    """Redis' numbering state, shared by the fakes of its five ports (FakeReservations,
    FakePendingBodies, FakeChangeMarks, FakeIdleCounters, FakeEpoch), as the five adapters share
    one Redis: one `restart()` empties it all, as a restart would, and `down` fails them all."""

    down = False

    def __init__(self) -> None:
        self.restart()
        self.epoch: str | None = "test"

    def restart(self) -> None:
        self.epoch = None
        self.counters: dict[tuple[int, ...], int] = {}
        self.pending: dict[MessageKey, Message] = {}
        self.changed_chats: set[ChatKey] = set()
        self.changed_applications: set[int] = set()
        self.counted_epoch: str | None = None
        self.floors: dict[tuple[int, ...], int] = {}
        self.dead_lettered: dict[tuple[int, int, str], int] = {}  # the last reopening's, by create id
        self.reopening = False
        # Seconds since numbering was found closed (the real one measures it on Redis' clock).
        self.uptime = 0
        # Seconds on the counters' clock, and when each counter was last touched (OBJECT IDLETIME).
        self.clock = 0
        self.touched: dict[tuple[int, ...], int] = {}
        self.sweep_at = 0

    def check(self, numbering_open: bool = False) -> None:
        if self.down:
            raise Unavailable("Redis is down")
        if numbering_open and self.epoch is None:
            raise Unavailable("numbering is recovering after a cache restart; retry shortly")

    def state_of(self, key: tuple[int, ...]) -> str:
        return f"{self.epoch}:{self.counters.get(key)}:{self.floors.get(key)}"


class _OnNumbering:
    def __init__(self, numbering: Numbering) -> None:
        self.numbering = numbering


class FakeReservations(_OnNumbering, ports.Reservations):
    def reserve_chat_number(self, application_id: int, seed: Callable[[], int]) -> int:
        return self._next((application_id,), seed)

    def reserve_message_number(
        self,
        application_id: int,
        chat_number: int,
        body: str,
        seed: Callable[[], int],
        created_at_ms: int | None = None,
        author: Author | None = None,
    ) -> int:
        number = self._next((application_id, chat_number), seed)
        self.numbering.pending[(application_id, chat_number, number)] = Message(
            number, body, created_at_ms, None, author
        )
        return number

    def _next(self, key: tuple[int, ...], seed: Callable[[], int]) -> int:
        n = self.numbering
        n.check(numbering_open=True)
        if key not in n.counters:
            n.counters[key] = max(seed(), n.floors.get(key, 0))
        n.counters[key] += 1
        n.touched[key] = n.clock
        return n.counters[key]

    def chats_reserved(self, application_id: int) -> int | None:
        return self._reserved((application_id,))

    def messages_reserved(self, application_id: int, chat_number: int) -> int | None:
        return self._reserved((application_id, chat_number))

    def _reserved(self, key: tuple[int, ...]) -> int | None:
        n = self.numbering
        n.check(numbering_open=True)
        counted = n.counters.get(key, n.floors.get(key))
        if counted is not None:
            n.touched[key] = n.clock
        return counted


class FakePendingBodies(_OnNumbering, ports.PendingBodies):
    def pending_message(self, application_id: int, chat_number: int, number: int) -> Message | None:
        self.numbering.check()
        return self.numbering.pending.get((application_id, chat_number, number))

    def forget_pending(self, messages: Sequence[NewMessage]) -> None:
        self.numbering.check()
        for m in messages:
            self.numbering.pending.pop(m.key, None)

    def keep_pending(self, message: NewMessage) -> None:
        self.numbering.check()
        m = message
        self.numbering.pending[m.key] = Message(m.number, m.body, m.created_at_ms, None, m.author)


class FakeChangeMarks(_OnNumbering, ports.ChangeMarks):
    def record_persisted(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> None:
        n = self.numbering
        FakePendingBodies(n).forget_pending(messages)  # the bodies MySQL now holds, as the adapter does
        n.changed_chats |= {m.chat_key for m in messages}
        n.changed_applications |= {c.application_id for c in chats} | {m.application_id for m in messages}

    def pop_changed_chats(self, count: int) -> list[ChatKey]:
        self.numbering.check()
        changed = self.numbering.changed_chats
        return [changed.pop() for _ in range(min(count, len(changed)))]

    def pop_changed_applications(self, count: int) -> list[int]:
        self.numbering.check()
        changed = self.numbering.changed_applications
        return [changed.pop() for _ in range(min(count, len(changed)))]

    def restore_changes(self, chats: Iterable[ChatKey], applications: Iterable[int]) -> None:
        self.numbering.check()
        self.numbering.changed_chats |= set(chats)
        self.numbering.changed_applications |= set(applications)

    def changes_complete(self) -> bool:
        n = self.numbering
        n.check()
        return n.epoch is not None and n.epoch == n.counted_epoch

    def start_full_recount(self) -> None:
        n = self.numbering
        n.check()
        n.changed_chats, n.changed_applications = set(), set()
        if n.epoch is not None:
            n.counted_epoch = n.epoch


class FakeEpoch(_OnNumbering, ports.NumberingEpoch):
    def epoch_state(self) -> EpochState:
        self.numbering.check()
        return EpochState(self.numbering.epoch is not None, self.numbering.uptime)

    def begin_reopening(self, seconds: int) -> str | None:
        self.numbering.check()
        if self.numbering.reopening:
            return None
        self.numbering.reopening = True
        return "token"

    def end_reopening(self, token: str) -> None:
        self.numbering.reopening = False

    def open_epoch(self, epoch_id: str, floors: Floors | None = None) -> bool:
        n = self.numbering
        n.check()
        if n.epoch is not None:
            return False
        n.epoch = epoch_id
        n.counters = {}  # counters of an older epoch are never trusted
        floors = floors or Floors()
        n.floors = {(a,): count for a, count in floors.chats.items()}
        n.floors.update(floors.messages.items())
        n.dead_lettered = dict(floors.creates)
        n.touched = dict.fromkeys(n.floors, n.clock)
        return True

    def dead_lettered(self, application_id: int, chat_number: int, create_id: str) -> int | None:
        self.numbering.check()
        return self.numbering.dead_lettered.get((application_id, chat_number, create_id))


class FakeIdleCounters(_OnNumbering, ports.IdleCounters):
    def idle_counters(self, cursor: int, count: int, idle_seconds: int) -> tuple[int, list[IdleCounter]]:
        n = self.numbering
        n.check()
        # A cursor is a place in the keys' order, so that keys deleted meanwhile skip none (SCAN's
        # promise: every key present throughout a pass is returned).
        ahead = sorted(k for k in n.counters.keys() | n.floors.keys() if _place(k) >= cursor)
        step = ahead[:count]
        idle = [key for key in step if n.clock - n.touched.get(key, n.clock) >= idle_seconds]
        for key in idle:
            n.touched[key] = n.clock  # reading a counter touches it, as in Redis
        return (_place(ahead[count]) if len(ahead) > count else 0), [self._idle(key) for key in idle]

    def _idle(self, key: tuple[int, ...]) -> IdleCounter:
        n = self.numbering
        highest = max(n.counters.get(key, 0), n.floors.get(key, 0))
        return IdleCounter(key[0], key[1] if len(key) > 1 else None, highest, n.state_of(key))

    def drop_counters(self, counters: Sequence[IdleCounter]) -> int | None:
        n = self.numbering
        n.check()
        if n.epoch is None:
            return None
        dropped = 0
        for c in counters:
            key = (c.application_id,) if c.chat_number is None else (c.application_id, c.chat_number)
            if (key in n.counters or key in n.floors) and n.state_of(key) == c.state:
                n.counters.pop(key, None)
                n.floors.pop(key, None)
                n.touched.pop(key, None)
                dropped += 1
        return dropped

    def sweep_cursor(self) -> int:
        self.numbering.check()
        return self.numbering.sweep_at

    def save_sweep_cursor(self, cursor: int) -> None:
        self.numbering.check()
        self.numbering.sweep_at = cursor


def _place(scope: tuple[int, ...]) -> int:
    """A counter's place in the fake's SCAN order: the application's chat counter, then its chats."""
    return scope[0] * 2**32 + (scope[1] + 1 if len(scope) > 1 else 0)


class FakeTokens(Store, ports.Tokens):
    """Application ids by token hash; entries never expire here (the real ones do, in seconds)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def application_id(self, token: str) -> int | None:
        return None if self.down else self.ids.get(token_hash(token))

    def remember(self, token: str, application_id: int) -> None:
        if not self.down:
            self.ids[token_hash(token)] = application_id

    def forget(self, token: str) -> None:
        if not self.down:
            self.ids.pop(token_hash(token), None)


class FakeQueue(Store, ports.Queue):
    """`down`: SQS does not answer, nothing is queued (the adapter cannot tell it from a lost
    answer: Unavailable). `refusing`: SQS answers an error, nothing is queued (NotQueued).
    `answers_lost`: that many sends queue their event and lose the answer (Unavailable)."""

    refusing = False
    answers_lost = 0

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.dead: list[str] = []

    def send(self, body: str, deadline: float | None = None) -> None:
        self._check()
        if self.refusing:
            raise NotQueued("the creation queue refused the event")
        self.sent.append(body)
        if self.answers_lost:
            self.answers_lost -= 1
            raise Unavailable("the creation queue did not answer in time")

    def dead_letters(self) -> list[str]:
        self._check()
        return list(self.dead)

    def depth(self) -> int:
        self._check()
        return len(self.sent)


class SearchIndex:
    """The messages index, shared by the fakes of Elasticsearch's three ports (FakeIndexer,
    FakeFinder, FakeIndexSchema): documents by key with external versions (an older or equal
    version never overwrites); `down` fails them all."""

    down = False

    def __init__(self) -> None:
        self.docs: dict[MessageKey, NewMessage] = {}


class FakeIndexer(ports.Indexer):
    def __init__(self, index: SearchIndex, refuse: Iterable[MessageKey] = ()) -> None:
        self.search_index, self.refuse = index, set(refuse)

    def bulk_deadline(self) -> float:
        return float("inf")  # the fake takes no time

    def index(self, messages: Sequence[NewMessage], deadline: float | None = None) -> Failures:
        if self.search_index.down:
            return {m.key: "search unavailable" for m in messages}
        failed: Failures = {}
        docs = self.search_index.docs
        for m in messages:
            if m.key in self.refuse:
                failed[m.key] = "refused"
            elif m.key not in docs or m.version > docs[m.key].version:
                docs[m.key] = m
        return failed

    def unindex_creations(self, keys: Sequence[MessageKey]) -> Failures:
        if self.search_index.down:
            return {key: "search unavailable" for key in keys}
        docs = self.search_index.docs
        for key in keys:
            if key in docs and docs[key].version == 1:
                del docs[key]
        return {}


class FakeFinder(ports.Finder):
    def __init__(self, index: SearchIndex) -> None:
        self.search_index = index
        self.chat_sizes: list[int | None] = []  # what each find was told of its chat's size

    def find(
        self,
        application_id: int,
        chat_number: int,
        words: Sequence[str],
        limit: int,
        after: SearchAfter | None = None,
        chat_size: int | None = None,
    ) -> SearchPage:
        """Every hit scores the same: newest first, `limit` a page (`chat_size` only picks a cost)."""
        if self.search_index.down:
            raise Unavailable("search is down")
        self.chat_sizes.append(chat_size)
        hits = [
            m
            for k, m in sorted(self.search_index.docs.items(), reverse=True)
            if k[:2] == (application_id, chat_number)
            and all(w.lower() in m.body.lower() for w in words)
            and (after is None or m.number < after.number)
        ]
        page = [dataclasses.replace(m.message(), highlight=[m.body]) for m in hits[:limit]]
        return SearchPage(page, SearchAfter(0.0, page[-1].number) if len(hits) > limit else None)


class FakeIndexSchema(ports.IndexSchema):
    def __init__(self, index: SearchIndex) -> None:
        self.search_index = index

    def ensure_index(self) -> bool:
        if self.search_index.down:
            raise Unavailable("search is down")
        return False


class FakeRateLimits(ports.RateLimits):
    """Quotas counted per (subject, kind) in one window that never ends. The real limiter counts
    in its own process while Redis is down, so a fake has no state in which a quota lets all pass."""

    def __init__(self, quotas: dict[str, int], window_seconds: int = 60) -> None:
        self.quotas = {kind: Quota(kind, n, window_seconds) for kind, n in quotas.items()}
        self.used: dict[tuple[str, str], int] = {}

    def take(self, subject: str, kind: str) -> Decision:
        quota = self.quotas.get(kind)
        if quota is None:  # a kind the test does not limit
            return Decision(Quota(kind, 2**31, 60), True, 2**31, 60)
        used = self.used[(subject, kind)] = self.used.get((subject, kind), 0) + 1
        return Decision(quota, used <= quota.requests, max(quota.requests - used, 0), quota.window_seconds)


class FakeKeys(Store, ports.Keys):
    """Idempotency-Key records per scope, at most `most` a scope, on a clock of its own (`now`).

    `loss` is what a new claim says of records Redis may have lost (the numbering epoch's age).
    Over the budget, the oldest record makes room if it is `safe_age` old (the scope then says
    records may be lost), else the claim is OverBudget. Past `most_of_all` records in all scopes,
    a new one makes room in the scope holding most, else in its own.
    """

    def __init__(
        self,
        most: int = 1000,
        safe_age: int = 600,
        ttl: int = 24 * 3600,
        in_flight: int = 12,
        numbering: Numbering | None = None,
        most_of_all: int = 2**31,
    ) -> None:
        self.records: dict[str, dict[str, tuple[int, dict[str, object]]]] = {}  # scope -> key -> (at, record)
        self.trimmed: dict[str, int] = {}  # scope -> until when records may be missing
        self.loss = RecordLoss.NONE
        self.most, self.safe_age, self.ttl, self.in_flight, self.now = most, safe_age, ttl, in_flight, 0
        self.most_of_all = most_of_all
        self.numbering = numbering  # the same Redis: its epoch (None: one that stays open)

    def _epoch(self) -> str | None:
        return "open" if self.numbering is None else self.numbering.epoch

    def claim(self, scope: str, key: RequestKey) -> Claim:
        self._check()
        records = self.records.setdefault(scope, {})
        for k in [k for k, (at, _) in records.items() if at <= self.now - self.ttl]:
            del records[k]
        found = records.get(key.key)
        running = found is not None and "u" in found[1] and int(str(found[1]["u"])) > self.now
        if found is not None and "e" in found[1] and not running:
            record = found[1]
            if record["d"] != key.digest:
                return Mismatch()  # a number held stays its request's
            record["u"] = self.now + self.in_flight
            reserved = Reserved(int(str(record["n"])), int(str(record["m"])), str(record["e"]))
            return Unsure(reserved, same_epoch=reserved.epoch == self._epoch())
        if found is not None and ("u" not in found[1] or running):
            return self._found(found[1], key)
        if len(records) >= self.most:
            wait = self._trim(scope)
            if wait:
                return OverBudget(wait, self.most, self.safe_age)
        elif key.key not in records and sum(map(len, self.records.values())) >= self.most_of_all:
            biggest = max(self.records, key=lambda s: len(self.records[s]))
            wait = self._trim(biggest) if biggest != scope else None
            if wait is None or wait > 0:
                own = self._trim(scope)
                if own is None or own > 0:
                    return OverBudget(
                        min(wait or self.safe_age, own or self.safe_age), self.most, self.safe_age
                    )
        records[key.key] = (self.now, {"d": key.digest, "u": self.now + self.in_flight})
        trimmed = self.trimmed.get(scope, 0) > self.now
        return New(RecordLoss.POSSIBLE if trimmed and self.loss is RecordLoss.NONE else self.loss)

    def _trim(self, scope: str) -> int | None:
        """Drops the scope's oldest record if it is `safe_age` old (0), else the seconds until it
        is; None if the scope has none."""
        records = self.records.get(scope, {})
        if not records:
            return None
        oldest = min(records, key=lambda k: records[k][0])
        age = self.now - records[oldest][0]
        if age < self.safe_age:
            return self.safe_age - age
        del records[oldest]
        self.trimmed[scope] = self.now + self.ttl
        return 0

    @staticmethod
    def _found(record: dict[str, object], key: RequestKey) -> Claim:
        if record["d"] != key.digest:
            return Mismatch()
        if "u" in record:
            return Running()
        sealed = record.get("t")
        return Replay(Done(int(str(record["n"])), sealed if isinstance(sealed, str) else None))

    def hold_number(self, scope: str, key: RequestKey, reserved: Reserved) -> Reserved:
        self._check()
        epoch, found = self._epoch(), self.records.get(scope, {}).get(key.key)
        record = found[1] if found is not None else {}
        if epoch is None or reserved.epoch not in ("", epoch) or record.get("d") != key.digest:
            raise NotQueued("numbering moved on before the creation was queued")
        if int(str(record.get("u", 0))) <= self.now:
            raise NotQueued("the claim ended before the creation was queued")
        record.update(n=reserved.number, m=reserved.created_at_ms, e=epoch)
        return dataclasses.replace(reserved, epoch=epoch)

    def leave_unsure(self, scope: str, key: RequestKey) -> None:
        found = self.records.get(scope, {}).get(key.key)
        if not self.down and found is not None and "e" in found[1]:
            found[1].pop("u", None)

    def complete(self, scope: str, key: RequestKey, done: Done) -> None:
        found = self.records.get(scope, {}).get(key.key)
        if not self.down and found is not None:
            record = {"d": key.digest, "n": done.number, "t": done.sealed_token}
            self.records[scope][key.key] = (found[0], record)

    def release(self, scope: str, key: RequestKey) -> None:
        if not self.down:
            self.records.get(scope, {}).pop(key.key, None)

    def expire(self) -> int:
        self._check()
        old = [
            (s, k) for s, r in self.records.items() for k, (at, _) in r.items() if at <= self.now - self.ttl
        ]
        for s, k in old:
            del self.records[s][k]
        return len(old)


class FakeConnections(ports.Connections):
    """Sockets and their subscriptions, on MySQL's tables: a token's hash (a user token's key
    version) is still good while it is an application's token (version), or a rotated one within
    its grace (as the adapter's join)."""

    def __init__(self, tables: Tables):
        self.tables = tables
        self.rows: dict[str, tuple[NewConnection, int]] = {}  # id -> (connection, expires at)
        self.subscriptions: dict[str, set[int]] = {}

    def open(self, connection: NewConnection, lifetime_seconds: int, most_per_application: int) -> bool:
        self.tables.check()
        self._expire(connection.application_id)
        open_ones = [c for c, _ in self.rows.values() if c.application_id == connection.application_id]
        if len(open_ones) >= most_per_application:
            return False
        self.rows[connection.connection_id] = (connection, self.tables.now + lifetime_seconds)
        self.subscriptions.setdefault(connection.connection_id, set())
        return True

    def connection(self, connection_id: str) -> Connection | None:
        self.tables.check()
        live = self._live(connection_id)
        if live is None:
            return None
        return Connection(connection_id, live.application_id, live.chats, self._revoked(live))

    def subscribe(self, connection_id: str, chat_number: int, most: int) -> bool:
        self.tables.check()
        if connection_id not in self.rows:
            return False
        chats = self.subscriptions[connection_id]
        if chat_number not in chats and len(chats) >= most:
            return False
        chats.add(chat_number)
        return True

    def unsubscribe(self, connection_id: str, chat_number: int) -> None:
        self.tables.check()
        self.subscriptions.get(connection_id, set()).discard(chat_number)

    def close(self, connection_ids: Sequence[str]) -> None:
        self.tables.check()
        for connection_id in connection_ids:
            self.rows.pop(connection_id, None)
            self.subscriptions.pop(connection_id, None)

    def subscribers(self, application_id: int, chat_number: int) -> Subscribers:
        self.tables.check()
        live: list[str] = []
        revoked: list[str] = []
        for connection_id, chats in self.subscriptions.items():
            connection = self.rows[connection_id][0]
            if connection.application_id != application_id or chat_number not in chats:
                continue
            ended = self._live(connection_id) is None or self._revoked(connection)
            (revoked if ended else live).append(connection_id)
        return Subscribers(live, revoked)

    def _live(self, connection_id: str) -> NewConnection | None:
        row = self.rows.get(connection_id)
        return row[0] if row is not None and row[1] > self.tables.now else None

    def _expire(self, application_id: int) -> None:
        for connection_id, (c, expires) in list(self.rows.items()):
            if c.application_id == application_id and expires <= self.tables.now:
                self.close([connection_id])

    def _revoked(self, connection: NewConnection) -> bool:
        if connection.token_version is not None:
            return self._version_revoked(connection.application_id, connection.token_version)
        hashed = connection.token_hash
        if hashed is None or hashed in self.tables.applications:
            return False
        previous = self.tables.previous_tokens.get(hashed)
        return previous is None or previous[1] <= self.tables.now

    def _version_revoked(self, application_id: int, version: int) -> bool:
        """A user token's key version: good while current, or the one before within its grace."""
        app = next(a for a in self.tables.applications.values() if a.id == application_id)
        if version == app.token_version:
            return False
        grace = [until for current, until in self.tables.previous_tokens.values() if current == app.token]
        return not (version + 1 == app.token_version and grace and grace[0] > self.tables.now)


class FakeSockets(Store, ports.Sockets):
    """Clients' sockets: frames sent to each open one; any other id is gone (410)."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.closed: list[str] = []

    def send(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        self._check()
        gone = [c for c in connection_ids if c not in self.open]
        for connection_id in connection_ids:
            if connection_id in self.open:
                self.frames.setdefault(connection_id, []).append(json.loads(data))
        return Delivery(sent=len(connection_ids) - len(gone), gone=gone, failed=[])

    def close(self, connection_id: str) -> None:
        self.open.discard(connection_id)
        self.closed.append(connection_id)


class FakeFanOut(ports.FanOut):
    """Keeps the shares handed to other invocations: (connection ids, frame)."""

    def __init__(self) -> None:
        self.shares: list[tuple[list[str], bytes]] = []

    def deliver_later(self, connection_ids: Sequence[str], frame: bytes) -> None:
        self.shares.append((list(connection_ids), frame))


class FakeAnnouncer(ports.Announcer):
    """Keeps what it was told, in order; `down` loses announcements silently, as the port allows."""

    down = False

    def __init__(self) -> None:
        self.announced: list[ChatChanged] = []

    def announce(self, changes: Sequence[ChatChanged]) -> None:
        if not self.down:
            self.announced += changes


class FakeAcceptPush:
    """Keeps the messages it was told of: (application id, chat, message)."""

    def __init__(self) -> None:
        self.told: list[tuple[int, int, Message]] = []

    def accepted(self, application_id: int, chat_number: int, message: Message) -> None:
        self.told.append((application_id, chat_number, message))


@dataclasses.dataclass
class FakeDeps:
    """Every function's ports (ports.py), faked and typed as such so tests may reach their state."""

    db: FakeDatabase
    batches: FakeBatches
    counts: FakeCounts
    schema: FakeSchema
    # Redis' numbering: its state, and the fakes of its five ports on it.
    numbering: Numbering
    reservations: FakeReservations
    pending: FakePendingBodies
    changes: FakeChangeMarks
    sweep: FakeIdleCounters
    epoch: FakeEpoch
    tokens: FakeTokens
    queue: FakeQueue
    # Elasticsearch's messages index, and the fakes of its three ports on it.
    search_index: SearchIndex
    indexer: FakeIndexer
    finder: FakeFinder
    index_schema: FakeIndexSchema
    request_timeout_seconds: int
    keys: FakeKeys
    connections: FakeConnections
    sockets: FakeSockets
    fan_out: FakeFanOut = dataclasses.field(default_factory=FakeFanOut)
    push_slice: int = 1000
    announcer: FakeAnnouncer = dataclasses.field(default_factory=FakeAnnouncer)
    accept_push: FakeAcceptPush = dataclasses.field(default_factory=FakeAcceptPush)
    limits: RateLimits | None = None
    read_positions: FakeReadPositions = dataclasses.field(default_factory=lambda: FakeReadPositions(Tables()))
    user_token_secret: bytes = b"the unit tests' user-token secret"
    socket_limits: SocketLimits = SocketLimits(
        subscriptions_per_connection=3, connections_per_application=5, frame_bytes=512, lifetime_seconds=7260
    )


def deps(request_timeout_seconds: int = 10) -> FakeDeps:
    """A fresh in-memory world: every port faked, MySQL's four adapters on one set of tables."""
    tables, numbering, index = Tables(), Numbering(), SearchIndex()
    return FakeDeps(
        db=FakeDatabase(tables),
        read_positions=FakeReadPositions(tables),
        batches=FakeBatches(tables),
        counts=FakeCounts(tables),
        schema=FakeSchema(tables),
        numbering=numbering,
        reservations=FakeReservations(numbering),
        pending=FakePendingBodies(numbering),
        changes=FakeChangeMarks(numbering),
        sweep=FakeIdleCounters(numbering),
        epoch=FakeEpoch(numbering),
        tokens=FakeTokens(),
        queue=FakeQueue(),
        search_index=index,
        indexer=FakeIndexer(index),
        finder=FakeFinder(index),
        index_schema=FakeIndexSchema(index),
        request_timeout_seconds=request_timeout_seconds,
        keys=FakeKeys(numbering=numbering),
        connections=FakeConnections(tables),
        sockets=FakeSockets(),
    )


def write_queued(deps: FakeDeps) -> None:
    """As the writer does with everything queued: one batch, every record written, queue empty."""
    records = [(f"r-{i}", body) for i, body in enumerate(deps.queue.sent)]
    deps.queue.sent.clear()
    assert writer.persist_records(deps, records) == {}
