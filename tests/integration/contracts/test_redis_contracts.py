"""Contracts of the Redis ports (numbering, pending bodies, change marks, tokens, quotas): fake and
real alike."""

import dataclasses
import random
import time
import uuid

import pytest

from chalicelib.domain.models import Author, Message, NewChat, NewMessage
from tests import fakes

from .world import World


def ids() -> int:
    """An application id no other test uses (the real Redis database is shared by the session)."""
    return random.randrange(10**9, 2**32)


def test_numbers_start_after_the_seed_and_count_up_per_scope(world: World):
    deps, app_id = world.deps, ids()
    assert deps.reservations.chats_reserved(app_id) is None  # not counted yet: MySQL knows them all
    assert deps.reservations.reserve_chat_number(app_id, seed=lambda: 4) == 5
    assert deps.reservations.reserve_chat_number(app_id, seed=lambda: 99) == 6  # the seed is read only once
    assert deps.reservations.chats_reserved(app_id) == 6
    assert deps.reservations.reserve_message_number(app_id, 5, "a", seed=lambda: 0) == 1
    assert deps.reservations.reserve_message_number(app_id, 6, "b", seed=lambda: 0) == 1


def test_a_queued_body_reads_back_until_it_is_persisted_or_forgotten(world: World):
    deps, app_id = world.deps, ids()
    for body in ("one", "two", "three"):
        deps.reservations.reserve_message_number(app_id, 1, body, seed=lambda: 0)
    assert deps.pending.pending_message(app_id, 1, 2) == Message(2, "two")
    deps.changes.record_persisted([], [NewMessage(app_id, 1, 1, "one")])
    deps.pending.forget_pending([NewMessage(app_id, 1, 3, "three")])
    found = [deps.pending.pending_message(app_id, 1, n) for n in (1, 2, 3, 4)]
    assert [m and m.body for m in found] == [None, "two", None, None]


def test_a_message_sent_again_reads_back_as_its_reservation_left_it(world: World):
    deps, app_id, ana = world.deps, ids(), Author("u-1", "Ana")
    number = deps.reservations.reserve_message_number(app_id, 1, "again", lambda: 0, 1_765_000_000_123, ana)
    message = NewMessage(app_id, 1, number, "again", created_at_ms=1_765_000_000_123, author=ana)
    deps.pending.forget_pending([message])  # its first send failed
    assert deps.pending.pending_message(app_id, 1, number) is None
    deps.pending.keep_pending(message)  # its retry sends it again
    assert deps.pending.pending_message(app_id, 1, number) == Message(
        number, "again", 1_765_000_000_123, None, ana
    )


def test_a_queued_message_reads_back_with_its_accept_instant_and_author(world: World):
    deps, app_id = world.deps, ids()
    ana = Author("u-1", 'Ana \u00e9\u00e8 "quoted"')
    deps.reservations.reserve_message_number(app_id, 1, '{"b": 1}', lambda: 0, 1_765_000_000_123, ana)
    deps.reservations.reserve_message_number(app_id, 1, "no author", lambda: 0, 1_765_000_000_456)
    found = deps.pending.pending_message(app_id, 1, 1)
    assert found == Message(1, '{"b": 1}', 1_765_000_000_123, None, ana)
    assert deps.pending.pending_message(app_id, 1, 2) == Message(2, "no author", 1_765_000_000_456)


def test_persisted_writes_mark_their_chats_until_popped_and_restored_marks_come_back(world: World):
    deps, app_id = world.deps, ids()
    deps.changes.start_full_recount()  # empties the marks (shared with other tests on the real Redis)
    deps.changes.record_persisted(
        [NewChat(app_id, 9)], [NewMessage(app_id, 1, 1, "x"), NewMessage(app_id, 2, 1, "y")]
    )
    assert sorted(deps.changes.pop_changed_chats(10)) == [(app_id, 1), (app_id, 2)]
    assert deps.changes.pop_changed_applications(10) == [app_id]
    assert deps.changes.pop_changed_chats(10) == []
    deps.changes.restore_changes([(app_id, 1)], [app_id])
    assert deps.changes.pop_changed_chats(10) == [(app_id, 1)] and deps.changes.pop_changed_applications(
        10
    ) == [app_id]


def test_the_marks_are_complete_once_a_full_recount_saw_the_current_epoch(world: World):
    deps = world.deps
    is_open, seconds = deps.epoch.epoch_state()
    assert is_open and isinstance(seconds, int)
    assert not deps.epoch.open_epoch("a second epoch")  # one at a time
    deps.changes.start_full_recount()
    assert deps.changes.changes_complete()


def test_a_remembered_token_gives_its_application_id(world: World):
    tokens, token = world.deps.tokens, f"c-{uuid.uuid4().hex}"
    assert tokens.application_id(token) is None
    tokens.remember(token, 42)
    assert tokens.application_id(token) == 42


def _limits(world: World, creates: int, window: int):
    if not world.real:
        return fakes.FakeRateLimits({"creates": creates}, window)
    from chalicelib.wiring import clients, settings

    s = settings.from_env({"RATE_LIMIT_CREATES": str(creates), "RATE_LIMIT_WINDOW_SECONDS": str(window)})
    return clients.rate_limits(s, clients.redis_client(settings.get()))  # the session's Redis database


def test_a_quota_lets_its_requests_through_then_refuses_until_its_window_resets(world: World):
    limits, app_id, other = _limits(world, creates=2, window=3600), ids(), ids()
    taken = [limits.take(app_id, "creates") for _ in range(3)]
    assert [d.allowed for d in taken] == [True, True, False]
    assert [d.remaining for d in taken] == [1, 0, 0]
    assert all(0 < d.reset_seconds <= 3600 and d.quota.requests == 2 for d in taken)
    assert limits.take(other, "creates").allowed  # each application has its own


def test_a_key_is_claimed_once_replays_what_it_did_and_refuses_another_request(world: World):
    from chalicelib.domain.request_keys import Done, Mismatch, New, Replay, RequestKey, Running

    keys, scope = world.deps.keys, f"contract-{uuid.uuid4().hex}"
    key = RequestKey("k", "digest")
    assert isinstance(keys.claim(scope, key), New)
    assert keys.claim(scope, key) == Running()  # a duplicate while the first runs
    assert keys.claim(scope, RequestKey("k", "another request")) == Mismatch()
    keys.complete(scope, key, Done(3, "sealed"))
    assert keys.claim(scope, key) == Replay(Done(3, "sealed"))
    keys.complete(scope, RequestKey("rename", "d"), Done())  # completing what was never claimed keeps nothing
    assert isinstance(keys.claim(scope, RequestKey("rename", "d")), New)
    keys.release(scope, RequestKey("other", "d"))  # releasing a key never claimed is no error
    keys.claim(scope, RequestKey("released", "d"))
    keys.release(scope, RequestKey("released", "d"))
    assert isinstance(keys.claim(scope, RequestKey("released", "d")), New)  # claimed afresh


def test_a_held_number_whose_event_may_be_queued_is_claimed_again_with_it(world: World):
    from chalicelib.domain.errors import NotQueued
    from chalicelib.domain.request_keys import (
        Done,
        Mismatch,
        New,
        Replay,
        RequestKey,
        Reserved,
        Running,
        Unsure,
    )

    keys, scope, key = world.deps.keys, f"contract-{uuid.uuid4().hex}", RequestKey("k", "digest")
    assert isinstance(keys.claim(scope, key), New)
    held = keys.hold_number(scope, key, Reserved(7, 1_765_000_000_123))
    assert (held.number, held.created_at_ms) == (7, 1_765_000_000_123) and held.epoch  # the open one
    assert keys.claim(scope, key) == Running()  # its request may still be sending
    keys.leave_unsure(scope, key)  # its send failed without an answer
    assert keys.claim(scope, RequestKey("k", "another request")) == Mismatch()
    assert keys.claim(scope, key) == Unsure(held, same_epoch=True)
    assert keys.claim(scope, key) == Running()  # claimed again, by that retry
    assert keys.hold_number(scope, key, held) == held
    with pytest.raises(NotQueued):
        keys.hold_number(scope, key, Reserved(7, 1_765_000_000_123, "an epoch gone by"))
    keys.complete(scope, key, Done(7))
    assert keys.claim(scope, key) == Replay(Done(7))
    keys.leave_unsure(scope, key)  # a finished request's record stays as it is
    assert keys.claim(scope, key) == Replay(Done(7))
    assert isinstance(keys.claim(scope, RequestKey("never held", "d")), New)
    keys.leave_unsure(scope, RequestKey("never held", "d"))  # nothing held: it stays in flight
    assert keys.claim(scope, RequestKey("never held", "d")) == Running()
    with pytest.raises(NotQueued):  # the claim ended: the number is not held, nothing is sent
        keys.hold_number(scope, RequestKey("gone", "d"), Reserved(8, 1_765_000_000_123))


def test_a_held_number_of_an_epoch_gone_by_is_never_held_again(world: World):
    from chalicelib.domain.errors import NotQueued
    from chalicelib.domain.request_keys import New, RequestKey, Reserved, Unsure

    keys, scope, key = world.deps.keys, f"contract-{uuid.uuid4().hex}", RequestKey("k", "digest")
    assert isinstance(keys.claim(scope, key), New)
    held = keys.hold_number(scope, key, Reserved(7, 1_765_000_000_123))
    keys.leave_unsure(scope, key)
    _another_epoch(world)
    assert keys.claim(scope, key) == Unsure(held, same_epoch=False)  # 7 may be someone else's now
    with pytest.raises(NotQueued):
        keys.hold_number(scope, key, held)
    assert keys.hold_number(scope, key, Reserved(1, 1_765_000_000_456)).epoch not in ("", held.epoch)


def test_a_number_held_by_a_request_that_died_stays_its_own_requests(world: World):
    from chalicelib.domain.request_keys import Mismatch, New, RequestKey, Reserved, Running, Unsure

    keys, scope, key = (
        _budgeted(world, 100, 600, in_flight=1),
        f"contract-{uuid.uuid4().hex}",
        RequestKey("k", "d"),
    )
    assert isinstance(keys.claim(scope, key), New)
    held = keys.hold_number(scope, key, Reserved(7, 1_765_000_000_123))
    if world.real:
        time.sleep(2)  # its in-flight second ends (Redis counts whole seconds)
    else:
        keys.now += 1
    assert keys.claim(scope, RequestKey("k", "another request")) == Mismatch()
    assert keys.claim(scope, key) == Unsure(held, same_epoch=True)  # never a new claim
    assert keys.claim(scope, key) == Running()


def test_a_reopening_starts_above_the_dead_letters_and_keeps_their_creates_till_the_next(world: World):
    from chalicelib.domain.numbering import Floors

    deps, app_id, create_id = world.deps, ids(), uuid.uuid4().hex
    creates = {(app_id, 0, create_id): 4, (app_id, 3, create_id): 9}
    _another_epoch(world, Floors(chats={app_id: 4}, messages={(app_id, 3): 9}, creates=creates))
    assert deps.reservations.reserve_chat_number(app_id, seed=lambda: 0) == 5
    assert deps.reservations.reserve_message_number(app_id, 3, "b", seed=lambda: 0) == 10
    found = [deps.epoch.dead_lettered(app_id, chat, create_id) for chat in (0, 3, 2)]
    assert found == [4, 9, None]  # a chat's creation, a message's, and nothing in another chat
    _another_epoch(world)
    assert deps.epoch.dead_lettered(app_id, 0, create_id) is None  # the next one read the DLQ anew


def _another_epoch(world: World, floors=None) -> None:
    """Numbering moves to a new epoch on the same server, as after a failover and the reopening."""
    if world.real:
        from chalicelib.adapters.redis import keys as redis_keys

        world.deps.redis.delete(redis_keys.EPOCH)
    else:
        world.deps.numbering.epoch = None
    assert world.deps.epoch.open_epoch(uuid.uuid4().hex, floors)


def _budgeted(world: World, records: int, safe_age: int, in_flight: int = 12):
    if not world.real:
        return fakes.FakeKeys(most=records, safe_age=safe_age, in_flight=in_flight)
    from chalicelib.adapters.redis import idempotency
    from chalicelib.wiring import clients, settings

    client = clients.redis_client(settings.get())
    return idempotency.Records(client, in_flight, records * idempotency.RECORD_BYTES, safe_age, 2**30)


def test_over_its_budget_a_scope_refuses_while_its_records_are_recent(world: World):
    from chalicelib.domain.request_keys import New, OverBudget, RequestKey

    keys, scope = _budgeted(world, records=2, safe_age=3600), f"contract-{uuid.uuid4().hex}"
    assert [type(keys.claim(scope, RequestKey(k, "d"))) for k in "ab"] == [New, New]
    refused = keys.claim(scope, RequestKey("c", "d"))
    assert isinstance(refused, OverBudget) and 3590 <= refused.retry_after <= 3600
    assert (refused.most, refused.safe_age) == (2, 3600)  # what its 429 says the budget is
    assert isinstance(keys.claim(f"{scope}-other", RequestKey("c", "d")), New)


def test_over_its_budget_a_scope_drops_its_oldest_old_enough_and_says_records_may_be_missing(world: World):
    from chalicelib.domain.request_keys import New, RecordLoss, RequestKey, Running

    keys, scope = _budgeted(world, records=2, safe_age=0), f"contract-{uuid.uuid4().hex}"
    keys.claim(scope, RequestKey("a", "d"))
    keys.claim(scope, RequestKey("b", "d"))
    assert keys.claim(scope, RequestKey("c", "d")) == New(RecordLoss.POSSIBLE)  # "a" or "b" made room
    assert keys.claim(scope, RequestKey("c", "d")) == Running()


def _totalled(world: World, records: int, total: int, safe_age: int):
    """Key records budgeted to `records` a scope and `total` in all, alone in their Redis database
    (the total counts every scope of the database)."""
    if not world.real:
        return fakes.FakeKeys(most=records, safe_age=safe_age, most_of_all=total)
    from chalicelib.adapters.redis import idempotency
    from chalicelib.wiring import settings, stores

    size = idempotency.RECORD_BYTES
    ours = stores.build(
        dataclasses.replace(
            settings.get(),
            redis_url=settings.get().redis_url.rsplit("/", 1)[0] + "/14",  # a database no other test uses
            idempotency_budget_bytes=records * size,
            idempotency_total_bytes=total * size,
            idempotency_safe_age_seconds=safe_age,
        )
    )
    ours.redis.flushdb()
    ours.epoch.open_epoch(uuid.uuid4().hex)
    return ours.keys


def test_past_the_total_the_scope_holding_most_makes_room_not_a_scope_with_none(world: World):
    from chalicelib.domain.request_keys import New, RecordLoss, RequestKey

    keys = _totalled(world, records=10, total=4, safe_age=0)
    assert all(isinstance(keys.claim("flood", RequestKey(k, "d")), New) for k in "abcd")  # the total
    assert isinstance(keys.claim("newcomer", RequestKey("x", "d")), New)  # not refused: the flood made room
    assert isinstance(keys.claim("newcomer", RequestKey("y", "d")), New)
    again = [keys.claim("flood", RequestKey(k, "d")) for k in "abcd"]
    # Two of the flood's records made room; a retry of one of those asks MySQL (records may be lost).
    assert sum(isinstance(claim, New) for claim in again) >= 2
    assert all(claim.loss is RecordLoss.POSSIBLE for claim in again if isinstance(claim, New))


def test_past_the_total_a_claim_waits_while_every_record_that_could_make_room_is_recent(world: World):
    from chalicelib.domain.request_keys import New, OverBudget, RequestKey

    keys = _totalled(world, records=10, total=4, safe_age=3600)
    assert all(isinstance(keys.claim("flood", RequestKey(k, "d")), New) for k in "abcd")
    refused = keys.claim("newcomer", RequestKey("x", "d"))
    assert isinstance(refused, OverBudget) and 3590 <= refused.retry_after <= 3600


def test_one_caller_at_a_time_may_reopen_numbering(world: World):
    deps = world.deps
    token = deps.epoch.begin_reopening(5)
    assert token is not None and deps.epoch.begin_reopening(5) is None
    deps.epoch.end_reopening(token)
    again = deps.epoch.begin_reopening(5)
    assert again is not None
    deps.epoch.end_reopening(again)


def test_idle_counters_are_read_with_their_highest_number_and_dropped_unless_used_since(world: World):
    deps, app_id = world.deps, ids()
    deps.reservations.reserve_chat_number(app_id, seed=lambda: 4)
    deps.reservations.reserve_message_number(app_id, 5, "a", seed=lambda: 0)
    found, cursor = [], 0
    while True:  # one whole pass
        cursor, step = deps.sweep.idle_counters(cursor, 100, 0)
        found += [c for c in step if c.application_id == app_id]
        if cursor == 0:
            break
    chat, messages = sorted(found, key=lambda c: c.chat_number or 0)
    assert (chat.chat_number, chat.highest, messages.chat_number, messages.highest) == (None, 5, 5, 1)
    deps.reservations.reserve_message_number(app_id, 5, "b", seed=lambda: 0)  # used since it was read
    assert deps.sweep.drop_counters([chat, messages]) == 1
    assert deps.reservations.chats_reserved(app_id) is None  # gone: MySQL knows them all
    assert deps.reservations.reserve_chat_number(app_id, seed=lambda: 5) == 6
    assert deps.reservations.reserve_message_number(app_id, 5, "c", seed=lambda: 0) == 3


def test_expiring_drops_the_records_past_their_time_in_every_scope(world: World, monkeypatch):
    from chalicelib.adapters.redis import idempotency
    from chalicelib.domain.request_keys import New, RequestKey

    keys = fakes.FakeKeys(ttl=0) if not world.real else world.deps.keys
    monkeypatch.setattr(idempotency, "RECORD_TTL_SECONDS", 0)  # every record is past its time
    scope = f"contract-{uuid.uuid4().hex}"
    keys.claim(scope, RequestKey("quiet", "d"))
    assert keys.expire() >= 1  # others' too, on the shared Redis
    assert isinstance(keys.claim(scope, RequestKey("quiet", "d")), New)
