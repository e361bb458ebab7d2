"""Search answers in pages that bound their cost (search_pages.py): big bodies come a few at a
time, and following the `Link`s finds every hit exactly once, sizes known or not."""

import json
import uuid

import pytest

from chalicelib.adapters.search.finder import Finder
from chalicelib.adapters.search.index_schema import IndexSchema
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import ANALYSIS, MAPPINGS, doc_id, index_body, routing
from chalicelib.adapters.search.search_pages import PAGE_COST, cost
from chalicelib.domain.models import NewMessage, answer_size

BIG = "needle " + ("haystack " * 7300)[:65_000]
SMALL = "a small needle"


@pytest.fixture
def chat(client, application, writer, deps):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    writer.drain()
    return deps.db.application(token).id, f"/applications/{token}/chats/1/messages/search"


def pages(client, path: str, query: str) -> list[list[dict]]:
    """Every page of a search, following each answer's Link rel="next" as a client does."""
    out, target = [], f"{path}?{query}"
    for _ in range(100):
        response = client.http.get(target)
        assert response.status_code == 200, response.body
        out.append(json.loads(response.body))
        link = response.headers.get("Link")
        if link is None:
            return out
        url, rel = link.split(";")
        assert rel.strip() == 'rel="next"' and url.startswith("<?")  # no Host header: relative
        target = f"{path}{url[1:-1]}"
    raise AssertionError("the links never end")


def test_many_big_matching_bodies_come_in_pages_within_the_budget_each_hit_once(client, chat, deps):
    app_id, path = chat
    bodies = {n: SMALL if n % 4 == 0 else BIG for n in range(1, 41)}  # 30 big, 10 small
    assert deps.indexer.index([NewMessage(app_id, 1, n, body) for n, body in bodies.items()]) == {}
    deps.elasticsearch.indices.refresh(index=deps.settings.messages_index)

    found = pages(client, path, "q=needle&limit=100")
    assert len(found) > 1
    for page in found:
        assert sum(cost(answer_size(m["body"])) for m in page) <= PAGE_COST
        assert all("<em>needle</em>" in m["highlight"][0] for m in page)
    numbers = [m["number"] for page in found for m in page]
    assert numbers == list(range(40, 0, -1))  # one score: newest first, each once


def test_pages_keep_the_order_of_scores_across_their_links(client, chat, deps):
    app_id, path = chat
    # "needles" holds the word inside a word (score 1), "needle" as a word (4).
    bodies = {n: BIG.replace("needle", "needles" if n % 3 else "needle", 1) for n in range(1, 25)}
    assert deps.indexer.index([NewMessage(app_id, 1, n, body) for n, body in bodies.items()]) == {}
    deps.elasticsearch.indices.refresh(index=deps.settings.messages_index)

    found = pages(client, path, "q=needle&limit=5")
    numbers = [m["number"] for page in found for m in page]
    whole = [n for n in range(24, 0, -1) if n % 3 == 0]
    assert numbers == whole + [n for n in range(24, 0, -1) if n not in whole]


def test_documents_indexed_before_their_size_was_are_still_found_once(client, chat, deps):
    app_id, path = chat
    es, index = deps.elasticsearch, deps.settings.messages_index
    for n in range(1, 9):  # as the writer of before wrote them: no answer_bytes
        es.index(
            index=index,
            id=doc_id(app_id, 1, n),
            routing=routing(app_id, 1),
            document={
                "application_id": app_id,
                "chat_number": 1,
                "number": n,
                "body": BIG if n % 2 else SMALL,
            },
        )
    assert deps.indexer.index([NewMessage(app_id, 1, n, BIG) for n in range(9, 13)]) == {}
    es.indices.refresh(index=index)

    for limit in (100, 3):
        found = pages(client, path, f"q=needle&limit={limit}")
        assert [m["number"] for page in found for m in page] == list(range(12, 0, -1))


def test_an_index_made_before_a_field_was_added_gets_it_and_takes_new_documents(deps):
    es, alias = deps.elasticsearch, f"it-old-{uuid.uuid4().hex[:8]}"
    old = {**MAPPINGS, "properties": {k: v for k, v in MAPPINGS["properties"].items() if k != "answer_bytes"}}
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "analysis": ANALYSIS}
    es.indices.create(index=f"{alias}-v1", aliases={alias: {}}, settings=settings, mappings=old)
    try:
        assert IndexSchema(es, alias).ensure_index() is False
        assert (
            Indexer(es, alias).index([NewMessage(7, 1, 1, "needle")]) == {}
        )  # strict: refused without the field
        es.indices.refresh(index=alias)
        assert [m.number for m in Finder(es, alias).find(7, 1, ["needle"], 10).messages] == [1]
    finally:
        es.indices.delete(index=f"{alias}-v1")


class _DeletesAfterRanking:
    """An Elasticsearch client after whose first ranking the writer indexes message 1's
    tombstone (a delete landing between a search's ranking and its fetch of the big bodies)."""

    def __init__(self, es, index: str, tombstone: NewMessage):
        self._es, self._index, self._tombstone, self._done = es, index, tombstone, False

    def options(self, **kwargs):
        wrapped = self._es.options(**kwargs)
        outer = self

        class _Options:
            def msearch(self, **request):
                answer = wrapped.msearch(**request)
                if not outer._done:
                    outer._done = True
                    assert Indexer(outer._es, outer._index).index([outer._tombstone]) == {}
                    outer._es.indices.refresh(index=outer._index)
                return answer

            def __getattr__(self, name):
                return getattr(wrapped, name)

        return _Options()


def test_a_message_deleted_between_the_ranking_and_the_fetch_is_left_out(deps):
    es, index, app_id = deps.elasticsearch, f"it-deleted-{uuid.uuid4().hex[:8]}", 7
    es.indices.create(index=index, **index_body())
    try:
        assert Indexer(es, index).index([NewMessage(app_id, 1, n, BIG) for n in (1, 2)]) == {}
        es.indices.refresh(index=index)
        tombstone = NewMessage(app_id, 1, 1, "", version=2, deleted_at_ms=1)
        found = Finder(_DeletesAfterRanking(es, index, tombstone), index).find(app_id, 1, ["needle"], 100)
        assert [(m.number, m.body) for m in found.messages] == [(2, BIG)]
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
