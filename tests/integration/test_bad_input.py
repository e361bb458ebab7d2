"""Bad input gets a clear 4xx in our error shape, and changes nothing."""

import json

import pytest

from tests.integration.support import call


@pytest.mark.parametrize(
    "body", ["", "{", "[]", '"name"', "null", '{"name": ""}', '{"name": 5}', '{"nom": "x"}']
)
def test_application_bodies_must_be_an_object_with_a_name(client, body):
    status, error = call(client, "post", "/applications", body)
    assert status == 400 and error["code"] == "bad_request" and error["message"]


def test_invalid_utf8_is_a_bad_request(client):
    assert call(client, "post", "/applications", b'{"name": "\xff"}')[0] == 400


def test_an_oversized_message_body_is_refused_and_takes_no_number(client, application, writer):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    status, error = call(
        client, "post", f"/applications/{token}/chats/1/messages", json.dumps({"body": "x" * 70_000})
    )
    assert status == 413 and error["code"] == "payload_too_large"
    assert call(client, "post", f"/applications/{token}/chats/1/messages", '{"body": "ok"}') == (
        201,
        {"number": 1},
    )


@pytest.mark.parametrize(
    "path", ["/applications/nope", "/applications/nope/chats", "/applications/%27%20OR%201%3D1/chats/1"]
)
def test_unknown_tokens_are_not_found(client, path):
    status, error = call(client, "get", path)
    assert status == 404 and error["code"] == "not_found"


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.5", "99999999999999999999"])
def test_chat_numbers_must_be_positive_integers(client, application, number):
    status, error = call(client, "get", f"/applications/{application['token']}/chats/{number}")
    assert status == 400 and "chat number" in error["message"]


def test_unknown_chats_and_messages_are_not_found(client, application, writer):
    token = application["token"]
    assert call(client, "get", f"/applications/{token}/chats/1")[0] == 404
    assert call(client, "post", f"/applications/{token}/chats/1/messages", '{"body": "x"}')[0] == 404
    client.http.post(f"/applications/{token}/chats")
    assert call(client, "get", f"/applications/{token}/chats/1/messages/1")[0] == 404
    assert call(client, "patch", f"/applications/{token}/chats/1/messages/1", '{"body": "x"}')[0] == 404


def test_bad_paging_parameters_are_bad_requests(client, application):
    for query in ("limit=0", "limit=101", "after=-1", "limit=ten"):
        assert call(client, "get", f"/applications/{application['token']}/chats?{query}")[0] == 400
