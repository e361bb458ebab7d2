"""The API's use cases (chalicelib/usecases/service.py) and their decisions, against the fakes: no service."""

import json

import pytest

from chalicelib.domain.errors import NotFound, RateLimited, Unavailable
from chalicelib.domain.models import Message, NewChat, NewMessage
from chalicelib.domain.tokens import token_hash
from chalicelib.usecases import service
from tests import fakes


@pytest.fixture
def deps() -> fakes.FakeDeps:
    return fakes.deps(request_timeout_seconds=10)


@pytest.fixture
def token(deps: fakes.FakeDeps) -> str:
    return service.create_application(deps, "app").token


def events(deps: fakes.FakeDeps) -> list[dict]:
    return [json.loads(body) for body in deps.queue.sent]


# -- applications ----------------------------------------------------------------------------------


def test_a_new_application_is_cached_by_token_so_creates_skip_mysql(deps, token):
    assert deps.tokens.ids == {token_hash(token): deps.db.application(token).id}  # by hash
    assert service.create_chat(deps, token) == 1  # seeds the counter from MySQL
    deps.db.tables.down = True
    assert service.create_chat(deps, token) == 2  # token and counter from Redis alone


def test_an_unknown_token_is_404_and_is_not_cached(deps):
    with pytest.raises(NotFound):
        service.create_chat(deps, "no-such-token")
    assert deps.tokens.ids == {}


def test_a_token_is_found_in_mysql_when_the_cache_is_down(deps, token):
    deps.tokens.down = True
    assert service.get_application(deps, token).name == "app"
    assert service.create_chat(deps, token) == 1


# -- chats -----------------------------------------------------------------------------------------


def test_chats_are_numbered_from_one_and_queued(deps, token):
    assert [service.create_chat(deps, token) for _ in range(3)] == [1, 2, 3]
    assert [e["number"] for e in events(deps) if e["type"] == "chat"] == [1, 2, 3]


def test_a_counter_missing_in_an_open_epoch_is_seeded_from_mysql(deps, token):
    app_id = deps.db.application(token).id
    deps.batches.persist([NewChat(app_id, n) for n in (1, 2, 3, 4)], [])
    assert service.create_chat(deps, token) == 5


def test_a_queued_chat_reads_as_empty_before_the_writer_has_it(deps, token):
    service.create_chat(deps, token)
    chat = service.get_chat(deps, token, 1)
    assert (chat.number, chat.messages_count) == (1, 0)
    with pytest.raises(NotFound):
        service.get_chat(deps, token, 2)


def test_a_message_to_a_chat_never_created_is_404(deps, token):
    with pytest.raises(NotFound):
        service.create_message(deps, token, 1, "hello")
    assert deps.queue.sent == []


def test_while_redis_cannot_say_a_chat_unknown_to_mysql_is_503_not_404(deps, token):
    # A 404 could deny a chat that sits in the queue: the client is told to retry instead.
    service.create_chat(deps, token)
    deps.numbering.down = True
    with pytest.raises(Unavailable):
        service.list_messages(deps, token, 1, 0, 10)


def test_while_redis_cannot_say_a_chat_mysql_has_is_served(deps, token):
    app_id = deps.db.application(token).id
    deps.batches.persist([NewChat(app_id, 1)], [])
    deps.numbering.down = True
    assert service.list_messages(deps, token, 1, 0, 10) == []


# -- messages --------------------------------------------------------------------------------------


def test_a_queued_message_reads_back_from_its_pending_body(deps, token):
    service.create_chat(deps, token)
    assert service.create_message(deps, token, 1, "hello") == 1
    assert service.get_message(deps, token, 1, 1).body == "hello"
    event = events(deps)[-1]
    assert len(event.pop("create_id")) == 32  # minted per create: the writer tells replays from clashes
    assert event.pop("created_at_ms") == service.get_message(deps, token, 1, 1).created_at_ms
    assert event == {
        "type": "message",
        "application_id": deps.db.application(token).id,
        "chat_number": 1,
        "number": 1,
        "body": "hello",
    }


def test_a_message_whose_event_could_not_be_queued_is_503_and_unreadable(deps, token):
    service.create_chat(deps, token)
    deps.queue.down = True
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "lost in transit")
    deps.queue.down = False
    with pytest.raises(NotFound):
        service.get_message(deps, token, 1, 1)  # its number is a gap, never a body nobody stored


def test_a_message_is_404_when_neither_mysql_nor_redis_has_it(deps, token):
    service.create_chat(deps, token)
    with pytest.raises(NotFound):
        service.get_message(deps, token, 1, 1)


def test_a_message_the_writer_stores_while_it_is_read_is_found(deps, token, monkeypatch):
    # The writer commits the row, then drops the pending body: a read that missed the row just
    # before the commit finds no body after the drop, and must look at MySQL again, not answer 404.
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "in flight")
    queued = NewMessage(deps.db.application(token).id, 1, 1, "in flight")
    read_pending = deps.pending.pending_message

    def writer_commits_first(*key: int) -> Message | None:
        deps.batches.persist([NewChat(queued.application_id, 1)], [queued])
        deps.changes.record_persisted([], [queued])
        return read_pending(*key)

    monkeypatch.setattr(deps.pending, "pending_message", writer_commits_first)
    assert service.get_message(deps, token, 1, 1).body == "in flight"


def test_an_edit_of_a_queued_message_writes_the_row_and_queues_a_reindex(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "first")
    assert service.edit_message(deps, token, 1, 1, "second").body == "second"
    app_id = deps.db.application(token).id
    assert deps.db.tables.messages[(app_id, 1, 1)].version == 2
    assert events(deps)[-1] == {"type": "edit", "application_id": app_id, "chat_number": 1, "number": 1}


def test_an_edit_of_a_message_that_does_not_exist_is_404_and_writes_nothing(deps, token):
    service.create_chat(deps, token)
    with pytest.raises(NotFound):
        service.edit_message(deps, token, 1, 1, "ghost")
    assert deps.db.tables.messages == {}


# -- numbering after Redis came back empty ---------------------------------------------------------


def restarted(deps: fakes.FakeDeps, uptime: int, queued: int) -> None:
    deps.numbering.restart()
    deps.numbering.uptime = uptime
    deps.queue.sent = ["event"] * queued


def test_no_number_is_handed_out_while_requests_of_the_old_lifetime_may_run(deps, token):
    restarted(deps, uptime=deps.request_timeout_seconds, queued=0)
    with pytest.raises(Unavailable):
        service.create_chat(deps, token)
    assert deps.numbering.epoch is None


def test_no_number_is_handed_out_while_the_queue_holds_events(deps, token):
    restarted(deps, uptime=600, queued=1)
    with pytest.raises(Unavailable):
        service.create_chat(deps, token)
    assert deps.numbering.epoch is None


def test_numbering_reopens_from_mysql_once_the_old_lifetime_is_over(deps, token):
    app_id = deps.db.application(token).id
    deps.batches.persist([NewChat(app_id, 1), NewChat(app_id, 2)], [])
    restarted(deps, uptime=600, queued=0)
    assert service.create_chat(deps, token) == 3
    assert deps.numbering.epoch is not None


def test_a_reservation_failing_inside_an_open_epoch_is_503_and_keeps_the_epoch(deps, token, monkeypatch):
    def timed_out(*args, **kwargs):
        raise Unavailable("the number service (Redis) is unavailable")

    monkeypatch.setattr(deps.reservations, "reserve_chat_number", timed_out)
    deps.numbering.uptime = 600
    with pytest.raises(Unavailable):
        service.create_chat(deps, token)
    assert deps.numbering.epoch == "test" and deps.queue.sent == []


# -- search ----------------------------------------------------------------------------------------


def test_search_of_a_chat_never_created_is_404(deps, token):
    with pytest.raises(NotFound):
        service.search_messages(deps, token, 1, ["hello"], 10)


# -- quotas ----------------------------------------------------------------------------------------


def test_a_create_over_the_quota_is_refused_before_a_number_is_taken(deps, token):
    deps.limits = fakes.FakeRateLimits({"creates": 2, "edits": 1, "searches": 1})
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "hello")
    with pytest.raises(RateLimited) as refused:
        service.create_message(deps, token, 1, "one too many")
    assert refused.value.status == 429 and refused.value.retry_after == 60
    assert deps.pending.pending_message(deps.tokens.application_id(token), 1, 2) is None
    assert len(events(deps)) == 2
    service.edit_message(deps, token, 1, 1, "edited")
    with pytest.raises(RateLimited):
        service.edit_message(deps, token, 1, 1, "again")


def test_an_unknown_token_is_404_before_any_quota_is_counted(deps):
    deps.limits = limits = fakes.FakeRateLimits({"creates": 1})
    with pytest.raises(NotFound):
        service.create_chat(deps, "no-such-token")
    assert limits.used == {}


READS = {
    "get_application": lambda deps, token: service.get_application(deps, token),
    "list_chats": lambda deps, token: service.list_chats(deps, token, 0, 10),
    "get_chat": lambda deps, token: service.get_chat(deps, token, 1),
    "list_messages": lambda deps, token: service.list_messages(deps, token, 1, 0, 10),
    "get_message": lambda deps, token: service.get_message(deps, token, 1, 1),
}


@pytest.mark.parametrize("read", READS)
def test_every_read_counts_against_the_applications_read_quota(deps, token, read):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "hello")
    deps.limits = limits = fakes.FakeRateLimits({"reads": 2})
    READS[read](deps, token)
    READS[read](deps, token)
    with pytest.raises(RateLimited) as refused:
        READS[read](deps, token)
    assert refused.value.policy == "reads"
    # Another application reads on.
    other = service.create_application(deps, "other").token
    deps.limits = fakes.FakeRateLimits({"reads": 2})
    assert service.get_application(deps, other).name == "other"
    assert set(limits.used) == {(f"application:{deps.db.application(token).id}", "reads")}


def test_applications_are_limited_per_client_address_and_in_all(deps):
    deps.limits = fakes.FakeRateLimits({"applications-per-address": 2, "applications": 3})
    for _ in range(2):
        service.create_application(deps, "mine", client="203.0.113.7")
    with pytest.raises(RateLimited) as refused:
        service.create_application(deps, "one too many", client="203.0.113.7")
    assert refused.value.policy == "applications-per-address"
    service.create_application(deps, "another address", client="198.51.100.1")
    with pytest.raises(RateLimited) as refused:
        service.create_application(deps, "everyone's quota is used up", client="192.0.2.1")
    assert refused.value.policy == "applications"
    assert len(deps.db.tables.applications) == 3


def test_one_request_at_a_time_reads_the_dead_letters_and_reopens(deps, token):
    restarted(deps, uptime=600, queued=0)
    deps.epoch.begin_reopening(30)  # another request is reading the DLQ: its floors come first
    with pytest.raises(Unavailable):
        service.create_chat(deps, token)
    assert deps.numbering.epoch is None


def test_numbering_reopens_above_the_numbers_in_the_dead_letter_queue(deps, token):
    from chalicelib.domain import events as event_bodies

    app_id = deps.db.application(token).id
    deps.batches.persist([NewChat(app_id, 1)], [])
    restarted(deps, uptime=600, queued=0)
    deps.queue.dead = [event_bodies.chat_created(app_id, 4), event_bodies.message_created(app_id, 1, 7, "x")]
    assert service.create_chat(deps, token) == 5
    assert service.create_message(deps, token, 1, "after") == 8


# -- search ----------------------------------------------------------------------------------------


def test_search_is_told_the_chats_size_and_answers_without_it_when_mysql_cannot_say(deps, token):
    # The size picks how Elasticsearch ranks (the one scored query in a small chat); without
    # MySQL the search still answers, the way that suits any size.
    service.create_chat(deps, token)
    app_id = deps.db.application(token).id
    messages = [NewMessage(app_id, 1, n, "hi") for n in (1, 2, 3)]
    deps.batches.persist([NewChat(app_id, 1)], messages)
    deps.indexer.index(messages)
    deps.counts.refresh_counts()
    assert [m.number for m in service.search_messages(deps, token, 1, ["hi"], 20).messages] == [3, 2, 1]
    deps.db.tables.down = True
    assert [m.number for m in service.search_messages(deps, token, 1, ["hi"], 20).messages] == [3, 2, 1]
    assert deps.finder.chat_sizes == [3, None]
