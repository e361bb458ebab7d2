import json

import pytest
import requests

from chalicelib.domain.errors import BadRequest, NotFound, PayloadTooLarge, Unavailable, UnsupportedMediaType
from chalicelib.domain.models import Chat, Message, SearchAfter, SearchPage
from chalicelib.edge import http


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (None, BadRequest),
        (b"", BadRequest),
        (b"{", BadRequest),
        (b"[1, 2]", BadRequest),
        (b'"text"', BadRequest),
        (b"\xff\xfe{}", BadRequest),
        (b"{" + b" " * http.MAX_REQUEST_BYTES + b"}", PayloadTooLarge),
    ],
)
def test_request_body_must_be_a_json_object(raw, error):
    with pytest.raises(error):
        http.json_object(raw)


def test_a_json_object_is_returned_as_a_dict():
    assert http.json_object(b'{"name": "x"}') == {"name": "x"}


@pytest.mark.parametrize(
    "body",
    [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": None}, {"name": "a\x00b"}, {"name": "x" * 256}],
)
def test_names_must_be_present_non_blank_text(body):
    with pytest.raises(BadRequest):
        http.name_field(body)


def test_message_body_over_the_limit_is_too_large():
    assert http.body_field({"body": "é" * 5}, max_bytes=10) == "é" * 5
    with pytest.raises(PayloadTooLarge):
        http.body_field({"body": "é" * 6}, max_bytes=10)


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "abc", "", "2147483648", "99999999999999999999", "١"])
def test_numbers_must_be_positive_32_bit_integers(raw):
    with pytest.raises(BadRequest):
        http.number(raw, "chat number")


def test_numbers_are_read_from_percent_encoded_path_segments():
    assert http.number("%31%32", "chat number") == 12


@pytest.mark.parametrize("raw", ["", "a" * 65, "abc%20def", "a.b", "x'--"])
def test_tokens_that_cannot_exist_are_unknown(raw):
    with pytest.raises(NotFound):
        http.token(raw)


def test_paging_defaults_and_bounds():
    assert http.page(None) == (0, 50)
    assert http.page({"after": "10", "limit": "100"}) == (10, 100)
    for bad in ({"limit": "0"}, {"limit": "101"}, {"after": "-1"}, {"limit": "x"}):
        with pytest.raises(BadRequest):
            http.page(bad)


def test_a_full_page_links_to_the_next_one():
    response = http.page_response([Chat(n, 0) for n in (1, 2, 3)], limit=2)
    assert [chat["number"] for chat in json.loads(response.body)] == [1, 2]
    assert response.headers["Link"] == '<?after=2&limit=2>; rel="next"'


def test_the_next_link_is_absolute_when_the_request_url_is_known():
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/applications/t/chats"
    response = http.page_response([Chat(n, 0) for n in (1, 2, 3)], limit=2, url=url)
    assert response.headers["Link"] == f'<{url}?after=2&limit=2>; rel="next"'
    [link] = requests.utils.parse_header_links(response.headers["Link"])
    assert link == {"url": f"{url}?after=2&limit=2", "rel": "next"}


CONTEXT = {
    "resourcePath": "/applications/{token}/chats",
    "apiId": "abc",
    "path": "/Prod/applications/t/chats",
}


@pytest.mark.parametrize(
    ("base", "context", "params", "url"),
    [
        # API Gateway's own endpoint: the template's default, the id from the request context.
        (
            "https://{apiId}.execute-api.eu-west-1.amazonaws.com/Prod",
            CONTEXT,
            {"token": "t"},
            "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/applications/t/chats",
        ),
        # A custom domain with a base path.
        (
            "https://chat.example.com/v1/",
            CONTEXT,
            {"token": "t"},
            "https://chat.example.com/v1/applications/t/chats",
        ),
        # LocalStack: the stage under /_aws/execute-api/<id>.
        (
            "http://127.0.0.1:4566/_aws/execute-api/{apiId}/Prod",
            CONTEXT,
            {"token": "t"},
            "http://127.0.0.1:4566/_aws/execute-api/abc/Prod/applications/t/chats",
        ),
        # Path values as API Gateway hands them (percent-encoded) are encoded once, not twice.
        (
            "https://api.example.com",
            CONTEXT,
            {"token": "a%20b"},
            "https://api.example.com/applications/a%20b/chats",
        ),
        # No base URL configured, or no API id to fill in: links stay relative.
        ("", CONTEXT, {"token": "t"}, None),
        ("https://{apiId}.example.com", {**CONTEXT, "apiId": ""}, {"token": "t"}, None),
    ],
    ids=["aws", "custom-domain", "localstack", "encoded", "none", "no-api-id"],
)
def test_the_page_url_is_the_configured_base_url_and_the_route(base, context, params, url):
    assert http.page_url(base, context, params) == url


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        'application/json;charset="UTF-8"',
    ],
)
def test_a_body_said_to_be_json_is_read(content_type):
    http.require_json({"content-type": content_type}, b"{}")


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonx",
    ],
)
def test_a_body_not_said_to_be_json_is_415(content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    with pytest.raises(UnsupportedMediaType) as refused:
        http.require_json(headers, b'{"name": "x"}')
    assert refused.value.status == 415


def test_a_request_without_a_body_needs_no_content_type():
    http.require_json({}, b"")
    http.require_json({"content-type": "text/plain"}, None)


def test_the_last_page_has_no_link():
    response = http.page_response([Chat(1, 0)], limit=2)
    assert "Link" not in response.headers


def test_errors_answer_with_message_code_and_status():
    response = http.error_response(Unavailable("down", retry_after=7))
    assert response.status_code == 503
    assert json.loads(response.body) == {"message": "down", "code": "unavailable"}
    assert response.headers["Retry-After"] == "7"


def test_unexpected_errors_become_a_bare_500():
    @http.answers_errors
    def broken():
        raise RuntimeError("SELECT secret FROM internals")

    response = broken()
    assert response.status_code == 500
    assert "SELECT" not in response.body and "Traceback" not in response.body


class _Request:
    def __init__(self, key, method="POST", path="/applications/{token}/chats", params=None):
        self.headers = {} if key is None else {"idempotency-key": key}
        self.method, self.path, self.uri_params = method, path, params or {"token": "abc"}


def test_an_idempotency_key_is_read_quoted_or_bare_and_digests_the_request():
    assert http.request_key(_Request(None), None) is None
    quoted = http.request_key(_Request('"k-1"'), {"body": "x"})
    assert quoted.key == "k-1" and quoted == http.request_key(_Request("k-1"), {"body": "x"})
    assert quoted.digest != http.request_key(_Request("k-1"), {"body": "y"}).digest
    other_chat = _Request("k-1", params={"token": "abc", "number": "2"})
    assert quoted.digest != http.request_key(other_chat, {"body": "x"}).digest
    other_route = _Request("k-1", path="/applications/{token}/chats/{number}/messages")
    assert quoted.digest != http.request_key(other_route, {"body": "x"}).digest
    other_method = _Request("k-1", method="PATCH")
    assert quoted.digest != http.request_key(other_method, {"body": "x"}).digest


def test_a_request_digest_is_the_same_whichever_token_of_the_application_sends_it():
    rotated = _Request("k-1", params={"token": "the new token"})
    assert http.request_key(_Request("k-1"), {"body": "x"}) == http.request_key(rotated, {"body": "x"})


@pytest.mark.parametrize("key", ["", '""', "x" * 256, "caf\u00e9", "a\x01b"])
def test_a_malformed_idempotency_key_is_a_400(key):
    with pytest.raises(BadRequest):
        http.request_key(_Request(key), None)


def test_a_key_derives_one_create_id_per_scope():
    from chalicelib.domain.request_keys import RequestKey

    key = RequestKey("k", "fp")
    assert key.create_id("7") == key.create_id("7") != key.create_id("8")
    assert len(key.create_id("7")) == 32


def test_a_page_of_big_bodies_is_cut_short_to_fit_a_lambda_answer_and_links_on():
    # 100 bodies of 65,535 quotes: 13 MB once escaped, over Lambda's 6 MB answer if sent whole.
    big = [Message(n, '"' * 65535) for n in range(1, 102)]
    response = http.page_response(big, limit=100, url="https://api.example/chats/1/messages")
    page = json.loads(response.body)
    assert 0 < len(page) < 100
    assert page[-1]["number"] == len(page)
    assert f"after={len(page)}&limit=100" in response.headers["Link"]
    lambda_answer = json.dumps({"statusCode": 200, "headers": response.headers, "body": response.body})
    assert len(lambda_answer.encode()) < 6 * 10**6


def test_a_search_page_links_on_with_its_query_limit_and_last_place():
    page = SearchPage([Message(9, "hello there", highlight=[])], SearchAfter(5.0, 9))
    url = "https://api.example/Prod/applications/kX3/chats/1/messages/search"
    response = http.search_page_response(page, {"q": "hello 10:30 ça", "limit": "1"}, url)
    [link] = requests.utils.parse_header_links(response.headers["Link"])
    assert link == {"url": f"{url}?q=hello%2010:30%20%C3%A7a&limit=1&after=5:9", "rel": "next"}
    assert http.search_after({"after": "5:9"}) == SearchAfter(5.0, 9)


def test_the_last_search_page_has_no_link_and_a_first_has_no_after():
    response = http.search_page_response(SearchPage([], None), {"q": "hello"}, None)
    assert "Link" not in response.headers and json.loads(response.body) == []
    assert http.search_after({"q": "hello"}) is None


@pytest.mark.parametrize(
    "after",
    ["", "5", ":9", "5:", "5:0", "x:9", "5:9:1", "1e3:9", "5:" + "9" * 5000, "٥:9", "5:00000000009", "5:9\n"],
)
def test_a_search_after_not_written_by_a_link_is_a_bad_request(after):
    with pytest.raises(BadRequest):
        http.search_after({"after": after})


def test_a_user_token_grant_is_every_chat_only_when_chats_is_left_out():
    ana = {"user_id": "a", "name": "A"}
    assert http.user_grant(ana).chats is None
    assert http.user_grant({**ana, "chats": [2, 1]}).chats == frozenset({1, 2})
    with pytest.raises(BadRequest):
        http.user_grant({**ana, "chats": None})
