"""Hostile input at the HTTP edge: refused with a 400, never a 500; tokens nobody can guess."""

import pytest

from chalicelib import http, service
from chalicelib.errors import BadRequest


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
    real = service.secrets.token_urlsafe
    monkeypatch.setattr(service.secrets, "token_urlsafe", lambda n: asked.append(n) or real(n))
    tokens = [service.new_token() for _ in range(100)]
    assert min(asked) * 8 >= 128
    assert all(http.token(t) == t for t in tokens)  # and the edge accepts every token it makes
