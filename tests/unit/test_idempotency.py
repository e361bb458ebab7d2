"""Requests under an Idempotency-Key (service.py with once.Once), against the fakes (tests/fakes.py)."""

import json
import secrets

import pytest

from chalicelib.domain.errors import BadRequest, InFlight, KeyBudgetSpent, KeyReused, Unavailable
from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.domain.request_keys import RecordLoss, RequestKey
from chalicelib.edge import http
from chalicelib.usecases import numbering, service
from tests import fakes


def key(name: str, request: str = "the request") -> RequestKey:
    return RequestKey(name, request)


def created(deps) -> list[tuple[str, int]]:
    return [(e["type"], e["number"]) for e in map(json.loads, deps.queue.sent) if e["type"] != "edit"]


def test_the_same_key_and_request_is_created_once_and_answers_the_same_number(deps, token):
    k = key("m-1")
    assert (
        service.create_message(deps, token, 1, "hi", k)
        == service.create_message(deps, token, 1, "hi", k)
        == 1
    )
    assert created(deps) == [("chat", 1), ("message", 1)]
    assert service.create_message(deps, token, 1, "hi", key("m-2")) == 2  # another key, another create


def test_another_request_with_the_key_is_refused_and_a_running_one_is_in_flight(deps, token):
    service.create_message(deps, token, 1, "hi", key("k", "body hi"))
    with pytest.raises(KeyReused):
        service.create_message(deps, token, 1, "other", key("k", "body other"))
    app_id = deps.db.application(token).id
    deps.keys.claim(str(app_id), key("busy"))
    with pytest.raises(InFlight):
        service.create_chat(deps, token, key("busy"))


def test_a_failed_request_releases_its_key_for_the_retry(deps, token):
    deps.queue.refusing = True  # SQS answered an error: nothing was queued
    with pytest.raises(Unavailable):
        service.create_chat(deps, token, key("c"))
    deps.queue.refusing = False
    assert service.create_chat(deps, token, key("c")) == 3  # 2 became a gap (never told)


def test_a_record_keeps_the_digest_and_the_number_never_a_body(deps, token):
    body = "a body of its own " * 100
    service.create_message(deps, token, 1, body, key("m", "digest-1"))
    service.edit_message(deps, token, 1, 1, body + " edited", key("e", "digest-2"))
    kept = json.dumps(deps.keys.records, default=str)
    assert "a body of its own" not in kept and "digest-1" in kept and "digest-2" in kept


def test_replays_of_edits_and_renames_answer_what_they_set(deps, token):
    edit = key("e", "set it to first")
    service.create_message(deps, token, 1, "created")
    assert service.edit_message(deps, token, 1, 1, "first", edit).body == "first"
    service.edit_message(deps, token, 1, 1, "second")
    assert service.edit_message(deps, token, 1, 1, "first", edit).body == "first"  # replayed, not run
    assert deps.db.message(deps.db.application(token).id, 1, 1).body == "second"
    rename = key("r", "rename to one")
    assert service.rename_application(deps, token, "one", rename).name == "one"
    service.rename_application(deps, token, "two")
    assert service.rename_application(deps, token, "one", rename).name == "one"
    assert deps.db.application(token).name == "two"


@pytest.mark.parametrize(("loss", "asked"), [(RecordLoss.NONE, False), (RecordLoss.POSSIBLE, True)])
def test_mysql_is_asked_only_while_redis_may_have_lost_records(deps, token, loss, asked):
    app_id = deps.db.application(token).id
    k = key("lost")
    deps.batches.persist([], [NewMessage(app_id, 1, 7, "hi", create_id=k.create_id(str(app_id)))])
    deps.keys.loss = loss
    assert service.create_message(deps, token, 1, "hi", k) == (7 if asked else 8)  # 8: a second create


def test_a_create_found_in_mysql_for_another_request_is_refused(deps, token):
    app_id = deps.db.application(token).id
    k = key("lost")
    deps.batches.persist([], [NewMessage(app_id, 1, 7, "first body", create_id=k.create_id(str(app_id)))])
    deps.keys.loss = RecordLoss.POSSIBLE
    with pytest.raises(KeyReused):
        service.create_message(deps, token, 1, "another body", k)


def test_a_create_in_the_dead_letter_queue_is_found_by_its_key_after_redis_lost_the_record(deps, token):
    assert service.create_message(deps, token, 1, "hi", key("dead")) == 1
    deps.queue.dead.append(deps.queue.sent.pop())  # the writer failed it until SQS moved it
    fakes.write_queued(deps)  # the chat
    deps.keys.records.clear()  # a failover to a replica that never got the record
    deps.numbering.restart()
    deps.numbering.uptime, deps.keys.loss = 600, RecordLoss.UNKNOWN
    assert service.create_message(deps, token, 1, "hi", key("dead")) == 1  # not a second create
    assert created(deps) == []
    assert service.create_message(deps, token, 1, "after") == 2


def test_with_numbering_closed_a_keyed_create_waits_for_it_to_reopen(deps, token, monkeypatch):
    monkeypatch.setattr(numbering, "reopen", lambda deps: False)
    deps.keys.loss = RecordLoss.UNKNOWN
    with pytest.raises(Unavailable):
        service.create_chat(deps, token, key("c"))
    assert list(deps.keys.records[str(deps.db.application(token).id)]) == []  # released


# -- the budget of records per application ---------------------------------------------------------


def test_over_its_budget_an_application_waits_while_its_records_are_recent(deps, token):
    deps.keys.most = 3
    for n in range(3):
        service.create_chat(deps, token, key(f"c{n}"))
    deps.keys.now = 100
    with pytest.raises(KeyBudgetSpent) as refused:
        service.create_chat(deps, token, key("one too many"))
    assert (refused.value.status, refused.value.retry_after) == (429, 500)
    # The same fields as every other 429: the budget is keyed requests within the safe age.
    answer = http.error_response(refused.value)
    assert answer.headers["Retry-After"] == "500"
    assert answer.headers["RateLimit-Policy"] == '"idempotency-keys";q=3;w=600'
    assert answer.headers["RateLimit"] == '"idempotency-keys";r=0;t=500'
    other = service.create_application(deps, "other").token
    assert service.create_chat(deps, other, key("c0")) == 1  # another application has its own budget
    assert service.create_chat(deps, token) == 5  # and without a key nothing is held back


def test_over_its_budget_old_records_make_room_and_their_retries_are_found_in_mysql(deps, token):
    deps.keys.most = 2
    app_id = deps.db.application(token).id
    first = service.create_chat(deps, token, key("first"))
    deps.batches.persist([NewChat(app_id, first, key("first").create_id(str(app_id)))], [])
    service.create_chat(deps, token, key("second"))
    deps.keys.now = 600
    service.create_chat(deps, token, key("third"))  # "first" makes room
    assert service.create_chat(deps, token, key("first")) == first  # found in MySQL, not created again
    assert created(deps).count(("chat", first)) == 1


# -- application creation: anyone may send a key ---------------------------------------------------


def test_a_key_of_fewer_than_128_bits_is_refused_on_application_creation(deps):
    for weak in ("k", "a" * 21, "0" * 31, "550e8400-e29b-41d4"):
        with pytest.raises(BadRequest):
            service.create_application(deps, "app", RequestKey(weak, "d"))
    assert service.create_application(deps, "app", RequestKey("0" * 32, "d")).name == "app"
    assert service.create_application(deps, "app", RequestKey("Z" * 22, "d")).name == "app"


def test_a_guessed_application_key_replays_nothing_to_another_address(deps):
    # A key long enough may still be guessable ("create-application-0001"): the same key and
    # name from another address is another create, never the first caller's token.
    key = RequestKey("create-application-0001", "d")
    first = service.create_application(deps, "acme", key, client="198.51.100.7")
    assert service.create_application(deps, "acme", key, client="198.51.100.7") == first  # a retry
    guessed = service.create_application(deps, "acme", key, client="203.0.113.9")
    assert guessed.token != first.token and guessed.id != first.id


def test_an_application_key_replays_only_its_own_request_and_reveals_nothing_else(deps):
    k = secrets.token_urlsafe(16)
    first = service.create_application(deps, "mine", RequestKey(k, "name mine"))
    assert service.create_application(deps, "mine", RequestKey(k, "name mine")).token == first.token
    theirs = service.create_application(deps, "theirs", RequestKey(k, "name theirs"))
    assert theirs.token != first.token  # another request: another application, no 422
    deps.tokens.down = True
    assert service.create_application(deps, "mine", RequestKey(k, "name mine")).token == first.token


def test_the_records_of_an_application_gone_quiet_leave_after_a_day(deps, token):
    from chalicelib.usecases import counter

    service.create_chat(deps, token, key("c"))
    deps.keys.now = 24 * 3600
    assert counter.expire_key_records(deps) == counter.Expiry(1)
    assert deps.keys.records[str(deps.db.application(token).id)] == {}
