"""Hostile input through the handlers: a 4xx in our error shape, stored verbatim where accepted,
and no answer that shows SQL, a stack trace or an internal id."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.adapters.redis import keys as redis_keys
from tests.helpers import content
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
        b'\xef\xbb\xbf{"body": "utf-8 with a BOM"}',
        '{"body": "utf-16"}'.encode("utf-16"),
        b'{"body": "latin-1 caf\xe9"}',
        b'{"body": "\\ud800"}',
        b'{"body": "x"} trailing',
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
    status, found = answer(client, "get", f"/applications/{token}/chats/1/messages")
    assert (status, content(found)) == (200, [{"number": 1, "body": text}])


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


# -- numbers of thousands of digits, text no store holds (each answered 500 before) -------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    "path",
    [
        "/chats/" + HUGE,
        "/chats/1/messages/" + HUGE,
        "/chats?after=" + HUGE,
        "/chats?limit=" + HUGE,
        "/chats/1/messages?after=" + HUGE,
        "/chats/1/messages/search?q=abc&limit=" + HUGE,
    ],
)
def test_numbers_of_thousands_of_digits_are_bad_requests(client, application, path):
    status, error = answer(client, "get", f"/applications/{application['token']}{path}")
    assert status == 400 and error["code"] == "bad_request"


def test_the_token_is_checked_before_the_paging_parameters(client):
    status, error = answer(client, "get", f"/applications/{'A' * 32}/chats?after={HUGE}")
    assert status == 404 and error["code"] == "not_found"


@pytest.mark.parametrize("field", ["name", "body"])
def test_lone_surrogates_are_bad_requests(client, application, writer, field):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    path = f"/applications/{token}" + ("/chats/1/messages" if field == "body" else "")
    method = "post" if field == "body" else "patch"
    status, error = answer(client, method, path, f'{{"{field}": "x\\ud800y"}}')
    assert status == 400 and "surrogate" in error["message"]
    status, _ = answer(client, "get", f"/applications/{token}/chats/1/messages/search?q=ab%ED%A0%80c")
    assert status in (200, 400)  # undecodable percent-escapes read as U+FFFD, or refused


def test_a_body_too_large_once_escaped_for_the_queue_is_refused_before_taking_a_number(
    client, application, writer
):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    control = json.dumps({"body": "\x01" * 43690})  # under 256 KiB as a request, over it queued
    status, error = answer(client, "post", f"/applications/{token}/chats/1/messages", control)
    assert status == 413 and error["code"] == "payload_too_large"
    assert answer(client, "post", f"/applications/{token}/chats/1/messages", '{"body": "ok"}') == (
        201,
        {"number": 1},
    )
    writer.drain()


# -- tokens are keys: byte for byte, and no Redis key for one that is unknown --------------------


def _swapped(token: str) -> str:
    i = next(i for i, c in enumerate(token) if c.isalpha())
    return token[:i] + token[i].swapcase() + token[i + 1 :]


def test_a_letter_case_variant_of_a_token_is_unknown_and_adds_no_redis_key(client, application, deps):
    variant = _swapped(application["token"])
    redis = deps.redis
    before = redis.dbsize()
    for method, path in [("get", ""), ("post", "/chats"), ("get", "/chats")]:
        status, error = answer(client, method, f"/applications/{variant}{path}")
        assert status == 404 and error["code"] == "not_found"
    assert redis.get(redis_keys.token(variant)) is None
    assert redis.dbsize() <= before


def test_ten_thousand_unknown_tokens_add_a_bounded_number_of_redis_keys(deps, application):
    from chalicelib.domain.errors import NotFound
    from chalicelib.usecases import service

    redis = deps.redis
    before = redis.dbsize()
    real = application["token"]
    tokens = [f"{i:08d}{real[8:]}" for i in range(9_000)] + [_swapped(real) + str(i) for i in range(1_000)]

    def unknown(token: str) -> bool:
        try:
            service.create_chat(deps, token)
        except NotFound:
            return True
        return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(unknown, tokens))
    assert redis.dbsize() - before <= 5  # other tests' keys only; none per token
