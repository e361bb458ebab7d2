"""Hostile input through the handlers: a 4xx in our error shape, stored verbatim where accepted,
and no answer that shows SQL, a stack trace or an internal id."""

import json

import pytest

from tests.integration.support import JSON

LEAKS = ["Traceback", "pymysql", "SELECT ", "INSERT ", "elasticsearch", "redis", 'File "', "line "]


def answer(client, method, path, body=None):
    response = getattr(client.http, method)(path, headers=JSON, body=body)
    text = response.body.decode() if isinstance(response.body, bytes) else response.body
    assert not [leak for leak in LEAKS if leak in text], text
    return response.status_code, json.loads(text)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"body":' * 30_000,
        b'{"body": "\xff\xfe"}',
        b'{"body": 99999999999999999999999999999}',
        b'["body"]',
        b"\x00",
    ],
)
def test_hostile_message_bodies_are_bad_requests(client, application, body):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    status, error = answer(client, "post", f"/applications/{token}/chats/1/messages", body)
    assert status == 400 and set(error) == {"message", "code"}


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE messages; --",
        "\\' OR 1=1 -- %_",
        '" OR ""="',
        "Robert'); DELETE FROM chats;--",
        '{"$where": "1"}',
        "<script>x</script>",
    ],
)
def test_sql_metacharacters_are_stored_and_read_back_verbatim(client, application, writer, text):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    assert (
        answer(client, "post", f"/applications/{token}/chats/1/messages", json.dumps({"body": text}))[0]
        == 201
    )
    renamed = answer(client, "patch", f"/applications/{token}", json.dumps({"name": text}))
    assert renamed == (200, {**application, "name": text})
    writer.drain()
    assert answer(client, "get", f"/applications/{token}/chats/1/messages") == (
        200,
        [{"number": 1, "body": text}],
    )


@pytest.mark.parametrize(
    "path",
    [
        "/applications/..%2F..%2Fetc",
        "/applications/%00",
        "/applications/" + "A" * 10_000,
        "/applications/tok%27en/chats/1/messages/1",
        "/applications/x/chats/1e3",
        "/applications/x/chats/0x10",
        "/applications/x/chats/%EF%BC%91",
    ],
)  # a fullwidth digit one
def test_malformed_tokens_and_numbers_are_4xx_without_internals(client, path):
    status, error = answer(client, "get", path)
    assert status in (400, 404) and set(error) == {"message", "code"}
