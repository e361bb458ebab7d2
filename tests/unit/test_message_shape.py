"""Every store answers a message with the same accept instant, author and edit time."""

import json

import pytest

from chalicelib.domain.models import Author, Chat, Message
from chalicelib.domain.times import rfc3339
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import service
from tests import fakes

ANA = Author("u-1", "Ana")


@pytest.fixture
def deps() -> fakes.FakeDeps:
    return fakes.deps()


@pytest.fixture
def token(deps: fakes.FakeDeps) -> str:
    return service.create_application(deps, "shape").token


def as_ana(deps: fakes.FakeDeps, token: str) -> str:
    """A user token of Ana's: what she sends is hers."""
    return service.issue_user_token(deps, token, Grant(ANA))[0]


def test_times_are_rfc3339_utc_with_milliseconds():
    assert rfc3339(1_765_000_000_005) == "2025-12-06T05:46:40.005Z"
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z" and rfc3339(None) is None


def test_a_message_answers_the_same_instant_and_author_queued_stored_and_searched(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, as_ana(deps, token), 1, "hello there")
    queued = service.get_message(deps, token, 1, 1)
    assert queued.author == ANA and queued.created_at_ms is not None and queued.edited_at_ms is None
    fakes.write_queued(deps)
    assert deps.numbering.pending == {}  # answered from MySQL from now on
    assert service.get_message(deps, token, 1, 1) == queued
    assert service.list_messages(deps, token, 1, 0, 10) == [queued]
    [found] = service.search_messages(deps, token, 1, ["hello"], 10).messages
    assert (found.created_at_ms, found.author) == (queued.created_at_ms, ANA)
    shown = queued.to_json()
    assert shown["created_at"] == rfc3339(queued.created_at_ms)
    assert shown["author"] == {"id": "u-1", "name": "Ana"} and shown["edited_at"] is None


def test_an_edit_keeps_the_accept_instant_and_author_and_says_when(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, as_ana(deps, token), 1, "first")
    created = service.get_message(deps, token, 1, 1)
    edited = service.edit_message(deps, token, 1, 1, "second")  # still queued: the row is written now
    assert edited.edited_at_ms is not None and edited.edited_at_ms >= (created.created_at_ms or 0)
    fakes.write_queued(deps)
    stored = service.get_message(deps, token, 1, 1)
    assert stored == Message(1, "second", created.created_at_ms, edited.edited_at_ms, ANA)
    [indexed] = service.search_messages(deps, token, 1, ["second"], 10).messages
    assert (indexed.created_at_ms, indexed.edited_at_ms, indexed.author) == (
        created.created_at_ms,
        edited.edited_at_ms,
        ANA,
    )


def test_a_chat_says_when_it_was_created_and_when_its_last_message_was(deps, token):
    service.create_chat(deps, token)
    assert service.get_chat(deps, token, 1) == Chat(1, 0)  # queued: no time to tell yet
    chat_event = json.loads(deps.queue.sent[0])
    fakes.write_queued(deps)
    chat = service.get_chat(deps, token, 1)
    assert chat.created_at_ms == chat_event["created_at_ms"] and chat.last_message_at_ms is None
    service.create_message(deps, token, 1, "one")
    service.create_message(deps, token, 1, "two")
    latest = service.get_message(deps, token, 1, 2).created_at_ms
    fakes.write_queued(deps)
    assert service.get_chat(deps, token, 1).last_message_at_ms == latest
    assert service.get_chat(deps, token, 1).to_json()["last_message_at"] == rfc3339(latest)
