"""Elasticsearch adapter: the API's search within one chat.

search_query.py builds the queries and the ranking's tiers; search_pages.py cuts an answer by
what its bodies cost; search_index.py defines the index.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from ...domain.errors import Unavailable
from ...domain.models import SearchAfter, SearchPage, answer_size
from . import search_pages
from .search_index import UNAVAILABLE, doc_id, message_of, routing
from .search_query import (
    HIGHLIGHT_FIELDS,
    NEWEST,
    SCORED_UP_TO,
    SORT,
    highlight,
    query,
    rest,
    tiers,
)

# How much longer the client waits than the `timeout` Elasticsearch is given, which then answers
# with the hits it found in time.
CLIENT_MARGIN_SECONDS = 2


class Finder:
    def __init__(self, client: Elasticsearch, index: str, timeout_ms: int = 500):
        self._es = client
        self._index = index
        self._timeout_ms = timeout_ms

    def find(
        self,
        application_id: int,
        chat_number: int,
        words: Sequence[str],
        limit: int,
        after: SearchAfter | None = None,
        chat_size: int | None = None,
    ) -> SearchPage:
        """A page of the chat's messages matching every word, best first (`words` from
        search_terms.words), after `after`: at most `limit`, and no more than search_pages lets one
        answer cost.

        In a chat of at most SCORED_UP_TO messages (`chat_size`, the chat's messages_count: only a
        choice of cost, both ways answer the same) the one scored query ranks every hit. Else the
        tiers of the ranking are asked in turn, each sorted by number alone, then the scored
        rest, until `limit` + 1 hits: the index keeps each segment newest first (INDEX_SORT), so a
        tier with many hits stops after `limit` + 1 of them; scoring every hit walked all 600k
        messages of a common word in a chat of 1M (docs/performance.md, "The big chat"). Each part is
        asked twice in one request: ranked without reading a body (sizes from doc values), and
        fetched with highlights for the bodies small enough that `limit` + 1 always fit a page.
        Reading and highlighting bodies is what a search costs: the page is cut by the sizes, and
        one more request fetches the big bodies that made it, if any.
        """
        ranked: list[tuple[SearchAfter, int | None]] = []
        hits: dict[int, dict[str, Any]] = {}
        if chat_size is not None and chat_size <= SCORED_UP_TO:
            parts = self._scored(application_id, chat_number, words, after)
        else:
            parts = self._parts(application_id, chat_number, words, after)
        for score, part, search_after in parts:
            part_ranked, part_hits = self._rank(
                application_id, chat_number, words, score, part, search_after, limit + 1 - len(ranked), limit
            )
            ranked += part_ranked
            hits.update(part_hits)
            if len(ranked) > limit:
                break
        page = [a for a, _ in ranked[: search_pages.cut([size or 0 for _, size in ranked], limit)]]
        hits.update(
            self._fetch(application_id, chat_number, words, [a for a in page if a.number not in hits])
        )
        # A document indexed before its size was has none: it was fetched as a small one, and the
        # page is cut again by what was fetched.
        fetched = [answer_size(hits[a.number]["_source"]["body"]) if a.number in hits else 0 for a in page]
        page = page[: search_pages.cut(fetched, limit)]
        messages = [
            message_of(a.number, hits[a.number]["_source"], fragments(hits[a.number].get("highlight", {})))
            for a in page
            # unless it was deleted since the ranking: gone, or indexed again as its tombstone
            if a.number in hits and hits[a.number]["_source"]["body"]
        ]
        return SearchPage(messages, page[-1] if len(ranked) > len(page) else None)

    def _parts(
        self, application_id: int, chat_number: int, words: Sequence[str], after: SearchAfter | None
    ) -> Iterator[tuple[float | None, dict[str, Any], list[float] | None]]:
        """(score, query, search_after) of the ranking's parts still to read after `after`: each
        tier with the score of its messages, then the scored rest (score None)."""
        for score, tier in tiers(application_id, chat_number, words):
            if after is None or score < after.score:
                yield score, tier, None
            elif score == after.score:
                yield score, tier, [after.number]
        scored = rest(application_id, chat_number, words)
        if scored is not None:
            yield None, scored, None if after is None else [after.score, after.number]

    @staticmethod
    def _scored(
        application_id: int, chat_number: int, words: Sequence[str], after: SearchAfter | None
    ) -> Iterator[tuple[float | None, dict[str, Any], list[float] | None]]:
        """The whole ranking as one scored part: a hit's (score, number) is the same as in the
        tiers, so a page's `after` goes on either way."""
        yield (
            None,
            query(application_id, chat_number, words),
            None if after is None else [after.score, after.number],
        )

    def _rank(
        self,
        application_id: int,
        chat_number: int,
        words: Sequence[str],
        score: float | None,
        part: dict[str, Any],
        search_after: list[float] | None,
        size: int,
        limit: int,
    ) -> tuple[list[tuple[SearchAfter, int | None]], dict[int, dict[str, Any]]]:
        """The best `size` hits of a part of the ranking with their `answer_bytes` (None for a
        document indexed before it was), and the small ones among them fetched, by number.

        The ranking reads no stored field: a hit's `_id` sits in the same compressed block as its
        body, and reading it costs as much (docs/performance.md, "Search cost bounds"). The fetch
        leaves out, by a `post_filter`, bodies over search_pages.small_size: on a chat of ordinary
        messages it is the page, and a search makes no more requests than it would without the
        budget.
        """
        # The scored rest counts every hit (track_total_hits), which makes Lucene lead with the
        # chat's filter; without it, top-k scoring walks each word's postings across the index
        # (docs/performance.md, "Why the scored query counts its hits"). A tier sorted by number
        # must not count, or it could not stop early.
        request = {
            "query": part,
            "sort": SORT if score is None else NEWEST,
            "size": size,
            "track_total_hits": score is None,
            "timeout": f"{self._timeout_ms}ms",
            **({"search_after": search_after} if search_after else {}),
        }
        big = {"range": {"answer_bytes": {"gt": search_pages.small_size(limit)}}}
        ranking, small = self._msearch(
            application_id,
            chat_number,
            [
                {**request, "stored_fields": "_none_", "docvalue_fields": ["answer_bytes"]},
                {
                    **request,
                    "post_filter": {"bool": {"must_not": [big]}},
                    "highlight": self._highlight(words, application_id, chat_number),
                },
            ],
        )
        ranked = [
            (
                SearchAfter(hit["sort"][0] if score is None else score, hit["sort"][-1]),
                hit.get("fields", {}).get("answer_bytes", [None])[0],
            )
            for hit in ranking
        ]
        return ranked, {hit["_source"]["number"]: hit for hit in small}

    def _highlight(self, words: Sequence[str], application_id: int, chat_number: int) -> dict[str, Any]:
        """The fields the words can match, marked by the scored query (a tier's filters score nothing)."""
        return {**highlight(words), "highlight_query": query(application_id, chat_number, words)}

    def _fetch(
        self, application_id: int, chat_number: int, words: Sequence[str], page: Sequence[SearchAfter]
    ) -> dict[int, dict[str, Any]]:
        """These hits by number, with their bodies and highlights."""
        if not page:
            return {}
        ids = [doc_id(application_id, chat_number, a.number) for a in page]
        hits = self._search(
            application_id,
            chat_number,
            query={"ids": {"values": ids}},
            size=len(ids),
            highlight=self._highlight(words, application_id, chat_number),
        )
        return {hit["_source"]["number"]: hit for hit in hits}

    def _client(self) -> Elasticsearch:
        return self._es.options(
            request_timeout=self._timeout_ms / 1000 + CLIENT_MARGIN_SECONDS, max_retries=0
        )

    def _msearch(
        self, application_id: int, chat_number: int, requests: Sequence[dict[str, Any]]
    ) -> list[list[dict[str, Any]]]:
        """The hits of each request, made in one round trip (Elasticsearch runs them side by side)."""
        try:
            result = self._client().msearch(
                index=self._index,
                routing=routing(application_id, chat_number),
                searches=[part for request in requests for part in ({}, request)],
            )
        except (ApiError, TransportError) as exc:
            raise Unavailable(UNAVAILABLE) from exc
        answers = result["responses"]
        errors = [answer["error"] for answer in answers if "error" in answer]
        if errors:  # the reason names indexes and shards: it goes to the log, not to the client
            raise Unavailable(UNAVAILABLE) from RuntimeError(f"msearch: {errors[0]}")
        return [answer["hits"]["hits"] for answer in answers]

    def _search(self, application_id: int, chat_number: int, **request: Any) -> list[dict[str, Any]]:
        try:
            result = self._client().search(
                index=self._index,
                routing=routing(application_id, chat_number),
                timeout=f"{self._timeout_ms}ms",
                **request,
            )
        except (ApiError, TransportError) as exc:
            raise Unavailable(UNAVAILABLE) from exc
        hits: list[dict[str, Any]] = result["hits"]["hits"]
        return hits


def fragments(highlight: dict[str, list[str]]) -> list[str]:
    """The fragments of the field that marked the most (each field marks its own way of matching;
    whole words first when they mark as many)."""
    best = max(HIGHLIGHT_FIELDS, key=lambda field: sum(f.count("<em>") for f in highlight.get(field, [])))
    return highlight.get(best, [])
