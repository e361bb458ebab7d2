"""The change feed with fakes: positions per chat, compacted, announced after the commit."""

import pytest

from chalicelib.domain.changes import ChatChanged
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.usecases import service, writer
from tests import fakes


@pytest.fixture
def deps() -> fakes.FakeDeps:
    return fakes.deps()


@pytest.fixture
def token(deps: fakes.FakeDeps) -> str:
    return service.create_application(deps, "feed").token


def feed(deps, token, since=0, limit=50):
    return [
        (c.position, c.kind, c.message.number)
        for c in service.list_changes(deps, token, 1, since, limit).changes
    ]


def test_each_message_shows_once_at_its_latest_change_in_position_order(deps, token):
    service.create_chat(deps, token)
    for body in ("one", "two", "three"):
        service.create_message(deps, token, 1, body)
    fakes.write_queued(deps)
    assert feed(deps, token) == [(1, "created", 1), (2, "created", 2), (3, "created", 3)]
    service.edit_message(deps, token, 1, 1, "one, again")
    assert feed(deps, token) == [(2, "created", 2), (3, "created", 3), (4, "edited", 1)]
    assert feed(deps, token, since=3) == [(4, "edited", 1)]
    assert service.list_changes(deps, token, 1, 4, 50).last == 4
    assert service.get_chat(deps, token, 1).last_change == 4


def test_the_writer_announces_where_each_feed_moved_and_a_redelivery_moves_nothing(deps, token):
    app_id = deps.tokens.application_id(token)
    for _ in range(2):
        service.create_chat(deps, token)
    service.create_message(deps, token, 1, "a")
    service.create_message(deps, token, 2, "b")
    service.create_message(deps, token, 1, "c")
    batch = [(f"r-{i}", body) for i, body in enumerate(deps.queue.sent)]
    assert writer.persist_records(deps, batch) == {}
    # Each with where its chat's feed was before: the batch's changes of a chat are (since, position].
    assert deps.announcer.announced == [ChatChanged(app_id, 1, 2, 0), ChatChanged(app_id, 2, 1, 0)]
    assert writer.persist_records(deps, batch) == {}  # SQS delivered it again
    assert len(deps.announcer.announced) == 2 and feed(deps, token) == [(1, "created", 1), (2, "created", 2)]


def test_an_edit_before_its_creation_takes_the_position_and_the_creation_none(deps, token):
    app_id = deps.tokens.application_id(token)
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "queued")
    service.edit_message(deps, token, 1, 1, "edited while queued")
    assert deps.announcer.announced == [ChatChanged(app_id, 1, 1, 0)]
    fakes.write_queued(deps)
    assert feed(deps, token) == [(1, "edited", 1)]
    assert service.get_message(deps, token, 1, 1).body == "edited while queued"


class Broken:
    def announce(self, changes):
        raise RuntimeError("the topic is gone")


def test_a_broken_announcer_never_fails_a_write(deps, token):
    deps.announcer = Broken()
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "still written")
    fakes.write_queued(deps)
    assert service.edit_message(deps, token, 1, 1, "still edited").body == "still edited"
    assert feed(deps, token) == [(2, "edited", 1)]


def test_a_since_past_the_chat_feed_is_a_bad_request_and_a_queued_chat_has_an_empty_feed(deps, token):
    service.create_chat(deps, token)
    assert service.list_changes(deps, token, 1, 0, 50).changes == []  # queued: nothing yet
    with pytest.raises(BadRequest):
        service.list_changes(deps, token, 1, 1, 50)
    with pytest.raises(NotFound):
        service.list_changes(deps, token, 2, 0, 50)
    service.create_message(deps, token, 1, "x")
    fakes.write_queued(deps)
    with pytest.raises(BadRequest):
        service.list_changes(deps, token, 1, 2, 50)


def test_a_page_ends_where_the_next_starts(deps, token):
    service.create_chat(deps, token)
    for n in range(5):
        service.create_message(deps, token, 1, f"m{n}")
    fakes.write_queued(deps)
    first = feed(deps, token, 0, 2)
    second = feed(deps, token, first[-1][0], 2)
    third = feed(deps, token, second[-1][0], 2)
    assert [p for p, _, _ in first + second + third] == [1, 2, 3, 4, 5]
