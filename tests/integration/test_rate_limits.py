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
            "RATE_LIMIT_READS": "4",
            "RATE_LIMIT_WINDOW_SECONDS": "3600",
            "RATE_LIMIT_APPLICATIONS_PER_ADDRESS": "3",
            "RATE_LIMIT_APPLICATIONS": "5",
        }
    )
    redis = deps.redis
    # This test's Redis database counts every test's applications from the one local address.
    stale = list(redis.scan_iter(redis_keys.ALL_QUOTAS, count=1000))
    if stale:
        redis.delete(*stale)
    monkeypatch.setattr(deps, "limits", clients.rate_limits(s, redis))


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
    writer.drain()


def test_reads_and_lists_share_a_quota_answered_with_the_ratelimit_fields(client, low_quotas):
    token = new_application(client)
    client.http.post(f"/applications/{token}/chats")
    reads = [
        f"/applications/{token}",
        f"/applications/{token}/chats",
        f"/applications/{token}/chats/1",
        f"/applications/{token}/chats/1/messages",
    ]
    assert [client.http.get(path).status_code for path in reads] == [200, 200, 200, 200]
    refused = client.http.get(f"/applications/{token}/chats")
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Policy"] == '"reads";q=4;w=3600'
    assert re.fullmatch(r'"reads";r=0;t=\d+', refused.headers["RateLimit"])
    assert int(refused.headers["Retry-After"]) > 0
    # Creates are another quota.
    assert client.http.post(f"/applications/{token}/chats").status_code == 201


def test_applications_are_limited_per_client_address(client, low_quotas):
    first = client.http.post("/applications", headers=JSON, body='{"name": "a"}')
    assert first.status_code == 201
    for _ in range(2):
        new_application(client)
    refused = client.http.post("/applications", headers=JSON, body='{"name": "one too many"}')
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Policy"] == '"applications-per-address";q=3;w=3600'
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # Spoofed forwarding headers are no other address: only API Gateway's sourceIp counts.
    spoofed = client.http.post(
        "/applications", headers={**JSON, "x-forwarded-for": "198.51.100.9"}, body='{"name": "x"}'
    )
    assert spoofed.status_code == 429


def test_an_unknown_token_is_404_before_any_quota_and_counts_nothing(client, low_quotas, deps):
    redis = deps.redis
    before = len(list(redis.scan_iter(redis_keys.ALL_QUOTAS, count=1000)))
    for _ in range(5):
        assert client.http.post(f"/applications/{'Q' * 32}/chats").status_code == 404
    assert len(list(redis.scan_iter(redis_keys.ALL_QUOTAS, count=1000))) <= before
