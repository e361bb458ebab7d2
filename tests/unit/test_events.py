import json

import pytest

from chalicelib.domain import events
from chalicelib.domain.errors import InvalidEvent
from chalicelib.domain.events import MessageEdited
from chalicelib.domain.models import MAX_AUTHOR_CHARS, Author, NewChat, NewMessage


def test_each_event_reads_back_as_what_was_queued():
    assert events.parse(events.chat_created(7, 3)) == NewChat(7, 3)
    assert events.parse(events.message_created(7, 3, 9, "hi")) == NewMessage(7, 3, 9, "hi")
    assert events.parse(events.message_edited(7, 3, 9)) == MessageEdited(7, 3, 9)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        json.dumps({"type": "chat"}),
        json.dumps({"type": "chat", "application_id": "7", "number": 1}),
        json.dumps({"type": "chat", "application_id": 7, "number": 0}),
        json.dumps({"type": "chat", "application_id": 7, "number": True}),
        json.dumps({"type": "chat", "application_id": 2**40, "number": 1}),
        json.dumps({"type": "message", "application_id": 7, "chat_number": 1, "number": 1, "body": ""}),
        json.dumps({"type": "message", "application_id": 7, "chat_number": 1, "number": 1, "body": 5}),
        json.dumps({"type": "delete", "application_id": 7, "chat_number": 1, "number": 1}),
    ],
)
def test_malformed_events_are_refused_as_invalid(raw):
    with pytest.raises(InvalidEvent):
        events.parse(raw)


def test_a_create_id_travels_with_the_event_and_a_malformed_one_is_poison():
    create_id = "0123456789abcdef0123456789abcdef"
    assert events.parse(events.message_created(1, 2, 3, "hi", create_id)).create_id == create_id
    assert events.parse(events.chat_created(1, 2, create_id)).create_id == create_id
    assert events.parse(events.chat_created(1, 2)).create_id is None  # queued before create ids
    with pytest.raises(InvalidEvent):
        events.parse(events.chat_created(1, 2, "not-hex"))


def test_the_accept_instant_and_author_travel_with_the_event_and_old_events_still_parse():
    ana = Author("u-1", "Ana")
    raw = events.message_created(1, 2, 3, "hi", None, 1_765_000_000_123, ana)
    assert events.parse(raw) == NewMessage(1, 2, 3, "hi", created_at_ms=1_765_000_000_123, author=ana)
    assert events.parse(events.chat_created(1, 2, None, 1_765_000_000_001)).created_at_ms == 1_765_000_000_001
    old = json.dumps({"type": "message", "application_id": 1, "chat_number": 2, "number": 3, "body": "hi"})
    assert events.parse(old) == NewMessage(1, 2, 3, "hi")


@pytest.mark.parametrize(
    "extra",
    [
        {"created_at_ms": "1765000000123"},
        {"created_at_ms": -1},
        {"created_at_ms": True},
        {"author": "Ana"},
        {"author": {"id": "u-1"}},
        {"author": {"id": "", "name": "Ana"}},
        {"author": {"id": "u-1", "name": "x" * (MAX_AUTHOR_CHARS + 1)}},
    ],
)
def test_a_malformed_instant_or_author_makes_the_event_poison(extra):
    event = {"type": "message", "application_id": 1, "chat_number": 2, "number": 3, "body": "hi", **extra}
    with pytest.raises(InvalidEvent):
        events.parse(json.dumps(event))


def test_a_body_fits_the_queue_only_with_room_for_the_widest_author():
    widest = Author("\x01" * MAX_AUTHOR_CHARS, "\x01" * MAX_AUTHOR_CHARS)
    body = "a" * 255_000
    while not events.message_fits(body):
        body = body[:-100]
    event = events.message_created(2**32 - 1, 2**32 - 1, 2**32 - 1, body, "f" * 32, 2**53, widest)
    assert len(event.encode()) <= events.MAX_EVENT_BYTES
