"""Search: partial, case-insensitive, scoped to one chat, every word must match, text only, ranked.

What each kind of query finds in many languages is tests/integration/test_search_quality.py.
"""

import json
from urllib.parse import quote

import pytest

from tests.integration.support import JSON

BODIES = ["Hello world", "HELLO again, Café time", "Yellow submarine", "bell allow", "say (hi) *now*"]


@pytest.fixture
def chat(client, application, writer):
    token = application["token"]
    for _ in range(2):
        client.http.post(f"/applications/{token}/chats")
    for body in BODIES:
        client.http.post(
            f"/applications/{token}/chats/1/messages", headers=JSON, body=json.dumps({"body": body})
        )
    client.http.post(
        f"/applications/{token}/chats/2/messages", headers=JSON, body='{"body": "hello from chat 2"}'
    )
    writer.drain()
    return f"/applications/{token}/chats/1/messages"


def search(client, chat, q, **params):
    query = "&".join([f"q={quote(q)}", *(f"{k}={v}" for k, v in params.items())])
    response = client.http.get(f"{chat}/search?{query}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def numbers(results):
    return sorted(m["number"] for m in results)


def test_any_part_of_a_word_matches_whatever_the_case(client, chat):
    assert numbers(search(client, chat, "ello")) == [1, 2, 3]
    assert numbers(search(client, chat, "ELLO")) == [1, 2, 3]
    assert numbers(search(client, chat, "ELL")) == [1, 2, 3, 4]
    assert numbers(search(client, chat, "cafe")) == [2]


def test_a_part_must_stand_in_one_piece(client, chat):
    # "bell allow" holds the trigrams of "ello" ("ell", "llo") but not "ello" itself.
    assert 4 not in numbers(search(client, chat, "ello"))


def test_every_word_must_match(client, chat):
    assert numbers(search(client, chat, "hello world")) == [1]
    assert numbers(search(client, chat, "hello nothing")) == []


def test_results_come_only_from_the_chat_searched(client, chat):
    assert "chat 2" not in json.dumps(search(client, chat, "hello"))


def test_hits_carry_highlighted_fragments(client, chat):
    [hit] = search(client, chat, "submarine")
    assert hit["number"] == 3 and hit["body"] == "Yellow submarine"
    assert any("<em>" in fragment for fragment in hit["highlight"])


def test_limit_caps_the_results(client, chat):
    assert len(search(client, chat, "ell", limit=2)) == 2


@pytest.mark.parametrize("q", ['hello" OR "*', "body:hello~", "(hi", "a[b", "'; DROP TABLE messages; --"])
def test_query_syntax_is_searched_as_plain_text(client, chat, q):
    results = search(client, chat, q)
    assert all(isinstance(m["number"], int) for m in results)


def test_query_syntax_characters_do_not_widen_the_match(client, chat):
    assert numbers(search(client, chat, "hello*")) == [1, 2]
    assert numbers(search(client, chat, "(hi) now*")) == [5]


def test_a_two_character_word_finds_the_words_it_begins(client, chat):
    assert numbers(search(client, chat, "he")) == [1, 2]
    assert numbers(search(client, chat, "hi")) == [5]


def test_whole_words_rank_above_parts_of_words_then_newest_first(client, chat, writer):
    token_chat = chat.rsplit("/", 1)[0]
    for body in ["a cafeteria", "café au lait", "the cafe"]:  # numbers 6, 7, 8
        client.http.post(f"{token_chat}/messages", headers=JSON, body=json.dumps({"body": body}))
    writer.drain()
    assert [m["number"] for m in search(client, chat, "cafe")] == [8, 7, 2, 6]


def test_the_exact_phrase_ranks_above_the_words_apart(client, chat, writer):
    token_chat = chat.rsplit("/", 1)[0]
    for body in ["world of hello", "hello world again"]:  # numbers 6, 7
        client.http.post(f"{token_chat}/messages", headers=JSON, body=json.dumps({"body": body}))
    writer.drain()
    assert [m["number"] for m in search(client, chat, "hello world")] == [7, 1, 6]


def test_highlights_mark_short_words_and_cjk(client, chat, writer):
    token_chat = chat.rsplit("/", 1)[0]
    client.http.post(f"{token_chat}/messages", headers=JSON, body=json.dumps({"body": "ok, 北京 at 10:30"}))
    writer.drain()
    [hit] = search(client, chat, "北京")
    assert hit["highlight"] == ["ok, <em>北京</em> at 10:30"]
    [hit] = search(client, chat, "10:30")
    assert hit["highlight"] == ["ok, 北京 at <em>10</em>:<em>30</em>"]
    [hit] = search(client, chat, "ok")
    assert hit["highlight"] == ["<em>ok</em>, 北京 at 10:30"]


@pytest.mark.parametrize("q", ["*:*", "/.*/", "?!", "—", "…", "- - -"])
def test_a_query_of_punctuation_only_is_a_bad_request_saying_why(client, chat, q):
    response = client.http.get(f"{chat}/search?q={quote(q)}")
    assert response.status_code == 400
    assert "nothing to search for" in json.loads(response.body)["message"]


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("a b c d e f g h i", "more than 8 words"),
        ("x" * 49, "longer than 48 characters"),
        ("x" * 257, "longer than 256 characters"),
    ],
)
def test_a_query_that_would_cost_too_much_is_a_bad_request(client, chat, q, message):
    response = client.http.get(f"{chat}/search?q={quote(q)}")
    assert response.status_code == 400 and message in json.loads(response.body)["message"]


def test_a_missing_query_is_a_bad_request(client, chat):
    response = client.http.get(f"{chat}/search")
    assert response.status_code == 400 and json.loads(response.body)["code"] == "bad_request"
