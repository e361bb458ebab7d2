"""Search asks the ranking's tiers in turn (search_query.tiers, search_query.rest), or in a small chat the one
scored query: either way it must answer exactly what the scored query (search_query.query, sorted by
score, then newest first) answers, at every limit and across pages."""

import random
import uuid

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
    """A chat of 300 messages in an index of this module's own: scores hang on the index's term
    statistics, which other tests' writes into the shared index would move between two pages."""
    app_id = random.randrange(10**9, 2**32)
    rng = random.Random(4)
    bodies = [" ".join(rng.choices(VOCABULARY, k=rng.randint(1, 6))) for _ in range(300)]
    es, index = deps.elasticsearch, f"it-tiers-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=index, **search_index.index_body())
    try:
        finder = Finder(es, index)
        messages = [NewMessage(app_id, 1, n, body) for n, body in enumerate(bodies, 1)]
        assert Indexer(es, index).index(messages) == {}
        es.indices.refresh(index=index)
        yield finder, es, app_id, index
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)


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
    finder, es, app_id, index = chat
    words = q.split()
    expected = scored(es, index, app_id, words, 300)
    assert expected, "the corpus must match every query"
    for limit in (1, 3, 20, 100, 300):
        found = finder.find(app_id, 1, words, limit, chat_size=chat_size).messages
        assert [m.number for m in found] == expected[:limit], limit


class CountingRankings:
    """An Elasticsearch client that counts the ranking requests (each part of the ranking asked
    is one `msearch`)."""

    def __init__(self, es):
        self._es, self.rankings = es, 0

    def options(self, **kwargs):
        return _Counted(self._es.options(**kwargs), self)

    def __getattr__(self, name):
        return getattr(self._es, name)


class _Counted:
    def __init__(self, es, counter: CountingRankings):
        self._es, self._counter = es, counter

    def msearch(self, **kwargs):
        self._counter.rankings += 1
        return self._es.msearch(**kwargs)

    def __getattr__(self, name):
        return getattr(self._es, name)


def test_a_small_chat_is_ranked_in_one_request(chat):
    _, es, app_id, index = chat
    counting = CountingRankings(es)
    Finder(counting, index).find(app_id, 1, ["ello"], 20, chat_size=300)  # the tiers would ask three
    assert counting.rankings == 1


def test_a_tier_with_enough_hits_is_the_last_one_asked(chat):
    _, es, app_id, index = chat
    counting = CountingRankings(es)
    Finder(counting, index).find(app_id, 1, ["cafe"], 3)  # "cafe" alone is a whole word in dozens of bodies
    assert counting.rankings == 1


@pytest.mark.parametrize("sizes", [[None], [300], [None, 300]], ids=["tiers", "scored", "alternating"])
@pytest.mark.parametrize("q", QUERIES)
def test_following_the_pages_answers_what_the_scored_query_answers(chat, q, sizes):
    # Alternating: a chat whose count crosses SCORED_UP_TO between two pages goes on from its cursor.
    finder, es, app_id, index = chat
    words = q.split()
    expected = scored(es, index, app_id, words, 300)
    found, after = [], None
    for i in range(300):
        page = finder.find(app_id, 1, words, 7, after, chat_size=sizes[i % len(sizes)])
        found += [m.number for m in page.messages]
        if (after := page.next) is None:
            break
    assert found == expected
