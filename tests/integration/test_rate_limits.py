"""Per-application quotas, counted in the real Redis; low quotas set through the settings."""

import json
import re
import uuid

import pytest

from chalicelib.adapters.redis import keys as redis_keys
from tests.integration.support import JSON


@pytest.fixture
def low_quotas(deps, monkeypatch):
    from chalicelib.wiring import clients, settings

    s = settings.from_env(
        {
            "RATE_LIMIT_CREATES": "3",
            "RATE_LIMIT_EDITS": "2",
            "RATE_LIMIT_SEARCHES": "2",
            "RATE_LIMIT_WINDOW_SECONDS": "3600",
        }
    )
    monkeypatch.setattr(deps, "limits", clients.rate_limits(s, deps.numbers._redis))


def new_application(client) -> str:
    response = client.http.post("/applications", headers=JSON, body=json.dumps({"name": uuid.uuid4().hex}))
    return json.loads(response.body)["token"]


def test_creates_over_the_quota_are_429_with_the_ratelimit_fields_and_take_no_number(
    client, low_quotas, writer
):
    token = new_application(client)
    assert client.http.post(f"/applications/{token}/chats").status_code == 201
    for n in (1, 2):
        post = client.http.post(f"/applications/{token}/chats/1/messages", headers=JSON, body='{"body": "x"}')
        assert json.loads(post.body) == {"number": n}
    refused = client.http.post(f"/applications/{token}/chats/1/messages", headers=JSON, body='{"body": "x"}')
    assert refused.status_code == 429
    assert json.loads(refused.body)["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    assert refused.headers["RateLimit-Policy"] == '"creates";q=3;w=3600'
    assert re.fullmatch(r'"creates";r=0;t=\d+', refused.headers["RateLimit"])
    assert client.http.post(f"/applications/{token}/chats").status_code == 429
    # Another application is not held back, and the refused creates took no number.
    other = new_application(client)
    assert client.http.post(f"/applications/{other}/chats").status_code == 201
    writer.drain()
    listed = json.loads(client.http.get(f"/applications/{token}/chats/1/messages").body)
    assert [m["number"] for m in listed] == [1, 2]


def test_edits_and_searches_have_quotas_of_their_own(client, low_quotas, writer):
    token = new_application(client)
    client.http.post(f"/applications/{token}/chats")
    client.http.post(f"/applications/{token}/chats/1/messages", headers=JSON, body='{"body": "hello"}')
    edit = f"/applications/{token}/chats/1/messages/1"
    statuses = [client.http.patch(edit, headers=JSON, body='{"body": "hi"}').status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    search = f"/applications/{token}/chats/1/messages/search?q=hel"
    assert [client.http.get(search).status_code for _ in range(3)] == [200, 200, 429]
    # Reads are not counted.
    assert client.http.get(f"/applications/{token}/chats/1/messages/1").status_code == 200
    writer.drain()


def test_an_unknown_token_is_404_before_any_quota_and_counts_nothing(client, low_quotas, deps):
    redis = deps.numbers._redis
    before = len(list(redis.scan_iter(redis_keys.ALL_QUOTAS, count=1000)))
    for _ in range(5):
        assert client.http.post(f"/applications/{'Q' * 32}/chats").status_code == 404
    assert len(list(redis.scan_iter(redis_keys.ALL_QUOTAS, count=1000))) <= before
