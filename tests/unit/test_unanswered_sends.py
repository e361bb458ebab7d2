"""A keyed create whose queue send failed without an answer (service.py, once.Once), on the fakes.

The event may have been queued all the same. Its retry sends the same event again (number, body,
create id, accept instant) while numbering stays in the epoch the number was taken in, so the
writer stores it once; in another epoch the number may be someone else's, and MySQL says whether
the first attempt was stored.
"""

import json
import time

import boto3
import pytest

from chalicelib.adapters.sqs import queue
from chalicelib.domain.errors import InFlight, NotFound, NotQueued, Unavailable
from chalicelib.domain.models import Clash
from chalicelib.domain.numbering import RECOVERING
from chalicelib.domain.request_keys import RequestKey, Reserved
from chalicelib.usecases import service, writer
from chalicelib.usecases.once import Once
from tests import fakes


def key(name: str) -> RequestKey:
    return RequestKey(name, f"the request keyed {name}")


def sent(deps: fakes.FakeDeps, kind: str) -> list[dict]:
    return [e for e in map(json.loads, deps.queue.sent) if e["type"] == kind]


def written(deps: fakes.FakeDeps) -> list[Clash]:
    """Runs the writer on everything queued; the clashes it kept aside."""
    clashes: list[Clash] = []
    records = [(f"r-{i}", body) for i, body in enumerate(deps.queue.sent)]
    deps.queue.sent.clear()
    assert writer.persist_records(deps, records, clashes) == {}
    return clashes


def bodies(deps: fakes.FakeDeps, chat: int = 1) -> dict[int, str]:
    return {n: m.body for (_, c, n), m in sorted(deps.db.tables.messages.items()) if c == chat}


def failed_over(deps: fakes.FakeDeps, uptime: int = 600) -> None:
    """Redis fails over: the key records survive, numbering's epoch does not (it reopens from
    MySQL once `uptime` is past a request's time and the queue is empty)."""
    deps.numbering.restart()
    deps.numbering.uptime = uptime


def test_a_retry_after_a_lost_answer_sends_the_same_event_and_the_message_is_stored_once(deps, token):
    deps.queue.answers_lost = 1  # SQS queued it; the API never heard
    with pytest.raises(Unavailable) as first:
        service.create_message(deps, token, 1, "hello", key("m"))
    assert not isinstance(first.value, NotQueued)
    with pytest.raises(NotFound):
        service.get_message(deps, token, 1, 1)  # nobody was told 1: its body is not readable

    assert service.create_message(deps, token, 1, "hello", key("m")) == 1
    assert service.get_message(deps, token, 1, 1).body == "hello"  # readable at once, as after a 201
    one, again = sent(deps, "message")
    assert one == again  # the same number, body, create id, accept instant: one create told twice
    assert [(c, m.number) for _, c, m in deps.accept_push.told] == [(1, 1)]
    assert written(deps) == []  # no clash: the writer took the second copy as a replay
    assert bodies(deps) == {1: "hello"}
    assert service.create_message(deps, token, 1, "hello", key("m")) == 1  # and replays say so
    assert service.create_message(deps, token, 1, "next") == 2  # no gap either


def test_a_retry_after_a_send_that_queued_nothing_stores_it_under_the_same_number(deps, token):
    deps.queue.down = True  # no answer, nothing queued: the API cannot tell it from a lost answer
    with pytest.raises(Unavailable):
        service.create_chat(deps, token, key("c"))
    deps.queue.down = False
    assert service.create_chat(deps, token, key("c")) == 2
    assert [e["number"] for e in sent(deps, "chat")] == [1, 2]
    assert written(deps) == []
    assert sorted(deps.db.tables.chat_create_ids) == [(deps.db.application(token).id, n) for n in (1, 2)]


def test_a_refused_send_queued_nothing_and_its_retry_takes_a_new_number(deps, token):
    deps.queue.refusing = True  # SQS answered its one attempt with an error
    with pytest.raises(NotQueued):
        service.create_message(deps, token, 1, "refused", key("m"))
    deps.queue.refusing = False
    assert service.create_message(deps, token, 1, "refused", key("m")) == 2  # 1 is a gap, as before
    written(deps)
    assert bodies(deps) == {2: "refused"}


def test_a_retry_while_the_first_attempt_still_sends_is_told_to_wait(deps, token):
    retried: list[object] = []

    class RetriedWhileSending(fakes.FakeQueue):
        def send(self, body: str, deadline: float | None = None) -> None:
            if not retried and json.loads(body)["type"] == "message":
                try:
                    retried.append(service.create_message(deps, token, 1, "hello", key("m")))
                except InFlight as exc:
                    retried.append(exc)
            super().send(body, deadline)

    deps.queue = RetriedWhileSending()
    deps.queue.answers_lost = 1
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "hello", key("m"))
    assert [type(r) for r in retried] == [InFlight]  # 409 with Retry-After: the first still runs
    assert service.create_message(deps, token, 1, "hello", key("m")) == 1  # then its number, again
    assert written(deps) == [] and bodies(deps) == {1: "hello"}


def test_a_request_that_died_holding_its_number_leaves_it_to_the_retry_for_a_day(deps, token):
    app_id = deps.db.application(token).id
    # Killed between taking 2 and hearing from SQS: no exit ran, its record holds 2.
    number = deps.reservations.reserve_chat_number(app_id, seed=lambda: 1)
    Once(deps.keys, str(app_id), key("c")).held(Reserved(number, 1_765_000_000_000), time.monotonic() + 10)
    with pytest.raises(InFlight):
        service.create_chat(deps, token, key("c"))  # for a request's time it may still be running
    deps.keys.now += deps.keys.in_flight
    assert service.create_chat(deps, token, key("c")) == 2
    [event] = [e for e in sent(deps, "chat") if e["number"] == 2]
    assert event["created_at_ms"] == 1_765_000_000_000  # the event it may have sent, again
    deps.keys.now += 24 * 3600
    assert service.create_chat(deps, token, key("c")) == 3  # a day on, the key is another request's


def test_a_number_taken_as_numbering_moved_on_is_never_sent(deps, token, monkeypatch):
    reserve = deps.reservations.reserve_chat_number

    def then_failover(*args):
        number = reserve(*args)
        deps.numbering.restart()  # between the reservation and the send
        return number

    monkeypatch.setattr(deps.reservations, "reserve_chat_number", then_failover)
    with pytest.raises(NotQueued):
        service.create_chat(deps, token, key("c"))
    assert [e["number"] for e in sent(deps, "chat")] == [1]
    assert deps.keys.records[str(deps.db.application(token).id)] == {}  # released: nothing queued


def test_in_another_epoch_the_number_is_never_sent_again_and_the_retry_creates_once(deps, token):
    deps.queue.down = True
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "mine", key("m"))  # took 1, queued nothing
    deps.queue.down = False
    written(deps)
    failed_over(deps)
    assert service.create_message(deps, token, 1, "someone else's") == 1  # 1 is handed out again
    assert service.create_message(deps, token, 1, "mine", key("m")) == 2
    assert [(e["number"], e["body"]) for e in sent(deps, "message")] == [(1, "someone else's"), (2, "mine")]
    assert written(deps) == []
    assert bodies(deps) == {1: "someone else's", 2: "mine"}
    assert service.create_message(deps, token, 1, "mine", key("m")) == 2


def test_in_another_epoch_a_first_attempt_that_was_queued_is_found_in_mysql(deps, token):
    written(deps)  # the chat
    deps.queue.answers_lost = 1
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "mine", key("m"))
    failed_over(deps, uptime=0)  # found closed just now: requests of the old server may still send
    for _ in range(2):  # the retry waits, and keeps its claim for the next one
        with pytest.raises(Unavailable) as waiting:
            service.create_message(deps, token, 1, "mine", key("m"))
        assert waiting.value.message == RECOVERING
    assert deps.keys.records[str(deps.db.application(token).id)]["m"][1]["n"] == 1
    written(deps)  # numbering reopens only once the queue is empty: the first copy is in MySQL
    deps.numbering.uptime = 600
    assert service.create_message(deps, token, 1, "mine", key("m")) == 1
    assert service.create_message(deps, token, 1, "after") == 2
    assert [e["body"] for e in sent(deps, "message")] == ["after"]  # "mine" was not sent again
    written(deps)
    assert bodies(deps) == {1: "mine", 2: "after"}


def test_a_retry_whose_first_copy_went_to_the_dead_letter_queue_is_stored_once(deps, token):
    deps.queue.answers_lost = 1
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "hello", key("m"))
    deps.queue.dead.append(deps.queue.sent.pop())  # the writer failed it until SQS moved it
    assert service.create_message(deps, token, 1, "hello", key("m")) == 1
    written(deps)
    deps.queue.sent.append(deps.queue.dead.pop())  # an operator's redrive, later
    assert written(deps) == [] and bodies(deps) == {1: "hello"}


def test_in_another_epoch_a_first_attempt_in_the_dead_letter_queue_is_found_there(deps, token):
    written(deps)  # the chat
    deps.queue.answers_lost = 1
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "mine", key("m"))
    deps.queue.dead.append(deps.queue.sent.pop())  # the writer failed it until SQS moved it
    failed_over(deps)
    assert service.create_message(deps, token, 1, "someone else's") == 2  # 1 is the DLQ's: a floor
    assert service.create_message(deps, token, 1, "mine", key("m")) == 1  # found there, not made again
    assert [e["body"] for e in sent(deps, "message")] == ["someone else's"]
    deps.queue.sent.append(deps.queue.dead.pop())  # an operator's redrive
    assert written(deps) == [] and bodies(deps) == {1: "mine", 2: "someone else's"}


def test_a_message_number_that_could_not_be_held_leaves_no_readable_body(deps, token, monkeypatch):
    reserve = deps.reservations.reserve_message_number

    def then_keys_fail(*args):
        number = reserve(*args)  # its body is readable from here, as pending
        deps.keys.down = True  # and the key's record cannot take the number
        return number

    monkeypatch.setattr(deps.reservations, "reserve_message_number", then_keys_fail)
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "never told", key("m"))
    deps.keys.down = False
    assert sent(deps, "message") == []
    with pytest.raises(NotFound):
        service.get_message(deps, token, 1, 1)  # nobody was told 1


def test_the_queue_clients_attempts_and_timeouts_fit_in_the_send_bound():
    """Numbering's recovery relies on a send ending within SEND_BOUND_SECONDS; botocore's
    `max_attempts` counts retries, one attempt more than the bound once counted."""
    config = boto3.client("sqs", region_name="us-east-1", config=queue.CLIENT_CONFIG).meta.config
    attempts = config.retries["total_max_attempts"]
    assert attempts * (config.connect_timeout + config.read_timeout) < queue.SEND_BOUND_SECONDS
