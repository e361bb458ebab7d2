"""Hostile input at the HTTP edge: refused with a 400, never a 500; tokens nobody can guess."""

import json

import pytest

from chalicelib.domain import events
from chalicelib.domain.errors import BadRequest, RateLimited
from chalicelib.edge import http


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 50_000, b"[" * 2000 + b"]" * 2000])
def test_deeply_nested_json_is_a_bad_request_not_a_server_error(raw):
    with pytest.raises(BadRequest):
        http.json_object(raw)


@pytest.mark.parametrize(
    "body",
    [
        {"body": 10**40},
        {"body": 1e308},
        {"body": float("inf")},
        {"body": True},
        {"body": None},
        {"body": {"$gt": ""}},
    ],
)
def test_a_message_body_that_is_not_text_is_a_bad_request(body):
    with pytest.raises(BadRequest):
        http.body_field(body, 65535)


def test_tokens_carry_at_least_128_bits_from_secrets(monkeypatch):
    asked = []
    from chalicelib.domain import tokens as made

    real = made.secrets.token_urlsafe
    monkeypatch.setattr(made.secrets, "token_urlsafe", lambda n: asked.append(n) or real(n))
    tokens = [made.new_token() for _ in range(100)]
    assert min(asked) * 8 >= 128
    assert all(http.token(t) == t for t in tokens)  # and the edge accepts every token it makes


# -- numbers too long for int() ------------------------------------------------------------------

HUGE = "9" * 5000  # over Python's 4,300-digit limit: int() raised ValueError, a 500


@pytest.mark.parametrize("raw", [HUGE, "1" * 4300, "0" * 100_000 + "1" + "0" * 11, "0" * 5000])
def test_path_numbers_of_thousands_of_digits_are_bad_requests(raw):
    with pytest.raises(BadRequest):
        http.number(raw, "chat number")


def test_leading_zeros_do_not_count_against_the_digit_bound():
    assert http.number("0" * 5000 + "7", "chat number") == 7


@pytest.mark.parametrize("params", [{"after": HUGE}, {"limit": HUGE}, {"after": "1", "limit": "0" + HUGE}])
def test_paging_numbers_of_thousands_of_digits_are_bad_requests(params):
    with pytest.raises(BadRequest):
        http.page(params)


# -- text no store can hold ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\udc00\ud83d"])
def test_lone_surrogates_in_names_bodies_and_queries_are_bad_requests(text):
    # json.loads('"\\ud800"') makes such a string; encoding it to UTF-8 raised, a 500.
    with pytest.raises(BadRequest):
        http.name_field({"name": text})
    with pytest.raises(BadRequest):
        http.body_field({"body": text}, 65535)
    with pytest.raises(BadRequest):
        http.search_query({"q": text})


def test_a_surrogate_pair_is_one_character_and_fine():
    assert http.body_field(json.loads('{"body": "\\ud83d\\ude42"}'), 65535) == "🙂"


# -- quotas --------------------------------------------------------------------------------------


def test_a_quota_answer_is_429_with_retry_after_and_the_ietf_ratelimit_fields():
    answer = http.error_response(RateLimited("slow down", "creates", 5, 10, 7))
    assert answer.status_code == 429
    assert json.loads(answer.body) == {"message": "slow down", "code": "rate_limited"}
    assert answer.headers["Retry-After"] == "7"
    assert answer.headers["RateLimit-Policy"] == '"creates";q=5;w=10'
    assert answer.headers["RateLimit"] == '"creates";r=0;t=7'


# -- events that must fit the queue --------------------------------------------------------------


def test_every_body_the_edge_accepts_fits_the_queue_but_escaped_control_characters():
    assert len(events.message_created(1, 1, 1, "é" * 32767).encode()) < events.MAX_EVENT_BYTES
    assert events.message_fits("🙂" * 16383) and events.message_fits("x" * 65535)
    # 43,690 control characters fit a 256 KiB request as \u0001 escapes, and the event too
    # once it carries its numbers: ASCII-escaped, such a body already did not.
    assert not events.message_fits("\x01" * 43690)


def test_characters_sqs_refuses_raw_travel_escaped():
    event = events.message_created(1, 1, 1, "a\ufffeb\uffff")
    assert "\ufffe" not in event and "\uffff" not in event
    assert events.parse(event).body == "a\ufffeb\uffff"
