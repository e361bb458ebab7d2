"""The delivery state ports: the fakes (tests/fakes_webhooks.py) and MySQL behave alike —
leases, rechecks, retries, the endpoint's backoff and dead letters."""

import time
import uuid

import pytest

from chalicelib.domain.deliveries import LeaseLost, chat_created_event
from tests import fakes_webhooks

EVENTS = ("message.created", "chat.created")


class World:
    def __init__(self, deps, clock=None):
        self.deps, self.clock = deps, clock

    def wait(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            time.sleep(seconds)


@pytest.fixture(params=["fake", "real"])
def world(request):
    if request.param == "fake":
        deps = fakes_webhooks.delivery_deps()
        app_id = 1
        world = World(deps, deps.clock)
    else:
        deps = request.getfixturevalue("deps")
        app_id = deps.db.insert_application(f"c-{uuid.uuid4().hex}", "contract").id
        world = World(deps)
    world.app_id = app_id
    world.endpoint = deps.webhook_endpoints.insert(app_id, "https://a.example/x", EVENTS, "", "whsec_AAAA", 5)
    return world


def test_a_pair_first_seen_starts_where_told_and_one_worker_holds_it(world):
    cursors, endpoint = world.deps.cursors, world.endpoint
    held = cursors.claim(endpoint, 7, lambda: -1, 60)
    assert (held.delivered_position, held.attempts) == (-1, 0)
    assert cursors.claim(endpoint, 7, lambda: 99, 60) is None  # held; the start is not read again
    assert cursors.release(held) is False  # the other worker asked for a recheck
    assert cursors.release(held) is True
    again = cursors.claim(endpoint, 7, lambda: 99, 60)
    assert again.delivered_position == -1 and again.lease_id != held.lease_id


def test_advancing_moves_the_cursor_and_a_lost_lease_is_told(world):
    cursors, endpoint = world.deps.cursors, world.endpoint
    held = cursors.claim(endpoint, 8, lambda: -1, 1)
    held = cursors.advance(held, 3)
    assert held.delivered_position == 3
    world.wait(1.2)  # the lease ran out: another worker takes the pair
    other = cursors.claim(endpoint, 8, lambda: -1, 60)
    assert other.delivered_position == 3
    with pytest.raises(LeaseLost):
        cursors.advance(held, 4)
    cursors.release(other)


def test_a_failure_schedules_the_retry_and_the_pair_is_due_then(world):
    cursors, endpoint = world.deps.cursors, world.endpoint
    held = cursors.claim(endpoint, 9, lambda: 0, 60)
    cursors.failed(held, "answered 500", 0.5)
    assert cursors.claim(endpoint, 9, lambda: 0, 60) is None  # not due yet
    assert (world.app_id, 9) not in cursors.due(1000)
    world.wait(0.7)
    assert (world.app_id, 9) in cursors.due(1000)
    assert cursors.due(1000, world.endpoint.id) == [(world.app_id, 9)]
    retry = cursors.claim(endpoint, 9, lambda: 0, 60)
    assert retry.attempts == 1 and retry.failing_since is not None
    assert cursors.advance(retry, 1).attempts == 0
    cursors.release(retry)


def test_a_chat_that_waits_for_its_endpoints_backoff_is_due_with_the_probe(world):
    cursors, endpoint = world.deps.cursors, world.endpoint
    cursors.endpoint_failed(endpoint.id, 0.5)
    failing = world.deps.webhook_endpoints.get(world.app_id, endpoint.number)
    cursors.hold(failing, 10, lambda: -1, failing.retry_at)
    assert cursors.claim(endpoint, 10, lambda: 99, 60) is None
    assert cursors.due(1000, endpoint.id) == []
    world.wait(0.7)
    assert cursors.due(1000, endpoint.id) == [(world.app_id, 10)]
    held = cursors.claim(endpoint, 10, lambda: 99, 60)
    assert held.delivered_position == -1  # made by the hold, from its start
    assert cursors.release(held) is True
    assert cursors.due(1000, endpoint.id) == []  # let go with nothing left: nothing is due


def test_an_endpoint_backs_off_until_it_recovers(world):
    cursors, endpoints, endpoint = world.deps.cursors, world.deps.webhook_endpoints, world.endpoint
    cursors.endpoint_failed(endpoint.id, 60)
    failing = endpoints.get(world.app_id, endpoint.number)
    assert failing.failures == 1 and failing.retry_at is not None
    assert cursors.endpoint_recovered(endpoint.id) is True
    assert cursors.endpoint_recovered(endpoint.id) is False
    assert endpoints.get(world.app_id, endpoint.number).retry_at is None


def test_a_dead_letter_is_listed_replayed_once_asked_and_kept_per_application(world):
    letters, endpoint = world.deps.dead_letters, world.endpoint
    event = chat_created_event(endpoint.application_id, 4, endpoint.created_at)
    letters.add(endpoint, event, 17, "could not connect")
    [letter] = letters.of_application(world.app_id, 0, 10)
    assert (letter.chat_number, letter.position, letter.event_id, letter.payload) == (
        4,
        0,
        event.id,
        event.body,
    )
    assert (letter.attempts, letter.last_error, letter.endpoint_number) == (
        17,
        "could not connect",
        endpoint.number,
    )
    assert [d for d, _ in letters.replays_due(1000, 1000) if d.id == letter.id] == []
    assert letters.request_replay(world.app_id, letter.id)
    assert not letters.request_replay(world.app_id + 10**9, letter.id)
    [(due, to)] = [(d, e) for d, e in letters.replays_due(1000, 1000) if d.id == letter.id]
    assert to.id == endpoint.id
    letters.replayed(letter.id)
    assert [d for d, _ in letters.replays_due(1000, 1000) if d.id == letter.id] == []


def test_replays_due_are_at_most_so_many_of_one_application_oldest_first(world):
    letters, endpoint = world.deps.dead_letters, world.endpoint
    for chat in (5, 6, 7):
        letters.add(endpoint, chat_created_event(endpoint.application_id, chat, endpoint.created_at), 9, "x")
    for letter in letters.of_application(world.app_id, 0, 10):
        assert letters.request_replay(world.app_id, letter.id)
    mine = [d.chat_number for d, e in letters.replays_due(1000, 2) if e.application_id == world.app_id]
    assert mine == [5, 6]


def test_an_applications_slots_run_out_and_come_back(world):
    if world.clock is None:
        from chalicelib.adapters.redis.delivery_slots import DeliverySlots

        slots = DeliverySlots(world.deps.redis, 2)
    else:
        slots = fakes_webhooks.FakeSlots(2)
    assert slots.take(world.app_id) and slots.take(world.app_id)
    assert not slots.take(world.app_id)
    slots.give_back(world.app_id)
    assert slots.take(world.app_id)
    slots.give_back(world.app_id)
    slots.give_back(world.app_id)


def test_an_application_marked_slow_is_so_until_its_mark_runs_out(world):
    lanes = world.deps.lanes
    assert not lanes.slow(world.app_id)
    lanes.mark_slow(world.app_id, 0.5)  # whole seconds: at least one
    world.wait(0.6)
    assert lanes.slow(world.app_id) and not lanes.slow(world.app_id + 1_000_000)
    lanes.mark_slow(world.app_id, 1)  # a later mark counts from now
    world.wait(1.3)
    assert not lanes.slow(world.app_id)
