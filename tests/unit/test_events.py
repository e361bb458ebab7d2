import json

import pytest

from chalicelib.domain import events
from chalicelib.domain.errors import InvalidEvent
from chalicelib.domain.events import MessageEdited
from chalicelib.domain.models import NewChat, NewMessage


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
