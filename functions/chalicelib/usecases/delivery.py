"""Webhook delivery: a chat's committed changes to each endpoint of its application, in feed
order, at least once; a failing receiver backs off on its own and holds back nobody else.

A work item names a chat (an announcement, a due retry, or the sweep's catch-up). For each
endpoint of the chat's application, the worker takes the (endpoint, chat) cursor's lease in
MySQL, reads the feed after the delivered position and sends one event at a time, moving the
cursor after each 2xx. The cursor is the truth: a killed worker's lease runs out and the sweep
hands the chat out again, to be sent from the cursor (receivers dedupe by `webhook-id`).

Two lanes, each a queue served by invocations of its own: an application one of whose
deliveries held its worker `SLOW_ATTEMPT_SECONDS` or more (a receiver that answers slowly, or
not at all) delivers in the slow lane for `SLOW_LANE_SECONDS` after (and until its retry is
due), so the fast lane's invocations never wait on it again; in the fast lane an application
has `FAST_SHARE_SECONDS` of an invocation, then the rest of its chats queue again. A send in
the fast lane has `FAST_ATTEMPT_SECONDS` in all: one not answered by then is abandoned, not
failed (no attempt counted, no backoff), and its chat goes to the slow lane at once with the
cursor where it was, to be sent again there within the full timeouts (the same `webhook-id`: a
receiver that got it dedupes). So the fast lane waits on a slow receiver that long at most,
also the first time, before any mark (or after Redis lost them).
"""

import datetime
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger

from ..domain import signing
from ..domain.deliveries import (
    CHAT_CREATED_POSITION,
    Cursor,
    EndpointChanged,
    Event,
    LeaseLost,
    Outcome,
    chat_created_event,
    event_type,
    gives_up,
    message_event,
    retry_delay,
)
from ..domain.errors import Unavailable
from ..domain.webhooks import Endpoint
from .ports import ChatRef, DeliveryDeps

# Kept back from the function's time to finish after the deadline: one delivery's timeouts (8 s),
# letting the pair go and queueing the rest; in the fast lane one send's budget and the same.
FINISH_SECONDS = 10
FAST_FINISH_SECONDS = 3
# When an application's deliveries all run already, its next chat comes back this much later.
BUSY_RETRY_SECONDS = 2
# A delivery that held its worker this long sends its application to the slow lane (a healthy
# receiver answers in milliseconds; the sender gives up after 8 s).
SLOW_ATTEMPT_SECONDS = 1.0
# How long an application stays in the slow lane after its last slow delivery (or its retry).
SLOW_LANE_SECONDS = 300
# An application's time in one fast-lane invocation, at most (besides the send under way).
FAST_SHARE_SECONDS = 5.0
# A send's time in the fast lane (resolving, connecting, the answer): a receiver slower than
# that is a slow lane's (the bar above), so it is abandoned and its chat handed over.
FAST_ATTEMPT_SECONDS = SLOW_ATTEMPT_SECONDS
log = Logger(service="chat", child=True)

# Applications of a batch delivered at once (a batch is 10 records, each naming chats).
BATCH_THREADS = 10
# Feed entries read per round; a worker goes on while there are more and its round lasts.
PAGE = 100
# How long a worker holds a pair: longer than a round and one delivery's timeouts.
LEASE_SECONDS = 60
# After this long on one pair the worker hands the rest to a new work item (other chats wait).
ROUND_SECONDS = 20.0
# Chats the sweep hands out per run: due retries and chats whose announcement was lost.
SWEEP_LIMIT = 1000
# How far back the sweep looks for lost announcements: longer than the work queue keeps retrying
# a message (5 receives, 6 min apart), so a chat is found while its announcement may be lost. A
# retry, and a chat that waits for its endpoint's backoff, are in the cursors (due), not here.
SWEEP_WINDOW_SECONDS = 3600
# Chats of one application the sweep hands out per run.
SWEEP_PER_APPLICATION = 100
# Seconds a sweep spends replaying dead letters at most (a send may take 8 s; the function has 60).
REPLAY_SECONDS = 30
# Replays of one application a sweep sends at most: one that asks for thousands waits its turn.
REPLAYS_PER_APPLICATION = 10
# An endpoint's backoff is checked with this slack, so a probe due now is not skipped.
_SLACK = datetime.timedelta(milliseconds=50)

Clock = Callable[[], datetime.datetime]


class _HandedOver(Exception):
    """A send in the fast lane had no answer within FAST_ATTEMPT_SECONDS: it was abandoned, its
    application marked slow, and its chat goes to the slow lane (the lease let go on the way)."""


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def handle_batch(
    deps: DeliveryDeps,
    work: Mapping[str, Sequence[ChatRef]],
    seconds_left: float,
    slow: bool = False,
    now: Clock = utcnow,
) -> list[str]:
    """Delivers the chats the records name before the invocation's `seconds_left` run out (in the
    fast lane, each application's share of it), each application's side by side; returns the
    records to retry (a store was down for a chat they name). What is left at the deadline is
    queued again, never cut off mid-delivery: the last delivery, the release and the requests get
    the time kept back. `slow`: the records came through the slow lane."""
    if not work:
        return []
    kept_back = min(FINISH_SECONDS if slow else FAST_FINISH_SECONDS, seconds_left / 3)
    deadline = now() + datetime.timedelta(seconds=seconds_left - kept_back)
    if not slow:
        deadline = min(deadline, now() + datetime.timedelta(seconds=FAST_SHARE_SECONDS))
    chats = _by_application(chat for named in work.values() for chat in named)
    futures = {
        app: _pool().submit(deliver_chats, deps, app, numbers, deadline, now, slow)
        for app, numbers in chats.items()
    }
    down = set()
    for app, future in futures.items():
        try:
            future.result()
        except Unavailable:
            down.add(app)
    return [record for record, named in work.items() if any(app in down for app, _ in named)]


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """One per Lambda environment: its threads keep their MySQL connections (one per thread)
    from one invocation to the next."""
    return ThreadPoolExecutor(max_workers=BATCH_THREADS)


def _by_application(chats: Iterable[ChatRef]) -> dict[int, list[int]]:
    """Each application's chats, each once however often named, in order."""
    by_application: dict[int, list[int]] = {}
    for app, chat in sorted(set(chats)):
        by_application.setdefault(app, []).append(chat)
    return by_application


def handle_work(
    deps: DeliveryDeps,
    chats: Iterable[ChatRef],
    deadline: datetime.datetime | None = None,
    now: Clock = utcnow,
    slow: bool = False,
) -> int:
    """Delivers each chat named (each once, however often named); returns the events delivered."""
    end = deadline or now() + datetime.timedelta(seconds=ROUND_SECONDS)
    by_application = _by_application(chats).items()
    return sum(deliver_chats(deps, app, numbers, end, now, slow) for app, numbers in by_application)


def deliver_chats(
    deps: DeliveryDeps,
    application_id: int,
    chat_numbers: Sequence[int],
    deadline: datetime.datetime,
    now: Clock = utcnow,
    slow: bool = False,
) -> int:
    """Sends each endpoint of the application what it has not had of each chat, one chat after
    another within one of the application's slots, until `deadline` (the chats left are queued).
    In the fast lane (not `slow`), an application marked slow is handed to the slow lane."""
    if not slow and deps.lanes.slow(application_id):
        # Its receivers answered slowly lately: the slow lane's invocations wait on them, not these.
        deps.work.request([(application_id, c) for c in chat_numbers], slow=True)
        return 0
    endpoints = [e for e in deps.webhook_endpoints.of_application(application_id) if e.enabled]
    if not endpoints:
        return 0
    if not deps.slots.take(application_id):
        # The application's receivers already hold its share of the deliveries: come back soon.
        _request(deps, [(application_id, c) for c in chat_numbers], BUSY_RETRY_SECONDS)
        return 0
    delivered = 0
    try:
        for n, chat_number in enumerate(chat_numbers):
            if n > 0:
                if now() >= deadline or (not slow and deps.lanes.slow(application_id)):
                    _request(deps, [(application_id, c) for c in chat_numbers[n:]])
                    break
                # Read again: a failure in the chat before backs its endpoint off for this one.
                endpoints = [e for e in deps.webhook_endpoints.of_application(application_id) if e.enabled]
            try:
                delivered += _deliver_chat(deps, endpoints, chat_number, deadline, now, slow)
            except _HandedOver:
                # To the slow lane, this chat (its other endpoints too) and the rest: there even
                # if Redis could not keep the mark, so they never come back here untried.
                deps.work.request([(application_id, c) for c in chat_numbers[n:]], slow=True)
                break
    finally:
        deps.slots.give_back(application_id)
    return delivered


def _deliver_chat(
    deps: DeliveryDeps,
    endpoints: Sequence[Endpoint],
    chat_number: int,
    deadline: datetime.datetime,
    now: Clock,
    slow: bool,
) -> int:
    delivered = 0
    for i, e in enumerate(endpoints):
        if i > 0 and now() >= deadline:
            # Each endpoint may take its timeouts: those not started wait for the next worker.
            _request(deps, [(e.application_id, chat_number)])
            break
        if e.retry_at is not None and e.retry_at > now() + _SLACK:
            # A failing endpoint is probed once per backoff (by the chat that failed), not by
            # every chat: this one waits for the probe, in MySQL.
            deps.cursors.hold(e, chat_number, functools.partial(_start, deps, e, chat_number), e.retry_at)
            continue
        try:
            delivered += _deliver(deps, e, chat_number, deadline, now, slow)
        except LeaseLost:
            pass  # another worker has the pair now and sends from the cursor
        except EndpointChanged:
            _request(deps, [(e.application_id, chat_number)])  # read as it is now
    return delivered


def _deliver(
    deps: DeliveryDeps,
    endpoint: Endpoint,
    chat_number: int,
    deadline: datetime.datetime,
    now: Clock,
    slow: bool,
) -> int:
    cursor = deps.cursors.claim(
        endpoint, chat_number, lambda: _start(deps, endpoint, chat_number), LEASE_SECONDS
    )
    if cursor is None:
        return 0  # another worker holds it (and was told to look again), or its retry is not due
    delivered = 0
    end = min(deadline, now() + datetime.timedelta(seconds=ROUND_SECONDS))
    try:
        while True:
            sent, after = _round(deps, endpoint, cursor, end, now, slow)
            delivered += sent
            if after is None:  # failed or postponed: the retry is scheduled, the lease let go
                return delivered
            cursor, more = after
            if more and now() < end:
                continue
            if more:
                _request(deps, [(endpoint.application_id, chat_number)])
            if deps.cursors.release(cursor):
                return delivered
            # A change was announced while this worker held the pair: read the feed again, while
            # there is time. Past `end` the next worker does: a chat announced faster than its
            # receiver answers would otherwise hold this one past its deadline and the function's
            # timeout. Let go first, then queue: a worker that found it held would drop the hint.
            if now() >= end:
                deps.cursors.abandon(cursor)
                _request(deps, [(endpoint.application_id, chat_number)])
                return delivered
    except BaseException:  # _HandedOver among them: the slow lane's worker claims the pair next
        deps.cursors.abandon(cursor)
        raise


def _round(
    deps: DeliveryDeps, endpoint: Endpoint, cursor: Cursor, end: datetime.datetime, now: Clock, slow: bool
) -> tuple[int, tuple[Cursor, bool] | None]:
    """One page of the feed after the cursor: (delivered, (cursor, more?) or None if it stopped).
    At `end` it stops between two events, with more to do."""
    sent, chat = 0, cursor.chat_number
    if cursor.delivered_position < CHAT_CREATED_POSITION:
        if endpoint.wants("chat.created"):
            if not _send(
                deps,
                endpoint,
                cursor,
                chat_created_event(endpoint.application_id, chat, _created_at(deps, endpoint, chat, now)),
                now,
                slow,
            ):
                return sent, None
            sent += 1
        cursor = deps.cursors.advance(cursor, CHAT_CREATED_POSITION)
    changes = deps.feed.changes(endpoint.application_id, chat, cursor.delivered_position, PAGE)
    for n, change in enumerate(changes):
        if (n > 0 or sent > 0) and now() >= end:  # one event at least per round: a late one moves on
            return sent, (cursor, True)
        if endpoint.wants(event_type(change)):
            event = message_event(change, endpoint.application_id, chat)
            if not _send(deps, endpoint, cursor, event, now, slow):
                return sent, None
            sent += 1
        cursor = deps.cursors.advance(cursor, change.position)
    return sent, (cursor, len(changes) == PAGE)


def _send(
    deps: DeliveryDeps, endpoint: Endpoint, cursor: Cursor, event: Event, now: Clock, slow: bool
) -> bool:
    """Delivers `event`; False if it was not (its retry is then scheduled, the lease let go).
    Raises _HandedOver in the fast lane (not `slow`) when the receiver did not answer in time."""
    current = deps.webhook_endpoints.get(endpoint.application_id, endpoint.number)
    if current is None or not current.sends_like(endpoint):
        # Moved, narrowed, disabled, re-keyed or removed while this worker sent: nothing more as it was.
        raise EndpointChanged(f"endpoint {endpoint.id}")
    wait = _over_rate(deps, endpoint.application_id)
    if wait is not None:
        deps.cursors.postpone(cursor, wait)
        _request(deps, [(endpoint.application_id, cursor.chat_number)], wait)
        return False
    moment = now()
    headers = signing.headers(endpoint.signing_secrets(moment), event.id, int(moment.timestamp()), event.body)
    outcome = deps.sender.send(endpoint.url, headers, event.body, None if slow else FAST_ATTEMPT_SECONDS)
    took_long = (now() - moment).total_seconds() >= SLOW_ATTEMPT_SECONDS
    if outcome.late and not slow:
        # Not the receiver's failure: the fast lane's time ran out. The cursor stays; the slow
        # lane sends the event again with the full timeouts (the same id, if this one arrived).
        deps.lanes.mark_slow(endpoint.application_id, SLOW_LANE_SECONDS)
        raise _HandedOver(f"endpoint {endpoint.id} chat {cursor.chat_number}")
    if outcome.delivered:
        if took_long:
            deps.lanes.mark_slow(endpoint.application_id, SLOW_LANE_SECONDS)
        if endpoint.failures and deps.cursors.endpoint_recovered(endpoint.id):
            # Back: the chats that waited for the probe go now (the rest at the next sweeps).
            _request(deps, deps.cursors.due(SWEEP_LIMIT, endpoint.id))
        return True
    _failed(deps, endpoint, cursor, event, outcome, moment, took_long)
    return False


def _failed(
    deps: DeliveryDeps,
    endpoint: Endpoint,
    cursor: Cursor,
    event: Event,
    outcome: Outcome,
    at: datetime.datetime,
    took_long: bool,
) -> None:
    attempts = cursor.attempts + 1
    chat = [(endpoint.application_id, cursor.chat_number)]
    if gives_up(cursor.failing_since, at):
        # A day and more of refusals: kept for the application to replay; the chat moves on.
        deps.dead_letters.add(endpoint, event, attempts, outcome.error)
        deps.cursors.release(deps.cursors.advance(cursor, event.position))
        _request(deps, chat)
        return
    # The chat and the endpoint come back together: this chat is the endpoint's next probe.
    delay = retry_delay(max(attempts, endpoint.failures + 1), outcome)
    if took_long:
        # Timed out (or answered too late): its probe waits in the slow lane too.
        deps.lanes.mark_slow(endpoint.application_id, delay + SLOW_LANE_SECONDS)
    deps.cursors.failed(cursor, outcome.error, delay)
    deps.cursors.endpoint_failed(endpoint.id, delay)
    _request(deps, chat, delay)


def _request(deps: DeliveryDeps, chats: Sequence[ChatRef], delay_seconds: float = 0) -> None:
    """Queues the chats again, each in the lane its application delivers in now."""
    slow = {app for app in {app for app, _ in chats} if deps.lanes.slow(app)}
    for in_slow_lane in (False, True):
        named = [chat for chat in chats if (chat[0] in slow) is in_slow_lane]
        if named:
            deps.work.request(named, delay_seconds, slow=in_slow_lane)


def _created_at(deps: DeliveryDeps, endpoint: Endpoint, chat_number: int, now: Clock) -> datetime.datetime:
    """When the chat was created; now for one not stored yet (the writer has it still)."""
    return deps.feed.created_at(endpoint.application_id, chat_number) or now()


def _over_rate(deps: DeliveryDeps, application_id: int) -> float | None:
    """Seconds to wait when the application used its delivery rate up; None when it may send."""
    decision = deps.delivery_rate.take(f"application:{application_id}", "webhook-deliveries")
    return None if decision.allowed else float(max(decision.reset_seconds, 1))


def _start(deps: DeliveryDeps, endpoint: Endpoint, chat_number: int) -> int:
    """Where a pair first seen starts: a chat created after the endpoint at its creation (-1: the
    chat.created event is next); an older chat after what changed before the endpoint existed."""
    assert endpoint.created_at is not None, "endpoints read from the store carry their creation time"
    return deps.feed.start_position(endpoint.application_id, chat_number, endpoint.created_at)


def sweep(deps: DeliveryDeps, limit: int = SWEEP_LIMIT) -> dict[str, int]:
    """Hands out the chats whose retry is due and those whose changes an endpoint has not had
    (an announcement lost, a worker killed), and sends the replays applications asked for."""
    due = deps.cursors.due(limit)
    try:
        behind = deps.feed.behind(SWEEP_WINDOW_SECONDS, SWEEP_PER_APPLICATION, limit)
    except Unavailable:
        behind = []  # the next sweep, a minute on, looks again; due retries go out meanwhile
        log.warning("webhook sweep: the feed could not be read", exc_info=True)
    chats = sorted(set(due) | set(behind))
    if chats:
        _request(deps, chats)
    return {"due": len(due), "behind": len(behind), "requested": len(chats), "replayed": replay(deps, limit)}


def replay(deps: DeliveryDeps, limit: int, now: Clock = utcnow) -> int:
    """Sends again the dead letters whose replay was asked for, oldest first: at most
    REPLAYS_PER_APPLICATION of each application, within its delivery rate, and for at most
    REPLAY_SECONDS (each send may take its timeouts). One not sent stays asked for and is tried
    at the next sweep."""
    end = now() + datetime.timedelta(seconds=REPLAY_SECONDS)
    replayed, over_rate = 0, set()
    for letter, endpoint in deps.dead_letters.replays_due(limit, REPLAYS_PER_APPLICATION):
        if now() >= end:
            break
        if endpoint.application_id in over_rate or _over_rate(deps, endpoint.application_id) is not None:
            over_rate.add(endpoint.application_id)
            continue
        moment = now()
        secrets = endpoint.signing_secrets(moment)
        headers = signing.headers(secrets, letter.event_id, int(moment.timestamp()), letter.payload)
        if deps.sender.send(endpoint.url, headers, letter.payload).delivered:
            deps.dead_letters.replayed(letter.id)
            replayed += 1
    return replayed
