"""The live API answers as docs/openapi.yaml says, and the spec lists exactly the app's routes.

Every answer below goes through `call`, which checks it against the spec: a status documented for
that operation, its documented headers, a JSON body valid for its schema, and no internal ids.
"""

import importlib
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.helpers import content, eventually

ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "docs" / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
SPEC_URI = SPEC_PATH.as_uri()


def _draft4(node):
    """OpenAPI 3.0's `nullable: true` as draft 4 says it: the schema, or null."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft4(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") is True else out


# OpenAPI 3.0 schemas are a dialect of JSON Schema draft 4 (boolean exclusiveMinimum and all).
REGISTRY = Registry().with_resource(SPEC_URI, DRAFT4.create_resource(_draft4(SPEC)))
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
INTERNAL_KEYS = {"id", "application_id", "chat_id", "version"}

APPLICATIONS = "/applications"
APPLICATION = "/applications/{token}"
CHATS = APPLICATION + "/chats"
CHAT = CHATS + "/{number}"
MESSAGES = CHAT + "/messages"
SEARCH = MESSAGES + "/search"
MESSAGE = MESSAGES + "/{message_number}"
CHANGES = CHAT + "/changes"
USER_TOKENS = APPLICATION + "/user_tokens"
WEBHOOKS = APPLICATION + "/webhooks"
WEBHOOK = WEBHOOKS + "/{endpoint_number}"

STRANGER = "http://stranger.example"  # an origin no deploy allows
EXPOSED = {"Link", "Location", "Retry-After", "RateLimit", "RateLimit-Policy"}

MAX_REQUEST_BYTES = 256 * 1024
MAX_BODY_BYTES = 65535  # the deployed default of MAX_BODY_BYTES: a TEXT column's size

# Every operation under a chat, each with an otherwise valid request: (method, path, request kwargs).
UNDER_A_CHAT = [
    ("get", CHAT, {}),
    ("get", MESSAGES, {}),
    ("post", MESSAGES, {"json": {"body": "b"}}),
    ("get", SEARCH, {"params": {"q": "word"}}),
    ("get", MESSAGE, {}),
    ("patch", MESSAGE, {"json": {"body": "b"}}),
    ("put", MESSAGE, {"json": {"body": "b"}}),
    ("get", CHANGES, {}),
    ("delete", MESSAGE, {}),  # last: the message is a tombstone after it
]

exercised: set[tuple[str, str]] = (
    set()
)  # (path, method) of every call checked, for the last test of the module


# -- checking answers against the spec -------------------------------------------------------------


def documented(response, path: str, method: str):
    """Asserts that `response` is an answer the spec documents for (path, method); returns its JSON."""
    method = method.lower()
    exercised.add((path, method))
    where = f"{method.upper()} {path} answered {response.status_code}"
    status = str(response.status_code)
    assert status in SPEC["paths"][path][method]["responses"], f"{where}, undocumented: {response.text}"
    pointer, answer = _follow(f"/paths/{_escape(path)}/{method}/responses/{status}")
    _allows_its_origin(response, where)

    for name, header_pointer in _headers(pointer, answer):
        header_pointer, header = _follow(header_pointer)
        value = response.headers.get(name)
        if value is None:
            assert not header.get("required"), f"{where} without the {name} header"
            continue
        if header["schema"].get("type") == "integer":
            assert value.isdigit(), f"{where} with {name}: {value!r}"
            value = int(value)
        _validator(f"{header_pointer}/schema").validate(value)

    if "content" not in answer:
        return None
    assert response.headers.get("Content-Type", "").startswith("application/json"), where
    body = response.json()
    _validator(f"{pointer}/content/application~1json/schema").validate(body)
    leaked = _keys(body) & INTERNAL_KEYS
    assert not leaked, f"{where} with internal ids {leaked}: {body}"
    return body


def _allows_its_origin(response, where: str) -> None:
    """Every answer to a page of an allowed origin lets that page read it and its headers."""
    origin = response.request.headers.get("Origin")
    if origin in (None, STRANGER):
        return
    assert response.headers.get("Access-Control-Allow-Origin") == origin, f"{where} without CORS headers"
    if response.request.method != "OPTIONS":
        exposed = set(response.headers["Access-Control-Expose-Headers"].split(", "))
        assert exposed == EXPOSED, where
    assert "Origin" in response.headers.get("Vary", ""), where


def call(api, method: str, path: str, path_params: dict, **kwargs):
    """Calls the operation (path, method) of the spec and checks its answer; returns the response."""
    response = api.request(method.upper(), path.format(**path_params), **kwargs)
    documented(response, path, method)
    return response


def _follow(pointer: str) -> tuple:
    """The object at `pointer` in the spec, following $ref; returns (its pointer, it)."""
    node = REGISTRY.resolver(SPEC_URI).lookup("#" + pointer).contents
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#")
        node = REGISTRY.resolver(SPEC_URI).lookup(node["$ref"]).contents
    return pointer, node


def _headers(pointer: str, answer: dict) -> list:
    return [(name, f"{pointer}/headers/{_escape(name)}") for name in answer.get("headers", {})]


def _validator(pointer: str) -> Draft4Validator:
    return Draft4Validator({"$ref": f"{SPEC_URI}#{pointer}"}, registry=REGISTRY)


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


# Objects that name one of the application's own users: their `id` is the application's, not ours.
USER_OBJECTS = {"user", "author"}


def _keys(value) -> set:
    if isinstance(value, dict):
        inner = (_keys(v) for k, v in value.items() if k not in USER_OBJECTS)
        return set(value).union(*inner)
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _operations() -> set:
    return {(path, method) for path, item in SPEC["paths"].items() for method in item if method in METHODS}


# -- calling the API -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def page_origin(api, stack_outputs):
    """Every call comes from the deployed web page's origin, as a browser's would."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(stack_outputs["WebUrl"]))
    api.session.headers["Origin"] = origin
    yield origin
    del api.session.headers["Origin"]


@pytest.fixture
def chat(api, application) -> dict:
    """A new chat of the test's application, as path parameters."""
    return {**application, **call(api, "post", CHATS, application).json()}


def _post_message(api, chat: dict, body: str) -> dict:
    created = call(api, "post", MESSAGES, chat, json={"body": body})
    assert created.status_code == 201, created.text
    return {**chat, "message_number": created.json()["number"]}


def _search(api, chat: dict, q: str, **params) -> list:
    answer = call(api, "get", SEARCH, chat, params={"q": q, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _next_page(api, response, path: str):
    """Follows the Link rel="next" of a list or search answer as any client does: its URL, with
    no join."""
    answer = api.session.get(response.links["next"]["url"], timeout=30)
    documented(answer, path, "get")
    assert answer.status_code == 200
    return answer


# -- the spec and the code -------------------------------------------------------------------------


def test_the_spec_documents_exactly_the_routes_of_the_app(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "functions"))
    chalice_app = importlib.import_module("app").app
    routes = {(path, method.lower()) for path, methods in chalice_app.routes.items() for method in methods}
    assert _operations() == routes


# -- applications ----------------------------------------------------------------------------------


def test_a_new_application_has_a_token_its_name_and_no_chats(api):
    name = f"contract-{uuid.uuid4().hex[:8]}"
    created = call(api, "post", APPLICATIONS, {}, json={"name": name})
    assert created.status_code == 201
    assert created.json()["name"] == name and created.json()["chats_count"] == 0

    read = call(api, "get", APPLICATION, created.json())
    assert read.status_code == 200 and read.json() == created.json()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_patch_and_put_both_rename_an_application(api, application, method):
    renamed = call(api, method, APPLICATION, application, json={"name": "renamed"})
    assert renamed.status_code == 200
    assert renamed.json() == {**application, "name": "renamed"}
    assert call(api, "get", APPLICATION, application).json()["name"] == "renamed"


def test_a_rotation_answers_a_new_token_and_the_old_one_ends_with_its_grace(api, application):
    rotated = call(api, "post", APPLICATION + "/token", application, json={"grace_seconds": 600})
    assert rotated.status_code == 200 and rotated.json() == {**application, "token": rotated.json()["token"]}
    assert call(api, "post", APPLICATION + "/token", application, json={}).status_code == 409
    assert (
        call(api, "post", APPLICATION + "/token", rotated.json(), json={"grace_seconds": -1}).status_code
        == 400
    )
    assert call(api, "delete", APPLICATION + "/previous_token", rotated.json()).status_code == 204
    assert call(api, "get", APPLICATION, application).status_code == 404


@pytest.mark.parametrize("token", ["unknownTokenOf32CharactersXXXXXX", "not!a!token", "x" * 65])
def test_an_unknown_or_impossible_token_is_not_found(api, token):
    path_params = {"token": token, "number": 1, "message_number": 1}
    for method, path, kwargs in [
        ("get", APPLICATION, {}),
        ("patch", APPLICATION, {"json": {"name": "n"}}),
        ("put", APPLICATION, {"json": {"name": "n"}}),
        ("post", CHATS, {}),
        ("get", CHATS, {}),
        ("get", CHAT, {}),
        ("get", MESSAGE, {}),
    ]:
        answer = call(api, method, path, path_params, **kwargs)
        assert answer.status_code == 404, f"{method} {path}"
        assert answer.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "request_body",
    [
        {"data": b""},
        {"data": b"not json"},
        {"json": ["name"]},
        {"json": {}},
        {"json": {"name": ""}},
        {"json": {"name": "   "}},
        {"json": {"name": 7}},
        {"json": {"name": "a\x00b"}},
        {"json": {"name": "x" * 256}},
    ],
)
def test_a_name_must_be_a_non_empty_string_of_at_most_255_characters(api, application, request_body):
    headers = {"Content-Type": "application/json"}
    assert call(api, "post", APPLICATIONS, {}, headers=headers, **request_body).status_code == 400
    assert call(api, "patch", APPLICATION, application, headers=headers, **request_body).status_code == 400
    assert call(api, "put", APPLICATION, application, headers=headers, **request_body).status_code == 400


def test_a_request_body_over_256_kib_is_too_large(api, application):
    oversized = {"name": "x" * MAX_REQUEST_BYTES}
    for method, path in [("post", APPLICATIONS), ("patch", APPLICATION), ("put", APPLICATION)]:
        answer = call(api, method, path, application, json=oversized)
        assert answer.status_code == 413, f"{method} {path}"
        assert answer.json()["code"] == "payload_too_large"


def test_a_body_that_is_not_said_to_be_json_is_415_so_no_page_sends_one_without_a_preflight(api):
    # text/plain is a CORS "simple" request: any page could make its visitors send it.
    answer = call(
        api, "post", APPLICATIONS, {}, data=b'{"name": "plain"}', headers={"Content-Type": "text/plain"}
    )
    assert answer.status_code == 415
    assert answer.json()["code"] == "unsupported_media_type"


# -- chats -----------------------------------------------------------------------------------------


def test_chats_are_numbered_from_1_in_each_application(api, application):
    other = call(api, "post", APPLICATIONS, {}, json={"name": "other"}).json()
    assert [call(api, "post", CHATS, application).json() for _ in range(2)] == [{"number": 1}, {"number": 2}]
    assert call(api, "post", CHATS, other).json() == {"number": 1}
    assert call(api, "get", CHAT, {**other, "number": 1}).status_code == 200


def test_a_new_chat_is_readable_at_once(api, application):
    created = call(api, "post", CHATS, application)
    assert created.status_code == 201

    read = call(api, "get", CHAT, {**application, **created.json()})
    assert read.status_code == 200 and content(read.json()) == {**created.json(), "messages_count": 0}


def test_the_chat_list_is_paged_with_a_link_to_the_next_page(api, application):
    for _ in range(3):
        call(api, "post", CHATS, application)
    eventually(lambda: len(call(api, "get", CHATS, application).json()) == 3)

    first = call(api, "get", CHATS, application, params={"limit": 2})
    assert [chat["number"] for chat in first.json()] == [1, 2]
    last = _next_page(api, first, CHATS)
    assert [chat["number"] for chat in last.json()] == [3]
    assert "Link" not in last.headers


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.5", "2147483648"])
def test_a_chat_number_out_of_range_is_a_bad_request(api, application, number):
    path_params = {**application, "number": number, "message_number": 1}
    for method, path, kwargs in UNDER_A_CHAT:
        answer = call(api, method, path, path_params, **kwargs)
        assert answer.status_code == 400, f"{method} {path}"
        assert answer.json()["code"] == "bad_request"


def test_a_chat_that_was_never_created_is_not_found(api, application):
    path_params = {**application, "number": 7, "message_number": 1}
    for method, path, kwargs in UNDER_A_CHAT:
        assert call(api, method, path, path_params, **kwargs).status_code == 404, f"{method} {path}"


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"limit": "ten"}, {"after": "-1"}, {"after": "2147483648"}]
)
def test_paging_parameters_out_of_range_are_bad_requests(api, application, chat, query):
    assert call(api, "get", CHATS, application, params=query).status_code == 400
    assert call(api, "get", MESSAGES, chat, params=query).status_code == 400


# -- messages --------------------------------------------------------------------------------------


def test_messages_are_numbered_from_1_in_each_chat(api, application, chat):
    other_chat = {**application, **call(api, "post", CHATS, application).json()}
    assert [_post_message(api, chat, b)["message_number"] for b in ("one", "two")] == [1, 2]
    assert _post_message(api, other_chat, "one")["message_number"] == 1


def test_a_new_message_is_readable_at_once_and_listed_once_persisted(api, chat):
    message = _post_message(api, chat, "héllo wörld ✓")

    read = call(api, "get", MESSAGE, message)
    assert read.status_code == 200 and content(read.json()) == {"number": 1, "body": "héllo wörld ✓"}
    listed = eventually(lambda: call(api, "get", MESSAGES, chat).json())
    assert listed == [read.json()]


def test_the_message_list_is_paged_with_a_link_to_the_next_page(api, chat):
    for body in ("one", "two", "three"):
        _post_message(api, chat, body)
    eventually(lambda: len(call(api, "get", MESSAGES, chat).json()) == 3)

    first = call(api, "get", MESSAGES, chat, params={"limit": 2})
    assert [m["body"] for m in first.json()] == ["one", "two"]
    last = _next_page(api, first, MESSAGES)
    assert content(last.json()) == [{"number": 3, "body": "three"}]
    assert "Link" not in last.headers


@pytest.mark.parametrize("method", ["patch", "put"])
def test_patch_and_put_both_edit_a_message(api, chat, method):
    message = _post_message(api, chat, "before")

    edited = call(api, method, MESSAGE, message, json={"body": "after"})
    assert edited.status_code == 200 and content(edited.json()) == {"number": 1, "body": "after"}
    assert call(api, "get", MESSAGE, message).json()["body"] == "after"


def test_a_message_that_was_never_created_is_not_found(api, chat):
    missing = {**chat, "message_number": 5}
    assert call(api, "get", MESSAGE, missing).status_code == 404
    assert call(api, "patch", MESSAGE, missing, json={"body": "b"}).status_code == 404
    assert call(api, "put", MESSAGE, missing, json={"body": "b"}).status_code == 404


@pytest.mark.parametrize(
    "request_body",
    [
        {"data": b""},
        {"data": b"not json"},
        {"json": "body"},
        {"json": {}},
        {"json": {"body": ""}},
        {"json": {"body": " \n"}},
        {"json": {"body": ["b"]}},
        {"json": {"body": "a\x00b"}},
    ],
)
def test_a_message_body_must_be_a_non_empty_string(api, chat, request_body):
    message = _post_message(api, chat, "kept")
    headers = {"Content-Type": "application/json"}
    assert call(api, "post", MESSAGES, chat, headers=headers, **request_body).status_code == 400
    assert call(api, "patch", MESSAGE, message, headers=headers, **request_body).status_code == 400
    assert call(api, "put", MESSAGE, message, headers=headers, **request_body).status_code == 400
    assert call(api, "get", MESSAGE, message).json()["body"] == "kept"


@pytest.mark.parametrize(
    "body", ["x" * (MAX_BODY_BYTES + 1), "€" * (MAX_BODY_BYTES // 3 + 1)], ids=["ascii", "3-byte characters"]
)
def test_a_message_body_over_the_limit_in_utf8_bytes_is_too_large(api, chat, body):
    message = _post_message(api, chat, "kept")
    for method, path, path_params in [
        ("post", MESSAGES, chat),
        ("patch", MESSAGE, message),
        ("put", MESSAGE, message),
    ]:
        answer = call(api, method, path, path_params, json={"body": body})
        assert answer.status_code == 413, f"{method} {path}"
        assert answer.json()["code"] == "payload_too_large"


def test_a_message_body_of_exactly_the_limit_is_accepted_and_persisted(api, chat):
    message = _post_message(api, chat, "short")
    assert call(api, "patch", MESSAGE, message, json={"body": "y" * MAX_BODY_BYTES}).status_code == 200
    created = call(api, "post", MESSAGES, chat, json={"body": "z" * MAX_BODY_BYTES})
    assert created.status_code == 201
    number = created.json()["number"]
    eventually(
        lambda: any(
            m["number"] == number and len(m["body"]) == MAX_BODY_BYTES
            for m in call(api, "get", MESSAGES, chat, params={"limit": 100}).json()
        )
    )


# -- search ----------------------------------------------------------------------------------------


def test_search_matches_any_part_of_a_word_case_insensitively(api, chat):
    _post_message(api, chat, "The quick brown fox")
    _post_message(api, chat, "A lazy dog")

    found = eventually(lambda: _search(api, chat, "UICK"))
    assert [m["number"] for m in found] == [1]
    assert found[0]["body"] == "The quick brown fox" and found[0]["highlight"]


def test_search_needs_every_word_and_ignores_words_under_3_characters(api, chat):
    _post_message(api, chat, "The quick brown fox")
    _post_message(api, chat, "A quick lazy dog")
    eventually(lambda: len(_search(api, chat, "quick")) == 2)

    assert [m["number"] for m in _search(api, chat, "row qui")] == [1]
    assert [m["number"] for m in _search(api, chat, "laz quick a")] == [2]
    assert _search(api, chat, "quick cat") == []
    assert _search(api, chat, "fo do") == []
    assert len(_search(api, chat, "quick", limit=1)) == 1


def test_search_is_paged_with_a_link_to_the_next_page(api, chat):
    for body in ("quick one", "quick two", "quick three"):
        _post_message(api, chat, body)
    eventually(lambda: len(_search(api, chat, "quick")) == 3)

    first = call(api, "get", SEARCH, chat, params={"q": "quick", "limit": 2})
    assert [m["number"] for m in first.json()] == [3, 2]
    last = _next_page(api, first, SEARCH)
    assert [m["number"] for m in last.json()] == [1]
    assert "Link" not in last.headers


def test_search_follows_an_edit(api, chat):
    message = _post_message(api, chat, "original wording")
    eventually(lambda: _search(api, chat, "original"))

    call(api, "patch", MESSAGE, message, json={"body": "revised wording"})
    eventually(lambda: _search(api, chat, "revised") and not _search(api, chat, "original"))


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 257},
        {"q": "word", "limit": "0"},
        {"q": "word", "limit": "101"},
    ],
)
def test_search_needs_a_q_of_at_most_256_characters(api, chat, query):
    answer = call(api, "get", SEARCH, chat, params=query)
    assert answer.status_code == 400 and answer.json()["code"] == "bad_request"


# -- user tokens: the chat routes with Authorization: Bearer ---------------------------------------


def _bearer(path: str) -> str:
    return path.removeprefix(APPLICATION)


def _user_token(api, application: dict, **grant) -> str:
    issued = call(api, "post", USER_TOKENS, application, json={"user_id": "ana", "name": "Ana", **grant})
    assert issued.status_code == 201, issued.text
    assert issued.json()["user"] == {"id": "ana", "name": "Ana"}
    return issued.json()["token"]


def test_every_chat_operation_answers_as_documented_with_a_user_token(api, application):
    auth = {"Authorization": f"Bearer {_user_token(api, application)}"}
    chat = {"number": call(api, "post", _bearer(CHATS), {}, headers=auth).json()["number"]}
    created = call(api, "post", _bearer(MESSAGES), chat, json={"body": "hello there"}, headers=auth)
    assert created.status_code == 201, created.text
    message = {**chat, "message_number": created.json()["number"]}
    for method, path, kwargs in UNDER_A_CHAT:
        answer = call(api, method, _bearer(path), message, headers=auth, **kwargs)
        assert answer.status_code in (200, 201), (method, path, answer.text)
    assert call(api, "get", _bearer(CHATS), {}, headers=auth).status_code == 200


def test_a_missing_bad_read_only_or_chat_bound_user_token_answers_401_or_403(api, application):
    call(api, "post", CHATS, application)
    chat = {"number": 1}
    assert call(api, "get", _bearer(CHAT), chat).json()["code"] == "missing_token"
    bad = {"Authorization": "Bearer e30.e30.c2ln"}
    assert call(api, "get", _bearer(CHAT), chat, headers=bad).json()["code"] == "invalid_token"
    reader = {"Authorization": f"Bearer {_user_token(api, application, access='read', chats=[1])}"}
    refused = call(api, "post", _bearer(MESSAGES), chat, json={"body": "no"}, headers=reader)
    assert (refused.status_code, refused.json()["code"]) == (403, "read_only_token")
    other = call(api, "get", _bearer(CHAT), {"number": 2}, headers=reader)
    assert (other.status_code, other.json()["code"]) == (403, "chat_not_allowed")


def test_read_state_answers_as_documented(api, application):
    auth = {"Authorization": f"Bearer {_user_token(api, application)}"}
    chat = {**application, "number": call(api, "post", CHATS, application).json()["number"]}
    for body in ("one", "two", "three"):
        assert call(api, "post", MESSAGES, chat, json={"body": body}).status_code == 201
    marked = call(api, "put", "/chats/{number}/read", chat, json={"up_to": 1}, headers=auth)
    assert marked.json() == {"chat": chat["number"], "up_to": 1, "unread_count": 2}
    assert call(api, "get", _bearer(CHAT), chat, headers=auth).json()["unread_count"] == 2
    refused = call(api, "get", _bearer(CHAT) + "/readers", chat, headers=auth)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert call(api, "put", APPLICATION + "/read_receipts", application, json={"enabled": True}).json() == {
        "read_receipts": True
    }
    readers = call(api, "get", _bearer(CHAT) + "/readers", chat, headers=auth).json()
    assert [(r["user"]["id"], r["up_to"]) for r in readers] == [("ana", 1)]
    assert call(api, "get", CHAT + "/readers", chat).status_code == 200


def test_the_feed_answers_each_change_once_and_a_deletion_as_a_tombstone(api, chat):
    for body in ("one", "two", "three"):
        _post_message(api, chat, body)
    eventually(lambda: call(api, "get", CHANGES, chat).json()["last"] == 3)
    first = call(api, "get", CHANGES, chat, params={"limit": 2})
    assert [c["position"] for c in first.json()["changes"]] == [1, 2] and first.json()["next_since"] == 2
    rest = _next_page(api, first, CHANGES).json()
    assert [(c["position"], c["kind"], c["message"]["body"]) for c in rest["changes"]] == [
        (3, "created", "three")
    ]

    deleted = call(api, "delete", MESSAGE, {**chat, "message_number": 2})
    assert deleted.status_code == 200 and deleted.json()["body"] is None and deleted.json()["deleted_at"]
    assert call(api, "delete", MESSAGE, {**chat, "message_number": 2}).json() == deleted.json()  # twice
    assert call(api, "get", MESSAGE, {**chat, "message_number": 2}).json() == deleted.json()
    gone = call(api, "patch", MESSAGE, {**chat, "message_number": 2}, json={"body": "back?"})
    assert (gone.status_code, gone.json()["code"]) == (410, "message_deleted")
    after = call(api, "get", CHANGES, chat, params={"since": rest["next_since"]}).json()
    assert [(c["position"], c["kind"], c["message"]["number"]) for c in after["changes"]] == [
        (4, "deleted", 2)
    ]
    eventually(lambda: _search(api, chat, "two") == [])
    for since in ("5", "-1", "x", "9007199254740992"):
        assert call(api, "get", CHANGES, chat, params={"since": since}).status_code == 400


# -- cross-origin ----------------------------------------------------------------------------------


def test_every_path_answers_a_preflight_from_the_web_page_with_its_methods(api, application):
    path_params = {**application, "number": 1, "message_number": 1, "endpoint_number": 1, "letter_id": 1}
    for path, item in SPEC["paths"].items():
        answer = call(api, "options", path, path_params, headers={"Access-Control-Request-Method": "POST"})
        assert answer.status_code == 204, path
        methods = {m.upper() for m in item if m in METHODS} - {"OPTIONS"}
        assert set(answer.headers["Access-Control-Allow-Methods"].split(", ")) == methods, path
        assert "Idempotency-Key" in answer.headers["Access-Control-Allow-Headers"]


def test_a_page_of_another_origin_is_given_nothing(api, application):
    stranger = {"Origin": STRANGER}
    preflight = call(api, "options", CHATS, application, headers=stranger)
    assert preflight.status_code == 204
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]

    answer = call(api, "get", APPLICATION, application, headers=stranger)
    assert answer.status_code == 200 and "Access-Control-Allow-Origin" not in answer.headers


# -- webhook endpoints -----------------------------------------------------------------------------


def test_a_webhook_endpoint_is_registered_read_changed_rotated_and_removed(api, application):
    body = {"url": "https://hooks.example.com/in", "events": ["message.created"]}
    created = call(api, "post", WEBHOOKS, application, json=body)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    endpoint = {**application, "endpoint_number": created.json()["number"]}
    assert call(api, "get", WEBHOOKS, application).json()["endpoints"][0]["number"] == 1
    assert call(api, "get", WEBHOOK, endpoint).json()["url"] == body["url"]
    assert call(api, "patch", WEBHOOK, endpoint, json={"enabled": False}).json()["enabled"] is False
    rotated = call(api, "post", WEBHOOK + "/secret", endpoint, json={"grace_seconds": 0})
    assert rotated.json()["secret"] != created.json()["secret"]
    assert call(api, "delete", WEBHOOK, endpoint).status_code == 204
    assert call(api, "get", WEBHOOK, endpoint).status_code == 404


def test_an_application_without_dead_letters_lists_none_and_replays_nothing(api, application):
    assert call(api, "get", WEBHOOKS + "/dead_letters", application).json() == []
    replay = call(api, "post", WEBHOOKS + "/dead_letters/{letter_id}/replay", {**application, "letter_id": 1})
    assert replay.status_code == 404


def test_a_webhook_url_that_is_not_https_is_a_bad_request(api, application):
    body = {"url": "ftp://hooks.example.com/in", "events": ["message.created"]}
    assert call(api, "post", WEBHOOKS, application, json=body).status_code == 400


# -- coverage --------------------------------------------------------------------------------------


def test_every_operation_of_the_spec_was_called(request):
    """Last in the module: the tests above called every operation at least once."""
    selected = {item.nodeid for item in request.session.items}
    if any(item.nodeid not in selected for item in request.node.parent.collect()):
        pytest.skip("only part of this module ran")
    assert _operations() - exercised == set()
