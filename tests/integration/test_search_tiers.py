"""Search asks the ranking's tiers in turn (search_query.tiers, search_query.rest), or in a small chat the one
scored query: either way it must answer exactly what the scored query (search_query.query, sorted by
score, then newest first) answers, at every limit and across pages."""

import random

import pytest

from chalicelib.adapters.search import search_index, search_query
from chalicelib.adapters.search.finder import Finder
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.domain.models import NewMessage

# Whole words, in a row or apart, two-character starts, words inside words, in every mix.
VOCABULARY = ["cafe", "cafeteria", "ok", "okay", "hello", "yellow", "world", "worldwide", "he", "then"]
QUERIES = ["cafe", "ok", "he", "ello", "hello world", "world hello", "cafe ok", "ok he", "hello ello then"]


@pytest.fixture(scope="module")
def chat(deps):
    app_id = random.randrange(10**9, 2**32)
    rng = random.Random(4)
    bodies = [" ".join(rng.choices(VOCABULARY, k=rng.randint(1, 6))) for _ in range(300)]
    es, index = deps.elasticsearch, deps.settings.messages_index
    finder = Finder(es, index)
    assert (
        Indexer(es, index).index([NewMessage(app_id, 1, n, body) for n, body in enumerate(bodies, 1)]) == {}
    )
    es.indices.refresh(index=index)
    return finder, es, app_id


def scored(es, index: str, app_id: int, words: list[str], limit: int) -> list[int]:
    result = es.search(
        index=index,
        routing=search_index.routing(app_id, 1),
        query=search_query.query(app_id, 1, words),
        sort=["_score", {"number": "desc"}],
        size=limit,
    )
    return [hit["_source"]["number"] for hit in result["hits"]["hits"]]


# None: the size is unknown (the tiers); 300: a small chat (the one scored query).
SIZES = pytest.mark.parametrize("chat_size", [None, 300], ids=["tiers", "scored"])


@SIZES
@pytest.mark.parametrize("q", QUERIES)
def test_search_answers_what_the_scored_query_answers_at_every_limit(chat, q, chat_size):
    finder, es, app_id = chat
    words = q.split()
    expected = scored(es, finder._index, app_id, words, 300)
    assert expected, "the corpus must match every query"
    for limit in (1, 3, 20, 100, 300):
        found = finder.find(app_id, 1, words, limit, chat_size=chat_size).messages
        assert [m.number for m in found] == expected[:limit], limit


def test_a_small_chat_is_ranked_in_one_request(chat, monkeypatch):
    finder, _, app_id = chat
    asked = []
    original = finder._rank
    monkeypatch.setattr(finder, "_rank", lambda *args: asked.append(args[4]) or original(*args))
    finder.find(app_id, 1, ["ello"], 20, chat_size=300)  # the tiers would ask three
    assert len(asked) == 1


def test_a_tier_with_enough_hits_is_the_last_one_asked(chat, monkeypatch):
    finder, _, app_id = chat
    asked = []
    original = finder._rank
    monkeypatch.setattr(finder, "_rank", lambda *args: asked.append(args[4]) or original(*args))
    finder.find(app_id, 1, ["cafe"], 3)  # "cafe" alone is a whole word in dozens of bodies
    assert len(asked) == 1


@pytest.mark.parametrize("sizes", [[None], [300], [None, 300]], ids=["tiers", "scored", "alternating"])
@pytest.mark.parametrize("q", QUERIES)
def test_following_the_pages_answers_what_the_scored_query_answers(chat, q, sizes):
    # Alternating: a chat whose count crosses SCORED_UP_TO between two pages goes on from its cursor.
    finder, es, app_id = chat
    words = q.split()
    expected = scored(es, finder._index, app_id, words, 300)
    found, after = [], None
    for i in range(300):
        page = finder.find(app_id, 1, words, 7, after, chat_size=sizes[i % len(sizes)])
        found += [m.number for m in page.messages]
        if (after := page.next) is None:
            break
    assert found == expected
