"""Answers while numbering recovers from a Redis restart: unknown is a 503, never a wrong 404."""

import redis

from tests.helpers import eventually
from tests.integration.support import REDIS_URL, post


def test_a_queued_chat_is_retried_not_denied_while_numbering_recovers(client, application, writer):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 1})  # queued only
    redis.Redis.from_url(REDIS_URL).flushdb()  # the cache comes back empty: it forgot chat 1

    status, body = post(client, f"/applications/{token}/chats/1/messages", {"body": "hello"})
    assert (status, body["code"]) == (503, "unavailable")  # not 404: chat 1 exists
    read = client.http.get(f"/applications/{token}/chats/1")
    assert read.status_code == 503

    writer.drain()  # chat 1 reaches MySQL and the queue empties: numbering reopens once no
    # request that reserved before can still run (API_TIMEOUT_SECONDS + 2 s after it was found closed)
    created = eventually(
        lambda: (
            (answer := post(client, f"/applications/{token}/chats/1/messages", {"body": "hello"}))[0] == 201
            and answer
        ),
        timeout=20,
        interval=0.5,
    )
    assert created == (201, {"number": 1})
    assert client.http.get(f"/applications/{token}/chats/1").status_code == 200


def test_a_chat_that_never_existed_is_still_not_found_with_numbering_open(client, application, writer):
    status, body = post(client, f"/applications/{application['token']}/chats/9/messages", {"body": "x"})
    assert (status, body["code"]) == (404, "not_found")
