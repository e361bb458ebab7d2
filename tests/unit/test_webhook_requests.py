"""What the delivery function reads from its work queues (edge/webhook_requests.work_items)."""

import json

import pytest

from chalicelib.edge.webhook_requests import in_slow_lane, work_items


def test_the_changes_topics_message_names_its_chats():
    body = json.dumps({"changes": [[7, 1, 12], [7, 2, 3], [9, 1, 1]]})
    assert work_items(body) == [(7, 1), (7, 2), (9, 1)]


def test_an_sns_envelope_and_the_workers_own_requests_are_read_too():
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps({"changes": [[7, 1, 12]]})})
    assert work_items(envelope) == [(7, 1)]
    assert work_items(json.dumps({"application_id": 3, "chat_number": 4})) == [(3, 4)]


def test_an_announcement_that_carries_more_is_read_for_its_chats_only():
    content = {"kind": "created", "message": {"number": 5, "body": "hi"}}
    body = {"changes": [[7, 1, 12, content], {"application_id": 7, "chat_number": 2, "position": 3}], "v": 2}
    assert work_items(json.dumps(body)) == [(7, 1), (7, 2)]


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[]", "{}", '{"changes": [[1, 2]]}', '{"changes": [["1", 2, 3]]}',
     '{"changes": [[0, 1, 1]]}', '{"application_id": true, "chat_number": 1}', '{"changes": 5}'],
)  # fmt: skip
def test_anything_else_names_no_chat(body):
    assert work_items(body) == []


def test_only_the_slow_lanes_own_requests_say_they_came_through_it():
    assert in_slow_lane(json.dumps({"application_id": 3, "chat_number": 4, "lane": "slow"}))
    assert work_items(json.dumps({"application_id": 3, "chat_number": 4, "lane": "slow"})) == [(3, 4)]
    for body in ('{"application_id": 3, "chat_number": 4}', '{"changes": [[7, 1, 12]]}', "[]", "not json"):
        assert not in_slow_lane(body)
