"""Contracts of the SQS and Elasticsearch ports (ports.Queue, Indexer, Finder): fake and real alike."""

import random
import uuid

import pytest

from chalicelib.domain.errors import NotQueued
from chalicelib.domain.models import NewMessage, SearchPage
from chalicelib.usecases import ports
from tests import fakes

from .world import World


def test_a_sent_event_waits_in_the_queue(world: World):
    before = world.deps.queue.depth()
    world.deps.queue.send('{"type": "chat", "application_id": 1, "number": 1}')
    assert world.deps.queue.depth() == before + 1


def test_a_send_that_sqs_refuses_says_nothing_was_queued(world: World, request):
    refusing: ports.Queue
    if world.real:
        from chalicelib.adapters.sqs import queue

        gone = (
            request.getfixturevalue("contract_queue").rsplit("/", 1)[0] + f"/it-none-{uuid.uuid4().hex[:8]}"
        )
        refusing = queue.Queue(request.getfixturevalue("sqs"), gone)
    else:
        refusing = fakes.FakeQueue()
        refusing.refusing = True
    with pytest.raises(NotQueued):  # a keyed create's retry may then take another number
        refusing.send('{"type": "chat", "application_id": 1, "number": 1}')


def test_indexed_messages_are_found_by_every_word_within_their_chat_only(world: World):
    deps, app_id = world.deps, random.randrange(10**9, 2**32)
    assert (
        deps.indexer.index(
            [
                NewMessage(app_id, 1, 1, "hello wonderful world"),
                NewMessage(app_id, 1, 2, "hello there"),
                NewMessage(app_id, 2, 1, "hello world, other chat"),
            ]
        )
        == {}
    )
    world.refresh()
    assert {m.number for m in deps.finder.find(app_id, 1, ["hello"], 10).messages} == {1, 2}
    assert [m.number for m in deps.finder.find(app_id, 1, ["world", "hello"], 10).messages] == [1]
    assert deps.finder.find(app_id, 1, ["absent"], 10) == SearchPage([], None)
    assert deps.finder.find(app_id, 3, ["hello"], 10) == SearchPage([], None)


def test_following_the_pages_finds_each_hit_once(world: World):
    deps, app_id = world.deps, random.randrange(10**9, 2**32)
    assert deps.indexer.index([NewMessage(app_id, 1, n, f"hello {n}") for n in range(1, 8)]) == {}
    world.refresh()
    seen, after = [], None
    for _ in range(8):
        page = deps.finder.find(app_id, 1, ["hello"], 3, after)
        assert len(page.messages) == 3 or page.next is None
        seen += [m.number for m in page.messages]
        if (after := page.next) is None:
            break
    assert sorted(seen) == list(range(1, 8))


def test_a_version_never_goes_back_and_unindexing_spares_edits(world: World):
    deps, app_id = world.deps, random.randrange(10**9, 2**32)
    deps.indexer.index(
        [NewMessage(app_id, 1, 1, "edited body", version=2), NewMessage(app_id, 1, 2, "created")]
    )
    assert (
        deps.indexer.index([NewMessage(app_id, 1, 1, "late creation", version=1)]) == {}
    )  # a no-op, no failure
    assert deps.indexer.unindex_creations([(app_id, 1, 1), (app_id, 1, 2), (app_id, 1, 3)]) == {}
    world.refresh()
    assert [(m.number, m.body) for m in deps.finder.find(app_id, 1, ["body"], 10).messages] == [
        (1, "edited body")
    ]
    assert deps.finder.find(app_id, 1, ["created"], 10).messages == []
