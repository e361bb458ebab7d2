"""Webhook delivery (usecases/delivery.py) against the fakes: order, retries, isolation, dead letters."""

import pytest
from standardwebhooks import Webhook

from chalicelib.domain.deliveries import GIVE_UP_SECONDS, chat_created_event
from chalicelib.domain.errors import Unavailable
from chalicelib.domain.quotas import Decision, Quota
from chalicelib.domain.webhooks import EndpointChange, rfc3339
from chalicelib.usecases import delivery
from tests import fakes_webhooks

A, B = 1, 2  # two applications
URL_A, URL_B = "https://a.example/hook", "https://b.example/hook"
ALL = ("message.created", "message.edited", "message.deleted", "chat.created")


@pytest.fixture
def deps():
    return fakes_webhooks.delivery_deps()


def register(deps, app_id: int, url: str, events=ALL):
    deps.webhook_endpoints.now = deps.clock.now
    return deps.webhook_endpoints.insert(
        app_id, url, events, "", "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", 10
    )


def run(deps, *chats) -> int:
    return delivery.handle_work(deps, chats, None, deps.clock)


def positions(deps, url: str, chat: int | None = None) -> list[int]:
    return [
        e["data"]["position"] for e in deps.sender.events(url) if chat in (None, e["data"]["chat_number"])
    ]


def test_a_chats_changes_arrive_in_feed_order_once_each_with_a_verifiable_signature(deps):
    endpoint = register(deps, A, URL_A)
    deps.clock.advance(1)
    deps.feed.create_chat(A, 1)
    for n in (1, 2, 3):
        deps.feed.change(A, 1, n, "created", f"m{n}")
    assert run(deps, (A, 1), (A, 1)) == 4
    assert [e["type"] for e in deps.sender.events(URL_A)] == ["chat.created"] + ["message.created"] * 3
    assert positions(deps, URL_A) == [0, 1, 2, 3]
    _, headers, body = deps.sender.received[1]
    assert Webhook(endpoint.secret).verify(body, headers)["data"]["message"]["body"] == "m1"
    assert headers["webhook-id"] == "evt_1_1_1"
    assert run(deps, (A, 1)) == 0  # nothing new: nothing sent again


def test_two_applications_events_at_the_same_place_have_different_ids(deps):
    # A receiver serving several applications dedupes by webhook-id: it must not drop B's event as A's.
    register(deps, A, URL_A)
    register(deps, B, URL_A)
    deps.clock.advance(1)
    for app in (A, B):
        deps.feed.create_chat(app, 1)
        deps.feed.change(app, 1, 1, "created", f"from {app}")
    run(deps, (A, 1), (B, 1))
    ids = [headers["webhook-id"] for _, headers, _ in deps.sender.received]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_a_retry_repeats_the_event_byte_for_byte_timestamped_when_it_happened(deps):
    # Standard Webhooks: the body's timestamp is when the event occurred; a retry is the same message.
    register(deps, A, URL_A)
    deps.clock.advance(1)
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "x")
    happened = deps.clock.now
    deps.sender.down.add(URL_A)
    run(deps, (A, 1))
    [letter_body] = [body for _, _, body in deps.sender.tried]
    deps.sender.down.clear()
    deps.clock.advance(30)
    run(deps, (A, 1))
    created, message = deps.sender.events(URL_A)
    assert deps.sender.received[0][2] == letter_body  # the failed attempt's bytes, again
    assert created["timestamp"] == message["timestamp"] == rfc3339(happened)


@pytest.mark.parametrize(
    "change",
    [
        EndpointChange(url=URL_B),
        EndpointChange(enabled=False),
        EndpointChange(events=("chat.created",)),
        None,
    ],
)
def test_an_endpoint_changed_or_removed_mid_delivery_gets_nothing_more_as_it_was(deps, change):
    # A URL moved (an old domain lost), a receiver disabled or removed: not one more event to it.
    register(deps, A, URL_A)
    deps.clock.advance(1)
    deps.feed.create_chat(A, 1)
    for n in (1, 2, 3):
        deps.feed.change(A, 1, n, "created", f"m{n}")
    sends = deps.sender.send

    def then_change(url, headers, body, within=None):
        outcome = sends(url, headers, body, within)
        if change is None:
            deps.webhook_endpoints.delete(A, 1)
        else:
            deps.webhook_endpoints.update(A, 1, change)
        deps.sender.send = sends
        return outcome

    deps.sender.send = then_change
    run(deps, (A, 1))
    run(deps, *[chat for chat, _ in deps.work.requested])
    assert positions(deps, URL_A) == [0]
    if change is not None and change.url:
        assert positions(deps, URL_B) == [1, 2, 3]


def test_what_changed_before_the_endpoint_existed_is_not_sent(deps):
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "old")
    deps.clock.advance(1)
    register(deps, A, URL_A)
    deps.clock.advance(1)
    deps.feed.change(A, 1, 2, "created", "new")
    run(deps, (A, 1))
    assert [e["data"]["message"]["body"] for e in deps.sender.events(URL_A)] == ["new"]


def test_events_the_endpoint_did_not_ask_for_are_skipped_and_not_sent_later(deps):
    register(deps, A, URL_A, ("message.edited",))
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "a")
    deps.feed.change(A, 1, 2, "created", "b")
    deps.feed.change(A, 1, 1, "edited", "a2")  # message 1 moves to position 3
    run(deps, (A, 1))
    assert [(e["type"], e["data"]["position"]) for e in deps.sender.events(URL_A)] == [("message.edited", 3)]


def test_a_failed_delivery_holds_back_its_chat_only_and_is_retried_in_order(deps):
    register(deps, A, URL_A)
    register(deps, B, URL_B)
    for app in (A, B):
        deps.feed.create_chat(app, 1)
        deps.feed.change(app, 1, 1, "created", "x")
    deps.sender.down.add(URL_A)
    run(deps, (A, 1), (B, 1))
    assert positions(deps, URL_B) == [0, 1]  # the other application is not held back
    assert positions(deps, URL_A) == []
    (chat, delay) = (
        deps.work.requested[-1] if deps.work.requested[-1][0] == (A, 1) else deps.work.requested[0]
    )
    assert chat == (A, 1) and 0.8 <= delay <= 1.2

    deps.feed.change(A, 1, 2, "created", "y")
    run(deps, (A, 1))  # its retry is not due: nothing is tried, nothing overtakes
    assert positions(deps, URL_A) == []
    deps.sender.down.clear()
    deps.clock.advance(2)
    run(deps, (A, 1))
    assert positions(deps, URL_A) == [0, 1, 2]


def test_retries_back_off_exponentially(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.sender.down.add(URL_A)
    delays = []
    for _ in range(6):
        deps.work.requested.clear()
        run(deps, (A, 1))
        delays.append(deps.work.requested[-1][1])
        deps.clock.advance(delays[-1] + 0.01)
    for earlier, later in zip(delays, delays[1:], strict=False):
        assert 1.3 < later / earlier < 3.1
    assert deps.cursors.rows[(1, 1)].attempts == 6


def test_an_endpoint_that_fails_is_probed_once_per_backoff_not_once_per_chat(deps):
    register(deps, A, URL_A)
    for chat in (1, 2, 3):
        deps.feed.create_chat(A, chat)
    deps.sender.down.add(URL_A)
    run(deps, (A, 1))
    tried = deps.sender.attempts
    run(deps, (A, 2), (A, 3))  # backing off: these chats are not tried, they wait for the probe
    assert deps.sender.attempts == tried
    assert {chat: row.next_attempt_at for chat, row in deps.cursors.rows.items()} == dict.fromkeys(
        [(1, 1), (1, 2), (1, 3)], deps.webhook_endpoints.rows[1].retry_at
    )
    deps.sender.down.clear()
    deps.clock.advance(5)
    deps.work.requested.clear()
    run(deps, (A, 1))
    # Back: the chats that waited are handed out at once.
    assert {chat for chat, _ in deps.work.requested} >= {(A, 2), (A, 3)}
    run(deps, (A, 2), (A, 3))
    assert sorted(positions(deps, URL_A)) == [0, 0, 0]


def test_a_chat_announced_during_a_long_outage_is_delivered_after_the_sweeps_window(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.sender.down.add(URL_A)
    run(deps, (A, 1))  # the probe fails
    deps.feed.create_chat(A, 2)
    run(deps, (A, 2))  # announced while the endpoint backs off
    deps.sender.down.clear()
    deps.clock.advance(delivery.SWEEP_WINDOW_SECONDS * 3)  # the announcement is long out of the window
    deps.work.requested.clear()
    delivery.sweep(deps)
    assert {chat for chat, _ in deps.work.requested} == {(A, 1), (A, 2)}
    run(deps, *[chat for chat, _ in deps.work.requested])
    assert sorted(positions(deps, URL_A)) == [0, 0]


def test_after_a_day_of_refusals_the_event_is_dead_lettered_and_the_chat_moves_on(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "lost")
    deps.sender.down.add(URL_A)
    run(deps, (A, 1))
    deps.clock.advance(GIVE_UP_SECONDS)
    run(deps, (A, 1))
    [letter] = deps.dead_letters.of_application(A, 0, 10)
    assert (letter.event_type, letter.position) == ("chat.created", 0)
    deps.sender.down.clear()
    deps.clock.advance(1)
    run(deps, (A, 1))
    assert positions(deps, URL_A) == [1]
    assert deps.dead_letters.request_replay(A, letter.id) and not deps.dead_letters.request_replay(
        B, letter.id
    )
    assert delivery.replay(deps, 10) == 1 and delivery.replay(deps, 10) == 0
    assert positions(deps, URL_A) == [1, 0]


def dead_letters_asked_again(deps, app_id: int, url: str, count: int) -> None:
    endpoint = register(deps, app_id, url)
    for n in range(count):
        deps.dead_letters.add(endpoint, chat_created_event(app_id, n + 1, deps.clock.now), 20, "answered 500")
    for letter in deps.dead_letters.of_application(app_id, 0, count):
        deps.dead_letters.request_replay(app_id, letter.id)


def test_one_applications_replays_neither_crowd_out_anothers_nor_outrun_its_rate(deps):
    # A asks to replay more letters than a sweep sends, to a receiver still down; B asks after.
    class Five:
        def take(self, subject, kind):
            self.used = getattr(self, "used", {})
            self.used[subject] = self.used.get(subject, 0) + 1
            return Decision(Quota(kind, 5, 10), self.used[subject] <= 5, 0, 10)

    deps.delivery_rate = Five()
    dead_letters_asked_again(deps, A, URL_A, delivery.SWEEP_LIMIT)
    deps.sender.down.add(URL_A)
    deps.clock.advance(1)
    dead_letters_asked_again(deps, B, URL_B, 1)
    assert delivery.replay(deps, delivery.SWEEP_LIMIT, deps.clock) == 1
    assert positions(deps, URL_B) == [0]
    assert deps.sender.attempts <= 5 + 1  # A's attempts stay within its rate


def test_replays_stop_at_the_sweeps_time_budget(deps):
    dead_letters_asked_again(deps, A, URL_A, 100)
    sends = deps.sender.send

    def slow(url, headers, body, within=None):
        deps.clock.advance(8)  # a receiver that takes its whole timeout
        return sends(url, headers, body, within)

    deps.sender.send = slow
    replayed = delivery.replay(deps, delivery.SWEEP_LIMIT, deps.clock)
    assert 0 < replayed <= delivery.REPLAY_SECONDS / 8 + 1


def test_over_its_delivery_rate_an_application_waits_without_counting_a_failure(deps):
    class OneAtATime:
        def take(self, subject, kind):
            assert (subject, kind) == (f"application:{A}", "webhook-deliveries")
            self.used = getattr(self, "used", 0) + 1
            return Decision(Quota(kind, 1, 1), self.used <= 1, 0, 1)

    deps.delivery_rate = OneAtATime()
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "x")
    run(deps, (A, 1))
    assert positions(deps, URL_A) == [0]
    row = deps.cursors.rows[(1, 1)]
    assert row.attempts == 0 and row.failing_since is None and row.next_attempt_at is not None
    assert deps.webhook_endpoints.rows[1].failures == 0


def test_a_worker_that_finds_the_pair_held_makes_the_holder_read_again(deps):
    endpoint = register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    held = deps.cursors.claim(endpoint, 1, lambda: -1, 60)
    assert delivery.handle_work(deps, [(A, 1)], None, deps.clock) == 0  # held: it only asks for a recheck
    assert deps.cursors.release(held) is False  # the holder must read the feed once more
    assert deps.cursors.release(held) is True


def test_a_killed_workers_pair_is_handed_out_again_when_its_lease_runs_out(deps):
    endpoint = register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "x")
    deps.cursors.claim(endpoint, 1, lambda: -1, 60)  # a worker that died holding it
    assert delivery.sweep(deps)["behind"] == 0
    deps.clock.advance(61)
    assert delivery.sweep(deps)["behind"] == 1
    run(deps, (A, 1))
    assert positions(deps, URL_A) == [0, 1]


def test_a_disabled_endpoint_is_sent_nothing(deps):
    endpoint = register(deps, A, URL_A)
    deps.webhook_endpoints.rows[endpoint.id] = endpoint.__class__(**{**endpoint.__dict__, "enabled": False})
    deps.feed.create_chat(A, 1)
    assert run(deps, (A, 1)) == 0 and deps.sender.received == []


def test_at_the_deadline_a_worker_stops_between_events_and_queues_the_rest(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    for n in (1, 2):
        deps.feed.change(A, 1, n, "created", f"m{n}")
    delivery.handle_work(deps, [(A, 1)], deps.clock.now, deps.clock)
    assert positions(deps, URL_A) == [0]  # a round moves one event on at least, however late
    assert ((A, 1), 0) in deps.work.requested and deps.cursors.rows[(1, 1)].lease_id == ""
    delivery.handle_work(deps, [(A, 1)], deps.clock.now, deps.clock)
    assert positions(deps, URL_A) == [0, 1]
    run(deps, (A, 1))
    assert positions(deps, URL_A) == [0, 1, 2]


def test_an_application_whose_deliveries_all_run_waits_its_turn_without_trying(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.slots.taken[A] = deps.slots.most  # its slow receiver holds every slot
    assert run(deps, (A, 1)) == 0 and deps.sender.received == []
    assert deps.work.requested == [((A, 1), delivery.BUSY_RETRY_SECONDS)]
    deps.slots.taken[A] = 0
    assert run(deps, (A, 1)) == 1 and deps.slots.taken[A] == 0


def test_a_batch_runs_each_application_in_one_slot_and_retries_only_what_its_failed_store_held(
    deps, monkeypatch
):
    register(deps, A, URL_A)
    register(deps, B, URL_B)
    for chat in (1, 2, 3, 4, 5):
        deps.feed.create_chat(A, chat)
        deps.feed.change(A, chat, 1, "created", "x")
    deps.feed.create_chat(B, 1)
    deps.slots.most = 1  # ten records of one application do not come back "busy"
    read = deps.feed.changes

    def changes(application_id, chat_number, since, limit):
        if application_id == B:
            raise Unavailable("B's rows are on a server that is down")
        return read(application_id, chat_number, since, limit)

    monkeypatch.setattr(deps.feed, "changes", changes)
    work = {f"a{chat}": [(A, chat)] for chat in (1, 2, 3, 4, 5)} | {"b": [(B, 1)], "ab": [(A, 1), (B, 1)]}
    assert sorted(delivery.handle_batch(deps, work, 30)) == ["ab", "b"]
    assert sorted(positions(deps, URL_A)) == [0] * 5 + [1] * 5
    assert deps.work.requested == [] and deps.slots.taken == {A: 0, B: 0}


def test_a_sweep_that_cannot_read_the_feed_still_hands_out_due_retries(deps):
    register(deps, A, URL_A)
    deps.feed.create_chat(A, 1)
    deps.sender.down.add(URL_A)
    run(deps, (A, 1))
    deps.clock.advance(5)
    deps.feed.down = True
    deps.work.requested.clear()
    swept = delivery.sweep(deps)
    assert swept["due"] == 1 and swept["behind"] == 0 and deps.work.requested == [((A, 1), 0)]


def test_a_receiver_that_never_answers_goes_to_the_slow_lane_at_once_and_backs_off_there(deps):
    register(deps, A, URL_A, ["message.created"])
    register(deps, B, URL_B, ["message.created"])
    for app in (A, B):
        for chat in (1, 2):
            deps.feed.create_chat(app, chat)
            deps.feed.change(app, chat, 1, "created", "x")
    deps.sender.slow[URL_A] = 30  # accepts the connection, never answers in time
    run(deps, (A, 1))
    # Abandoned at the fast lane's budget: handed over at once, not a failure of the receiver.
    assert deps.work.requested_slow == [((A, 1), 0)] and deps.webhook_endpoints.rows[1].failures == 0
    tried = deps.sender.attempts
    # The fast lane hands A's chats to the slow lane untried, and delivers B's.
    assert run(deps, (A, 2), (B, 1), (B, 2)) == 2
    assert deps.sender.attempts == tried + 2 and deps.work.requested == []
    assert ((A, 2), 0) in deps.work.requested_slow
    # In the slow lane it times out within the full timeouts: a failure, backed off (A 2 waits
    # for the probe), then tried again and backed off further.
    deps.work.requested_slow.clear()
    delivery.handle_work(deps, [(A, 1), (A, 2)], None, deps.clock, slow=True)
    assert deps.sender.given[-1] is None and deps.webhook_endpoints.rows[1].failures == 1
    [(chat, delay)] = deps.work.requested_slow
    assert chat == (A, 1) and delay >= 0.8 and deps.sender.attempts == tried + 3
    deps.clock.advance(delay + 0.1)
    delivery.handle_work(deps, [(A, 1), (A, 2)], None, deps.clock, slow=True)
    assert deps.sender.attempts == tried + 4 and deps.webhook_endpoints.rows[1].failures == 2
    assert positions(deps, URL_B) == [1, 1] and positions(deps, URL_A) == []


def test_a_receivers_first_slow_answer_holds_the_fast_lane_its_budget_only(deps):
    # No mark yet: the first delivery to a receiver that answers in 2 s (in time for the full
    # timeouts) starts in the fast lane, beside another application's.
    register(deps, A, URL_A, ["message.created"])
    register(deps, B, URL_B, ["message.created"])
    for app in (A, B):
        deps.feed.create_chat(app, 1)
        deps.feed.change(app, 1, 1, "created", "x")
    deps.sender.slow[URL_A] = 2.0
    started = deps.clock.now
    assert delivery.handle_batch(deps, {"a": [(A, 1)], "b": [(B, 1)]}, 60, now=deps.clock) == []
    # The invocation is free for its next batch after the budget, not the receiver's 2 s.
    assert (deps.clock.now - started).total_seconds() <= delivery.FAST_ATTEMPT_SECONDS
    assert set(deps.sender.given) == {delivery.FAST_ATTEMPT_SECONDS} and positions(deps, URL_B) == [1]
    # A's chat is handed over as it was: the cursor not moved, no attempt counted, the pair free.
    assert deps.work.requested_slow == [((A, 1), 0)] and deps.work.requested == []
    row = deps.cursors.rows[(1, 1)]
    assert (row.delivered_position, row.attempts, row.lease_id, row.next_attempt_at) == (0, 0, "", None)
    assert deps.lanes.slow(A) and deps.webhook_endpoints.rows[1].failures == 0
    # More happens meanwhile; the slow lane sends it all, in order, within the full timeouts.
    deps.feed.change(A, 1, 2, "created", "y")
    deps.feed.change(A, 1, 3, "created", "z")
    assert delivery.handle_batch(deps, {"a": [(A, 1)]}, 60, slow=True, now=deps.clock) == []
    assert positions(deps, URL_A) == [1, 2, 3] and deps.sender.given[-1] is None
    # The abandoned send, which the receiver may have got, came again with the same id.
    [(_, abandoned, _)] = deps.sender.tried
    assert abandoned["webhook-id"] == deps.sender.received[1][1]["webhook-id"] == "evt_1_1_1"


def test_a_receiver_that_answers_slowly_in_time_takes_the_rest_of_its_chats_to_the_slow_lane(deps):
    register(deps, A, URL_A, ["message.created"])
    for chat in (1, 2, 3):
        deps.feed.create_chat(A, chat)
        deps.feed.change(A, chat, 1, "created", "x")
    deps.sender.slow[URL_A] = 2.0
    assert run(deps, (A, 1), (A, 2), (A, 3)) == 0  # abandoned at the budget: all go elsewhere
    assert deps.sender.attempts == 1 and deps.work.requested == []
    assert deps.work.requested_slow == [((A, 1), 0), ((A, 2), 0), ((A, 3), 0)]
    assert delivery.handle_work(deps, [(A, 1), (A, 2), (A, 3)], None, deps.clock, slow=True) == 3
    assert positions(deps, URL_A) == [1, 1, 1] and deps.webhook_endpoints.rows[1].failures == 0


def test_the_fast_lane_hands_a_slow_receivers_chats_over_even_when_redis_keeps_no_mark(deps, monkeypatch):
    # A Redis failover lost the marks, or Redis is down: the fast lane cannot remember the
    # application is slow, yet waits its budget on it once per batch at most.
    register(deps, A, URL_A, ["message.created"])
    for chat in (1, 2, 3):
        deps.feed.create_chat(A, chat)
        deps.feed.change(A, chat, 1, "created", "x")
    deps.sender.slow[URL_A] = 2.0
    monkeypatch.setattr(deps.lanes, "mark_slow", lambda application_id, seconds: None)
    started = deps.clock.now
    assert run(deps, (A, 1), (A, 2), (A, 3)) == 0
    assert (deps.clock.now - started).total_seconds() <= delivery.FAST_ATTEMPT_SECONDS
    assert deps.sender.attempts == 1 and deps.work.requested == []
    assert deps.work.requested_slow == [((A, 1), 0), ((A, 2), 0), ((A, 3), 0)]
    assert delivery.handle_work(deps, [(A, 1), (A, 2), (A, 3)], None, deps.clock, slow=True) == 3


def test_an_application_comes_back_to_the_fast_lane_a_while_after_its_last_slow_answer(deps):
    register(deps, A, URL_A, ["message.created"])
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "x")
    deps.sender.slow[URL_A] = 1.2  # slower than the fast lane's budget: it lives in the slow lane
    run(deps, (A, 1))
    assert delivery.handle_work(deps, [(A, 1)], None, deps.clock, slow=True) == 1
    deps.sender.slow.clear()  # fast again
    deps.feed.change(A, 1, 2, "created", "y")
    deps.work.requested_slow.clear()
    assert run(deps, (A, 1)) == 0 and deps.work.requested_slow == [((A, 1), 0)]
    deps.clock.advance(delivery.SLOW_LANE_SECONDS)
    assert run(deps, (A, 1)) == 1 and positions(deps, URL_A) == [1, 2]


def test_in_the_fast_lane_an_application_has_a_share_of_the_invocation_then_queues_again(deps):
    register(deps, A, URL_A, ["message.created"])
    register(deps, B, URL_B, ["message.created"])
    for chat in range(1, 11):
        deps.feed.create_chat(A, chat)
        deps.feed.change(A, chat, 1, "created", "x")
    deps.feed.create_chat(B, 1)
    deps.feed.change(B, 1, 1, "created", "x")
    deps.sender.slow[URL_A] = 0.9  # under the slow lane's bar, but ten of them
    work = {f"a{chat}": [(A, chat)] for chat in range(1, 11)} | {"b": [(B, 1)]}
    assert delivery.handle_batch(deps, work, 60, now=deps.clock) == []
    sent = len(positions(deps, URL_A))
    assert 0 < sent < 10 and positions(deps, URL_B) == [1]
    assert [chat for chat, _ in deps.work.requested] == [(A, c) for c in range(sent + 1, 11)]


def test_a_chat_announced_faster_than_its_receiver_answers_holds_the_fast_lane_its_share_only(deps):
    # A receiver answers each event in 0.9 s (under the slow lane's bar) and its tenant posts
    # to the chat faster than that: each new message's work finds the pair held and asks its
    # holder to read the feed again. The holder does while it has time, then queues the chat
    # for the next worker and lets the pair go, instead of reading again past its deadline
    # (and the function's timeout, with the other tenants' records of its batch).
    register(deps, A, URL_A, ["message.created"])
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "m1")
    deps.sender.slow[URL_A] = 0.9
    answer = deps.sender.send
    posted = [1]

    def send_while_the_tenant_posts(url, headers, body, within=None):
        outcome = answer(url, headers, body, within)
        if posted[-1] < 100:  # 90 s of answers: bounded, so that the old loop ends too
            posted.append(posted[-1] + 1)
            deps.feed.change(A, 1, posted[-1], "created", f"m{posted[-1]}")
            assert run(deps, (A, 1)) == 0  # another worker: the pair is held, it asks for a recheck
        return outcome

    deps.sender.send = send_while_the_tenant_posts
    started = deps.clock.now
    assert delivery.handle_batch(deps, {"a": [(A, 1)]}, 60, now=deps.clock) == []
    took = (deps.clock.now - started).total_seconds()
    assert took <= delivery.FAST_SHARE_SECONDS + delivery.FAST_ATTEMPT_SECONDS
    sent = positions(deps, URL_A)
    assert sent == list(range(1, len(sent) + 1)) and len(sent) < len(posted)
    # The rest goes on in the next worker, from the cursor: queued, the pair free.
    assert ((A, 1), 0) in deps.work.requested
    row = deps.cursors.rows[(1, 1)]
    assert (row.delivered_position, row.lease_id) == (len(sent), "")
    deps.sender.send = answer
    assert run(deps, (A, 1)) == len(posted) - len(sent) and positions(deps, URL_A) == posted


def test_in_the_slow_lane_a_chat_of_many_slow_endpoints_ends_within_the_functions_time(deps):
    # A tenant's ten endpoints each answer in 4.9 s, in time for the full timeouts: one chat's
    # deliveries would take 98 s, past the function's 60 s (the batch, other tenants' records
    # too, back after the queue's visibility timeout). The endpoints not started by the deadline
    # wait for the next worker, and one started sends one event past it, not two.
    for n in range(10):
        register(deps, A, f"https://a{n}.example/hook")
        deps.sender.slow[f"https://a{n}.example/hook"] = 4.9
    deps.clock.advance(1)
    deps.feed.create_chat(A, 1)
    deps.feed.change(A, 1, 1, "created", "x")
    started = deps.clock.now
    assert delivery.handle_batch(deps, {"a": [(A, 1)]}, 60, slow=True, now=deps.clock) == []
    took = (deps.clock.now - started).total_seconds()
    assert took <= 60 - delivery.FINISH_SECONDS + 4.9  # the deadline, and the one send under way
    assert ((A, 1), 0) in deps.work.requested_slow  # the rest goes on in the next worker
    deps.sender.slow.clear()
    while deps.work.requested_slow:
        deps.work.requested_slow.clear()
        delivery.handle_batch(deps, {"a": [(A, 1)]}, 60, slow=True, now=deps.clock)
    assert all(positions(deps, f"https://a{n}.example/hook") == [0, 1] for n in range(10))
