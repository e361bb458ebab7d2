"""Elasticsearch adapter: the messages index, bulk indexing, and search within one chat.

A body is indexed three ways (multi-fields of `body`), all case- and accent-folded:
- `body`: its words (Unicode word rules, punctuation as a separator, so `42.50` is `42` `50`),
  Chinese, Japanese and Korean as single characters and pairs of characters, emoji as words;
- `body.prefix`: the first two characters of each word, so a two-character word finds `okay`;
- `body.grams`: trigrams, so a word of three or more characters matches inside a word.
Every query word must match one of these (any order); a match as whole words scores above a
two-character prefix, which scores above a match inside a word, and the whole query as a phrase
adds to that. Ties go to the newest message. Queries are built from the words of `q`
(`search_terms`), never parsed as a query language.

Each chat's documents are routed to one shard (`routing` = the chat), so a search reads one shard.

The product reads and writes through an alias (`messages`); the index behind it is versioned
(`messages-v1`, `messages-v2`, ...). Rebuilding it (`make reindex`, reindex.py) fills the next
version while the alias still serves the current one and then moves the alias in one atomic
request: the way to change the mapping, the analysis or the shard count of a live index.
"""

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from . import search_pages, search_terms
from .errors import Unavailable
from .models import Message, MessageKey, NewMessage, SearchAfter, SearchPage, answer_size
from .ports import Failures

# Elasticsearch advises _bulk requests of 5-15 MB; 100 bodies of 64 KB, JSON-escaped, make one of
# 6.5-20 MB, which a busy node may not take within the writer's time.
MAX_BULK_BYTES = 5 * 1024 * 1024
# Letters whose ASCII folding is longer than one letter (all of Lucene's ASCIIFoldingFilter has):
# folded before the text is cut into trigrams, or `strasse` would not find `Straße`.
_LONG_FOLDS = (
    "ÆAE ÞTH ßss æae þth ĲIJ ĳij ŒOE œoe ƕhv ǄDZ ǅDz ǆdz ǇLJ ǈLj ǉlj ǊNJ ǋNj ǌnj ǢAE ǣae ǱDZ ǲDz ǳdz "
    "ǶHV ǼAE ǽae ȢOU ȣou ȸdb ȹqp ɶOE ʣdz ʥdz ʦts ʨtc ʪls ʫlz ᴁAE ᴂae ᴔoe ᴕOU ᵫue ᵺth ẞSS ỺLL ỻll "
    "ꜨTZ ꜩtz ꜲAA ꜳaa ꜴAO ꜵao ꜶAU ꜷau ꜸAV ꜹav ꜺAV ꜻav ꜼAY ꜽay ꝎOO ꝏoo ꝠVY ꝡvy ꝦTH ꝧth ﬀff ﬁfi "
    "ﬂfl ﬃffi ﬄffl ﬆst"
)
_FOLDED = ["lowercase", "asciifolding"]
# Unicode's word rules keep some punctuation inside a word (`42.50`, `10:30`, `l'été`, `snake_case`):
# those characters become spaces, so each part is a word of its own. So do the emoji modifiers
# (zero-width joiner, emoji variation selector, skin tones), so that 👍 finds 👍🏽. A mapping is
# read as a stream (a pattern_replace filter reads the whole 64 KB body first, once per field).
_SEPARATORS = (
    ":·\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a"  # MidLetter
    ",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b"  # MidNum
    ".\u2018\u2019\u2024\ufe52\uff07\uff0e'\""  # MidNumLet, quotes
    "_\u203f\u2040\u2054\ufe33\ufe34\ufe4d\ufe4e\ufe4f\uff3f"  # ExtendNumLet
    "\u200d\ufe0f"  # zero-width joiner, emoji presentation
)
_SKIN_TONES = [chr(c) for c in range(0x1F3FB, 0x1F400)]


def _escaped(text: str) -> str:
    """A mapping rule's side: each UTF-16 unit as \\uXXXX (spaces and quotes survive the parser)."""
    units = text.encode("utf-16-be")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


ANALYSIS: dict[str, Any] = {
    "char_filter": {
        "separators": {
            "type": "mapping",
            "mappings": [f"{_escaped(c)} => \\u0020" for c in [*_SEPARATORS, *_SKIN_TONES]],
        },
        "long_folds": {"type": "mapping", "mappings": [f"{f[0]} => {f[1:]}" for f in _LONG_FOLDS.split()]},
    },
    "tokenizer": {
        "trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3, "token_chars": ["letter", "digit"]}
    },
    "filter": {
        "cjk_singles_and_pairs": {"type": "cjk_bigram", "output_unigrams": True},
        "cjk_pairs": {"type": "cjk_bigram", "output_unigrams": False},
        "first_two": {"type": "edge_ngram", "min_gram": 2, "max_gram": 2},
    },
    "analyzer": {
        # A query's CJK text is matched as its pairs (a phrase of them), or as its single
        # character when it has only one; the index holds both.
        "words": {
            "type": "custom",
            "char_filter": ["separators"],
            "tokenizer": "standard",
            "filter": [*_FOLDED, "cjk_singles_and_pairs"],
        },
        "words_query": {
            "type": "custom",
            "char_filter": ["separators"],
            "tokenizer": "standard",
            "filter": [*_FOLDED, "cjk_pairs"],
        },
        "prefix": {
            "type": "custom",
            "char_filter": ["separators"],
            "tokenizer": "standard",
            "filter": [*_FOLDED, "first_two"],
        },
        "prefix_query": {
            "type": "custom",
            "char_filter": ["separators"],
            "tokenizer": "standard",
            "filter": _FOLDED,
        },
        "trigram": {
            "type": "custom",
            "char_filter": ["long_folds"],
            "tokenizer": "trigram",
            "filter": _FOLDED,
        },
    },
}

# Scores are fixed per kind of match, not BM25, so the order is the one the API promises
# (then newest first); norms would only weigh length, and are left out.
WHOLE, PREFIX, INFIX, PHRASE = 4.0, 2.0, 1.0, 1.0
# The phrase is checked on every message that holds all the words: on 1,000 bodies of 64 KB that
# all do, 3 words took 8 ms, 4 words 25 ms, 8 words 77 ms. Longer queries rank by their words.
MAX_PHRASE_WORDS = 4
MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_routing": {"required": True},
    "properties": {
        "application_id": {"type": "long"},
        "chat_number": {"type": "integer"},
        "number": {"type": "integer"},
        "body": {
            "type": "text",
            "analyzer": "words",
            "search_analyzer": "words_query",
            "norms": False,
            "fields": {
                "prefix": {
                    "type": "text",
                    "analyzer": "prefix",
                    "search_analyzer": "prefix_query",
                    "norms": False,
                    "index_options": "docs",
                },
                "grams": {"type": "text", "analyzer": "trigram", "norms": False},
            },
        },
        # What the body costs an answer (models.answer_size), read before a search fetches any
        # body (search_pages.py). Doc values only: it is read per hit, never searched for alone.
        "answer_bytes": {"type": "integer", "index": False},
    },
}
# Fields added to the mapping since its first version: an existing index gets them by a put-mapping
# (ensure_index), its documents' values by `make reindex`.
ADDED_FIELDS = ("answer_bytes",)
# Highlighting re-analyzes a hit's body: past this many characters of a 64 KB body, matches are
# still found but no longer marked (docs/openapi.yaml). The plain highlighter stops there; the
# unified one still walks the whole body, 5-10 times the cost on 64 KB bodies (docs/performance.md).
HIGHLIGHT_CHARS = search_pages.HIGHLIGHT_CHARS
HIGHLIGHT_FIELDS = ("body", "body.prefix", "body.grams")
HIGHLIGHT: dict[str, Any] = {
    "type": "plain",
    "encoder": "html",
    "max_analyzed_offset": HIGHLIGHT_CHARS,
    "fields": {field: {} for field in HIGHLIGHT_FIELDS},
}
# The ranking's order: score, then newest first (a tier's messages share a score: newest first).
SORT = ["_score", {"number": "desc"}]
NEWEST = [{"number": "desc"}]


# Each segment keeps its documents newest first: a search sorted by number alone stops after
# `limit` hits per segment instead of visiting every hit (a common word in a chat of 1M messages
# matches 600k of them). Like the shard count, fixed when the index is created.
INDEX_SORT = {"sort.field": "number", "sort.order": "desc"}

# Up to this many messages a chat is searched with the one scored query: one request instead of
# up to three for the tiers. In a chat of 10 two words took p50 8.1 ms with the tiers against 2.2
# with the scored query; from ~1,000 messages on the tiers cost less (docs/performance.md, big chat).
SCORED_UP_TO = 1000


def index_body(shards: int = 1) -> dict[str, Any]:
    """The index's settings and mappings; its shard count and sort are fixed when it is created."""
    return {
        "settings": {
            "number_of_shards": shards,
            "number_of_replicas": 0,
            "index": INDEX_SORT,
            "analysis": ANALYSIS,
        },
        "mappings": MAPPINGS,
    }


def document(application_id: int, chat_number: int, number: int, body: str) -> dict[str, Any]:
    """A message as the index holds it (`Search.index` writes the same JSON out by hand)."""
    return {
        "application_id": application_id,
        "chat_number": chat_number,
        "number": number,
        "body": body,
        "answer_bytes": answer_size(body),
    }


def doc_id(application_id: int, chat_number: int, number: int) -> str:
    return f"{application_id}:{chat_number}:{number}"


def version_name(alias: str, version: int) -> str:
    return f"{alias}-v{version}"


def routing(application_id: int, chat_number: int) -> str:
    """A chat's documents share a shard: its search reads that shard alone."""
    return f"{application_id}:{chat_number}"


def query(application_id: int, chat_number: int, words: Sequence[str]) -> dict[str, Any]:
    """Every word must match as whole words, a two-character prefix, or inside a word."""
    bool_query: dict[str, Any] = {
        "filter": _chat(application_id, chat_number),
        "must": [_word(word) for word in words],
    }
    if 1 < len(words) <= MAX_PHRASE_WORDS:
        bool_query["should"] = [_scored(PHRASE, _phrase(words))]
    return {"bool": bool_query}


def tiers(application_id: int, chat_number: int, words: Sequence[str]) -> list[tuple[float, dict[str, Any]]]:
    """`query`'s ranks, best first, as unscored filters with the score `query` gives each of their
    messages: every message of a tier scores above every message of the next, so the newest hits
    of the first tiers are `query`'s best without scoring every hit. One word: whole words, then a
    two-character start, then inside a word. Several: every word whole (in a row first, when the
    phrase counts), then `rest`."""
    chat = _chat(application_id, chat_number)
    if len(words) == 1:
        ways = _ways(words[0])
        return [
            (score, _filtered([*chat, way], [clause for _, clause in ways[:i]]))
            for i, (score, way) in enumerate(ways)
        ]
    whole = [_whole(word) for word in words]
    if len(words) > MAX_PHRASE_WORDS:
        return [(WHOLE * len(words), _filtered([*chat, *whole]))]
    return [
        (WHOLE * len(words) + PHRASE, _filtered([*chat, *whole, _phrase(words)])),
        (WHOLE * len(words), _filtered([*chat, *whole], [_phrase(words)])),
    ]


def rest(application_id: int, chat_number: int, words: Sequence[str]) -> dict[str, Any] | None:
    """The matches of several words that `tiers` leaves out (some word not whole), scored."""
    if len(words) == 1:
        return None
    scored = query(application_id, chat_number, words)
    scored["bool"]["must_not"] = [{"bool": {"filter": [_whole(word) for word in words]}}]
    return scored


def highlight(words: Sequence[str]) -> dict[str, Any]:
    """HIGHLIGHT for the fields the words can match: each field highlighted costs as much again,
    whether it marks anything or not."""
    scores = {score for word in words for score, _ in _ways(word)}
    fields = [
        "body",
        *(["body.prefix"] if PREFIX in scores else []),
        *(["body.grams"] if INFIX in scores else []),
    ]
    return {**HIGHLIGHT, "fields": {field: {} for field in fields}}


def _chat(application_id: int, chat_number: int) -> list[dict[str, Any]]:
    return [{"term": {"application_id": application_id}}, {"term": {"chat_number": chat_number}}]


def _whole(word: str) -> dict[str, Any]:
    return {"match_phrase": {"body": word}}


def _phrase(words: Sequence[str]) -> dict[str, Any]:
    return {"match_phrase": {"body": " ".join(words)}}


def _filtered(clauses: list[dict[str, Any]], excluded: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"bool": {"filter": clauses, **({"must_not": list(excluded)} if excluded else {})}}


def _ways(word: str) -> list[tuple[float, dict[str, Any]]]:
    """How a word may match, best first, with the score of each."""
    parts = search_terms.parts(word)
    whole = _whole(word)
    ways = [(WHOLE, whole)]
    if len(parts) == 1 and len(parts[0]) == 2 and not search_terms.is_cjk(word):
        ways.append((PREFIX, {"match": {"body.prefix": word}}))
    # A part under three characters has no trigram: it would drop out of the phrase and let the
    # other parts match alone.
    if parts and all(len(part) >= 3 for part in parts):
        # A message holding the whole word skips the trigram phrase (the exclusion, one term, is
        # checked first): on 1,000 bodies of 64 KB, eight words took ES 104 ms before, 13 ms so.
        ways.append(
            (INFIX, {"bool": {"filter": [{"match_phrase": {"body.grams": word}}], "must_not": [whole]}})
        )
    return ways


def _word(word: str) -> dict[str, Any]:
    ways = [_scored(score, clause) for score, clause in _ways(word)]
    return ways[0] if len(ways) == 1 else {"dis_max": {"queries": ways}}


def _scored(score: float, clause: dict[str, Any]) -> dict[str, Any]:
    return {"constant_score": {"filter": clause, "boost": score}}


class Search:
    def __init__(
        self,
        client: Elasticsearch,
        index: str,
        shards: int = 1,
        timeout_ms: int = 500,
        request_timeout: float = 10,
        bulk_budget: float = 15,
    ):
        self._es = client
        self._index = index
        self._index_json = json.dumps(index)
        self._shards = shards
        self._timeout_ms = timeout_ms
        self._request_timeout = request_timeout
        # Seconds a writer invocation may spend on its _bulk requests together: well under its
        # timeout, so a slow node fails records for redelivery, not the whole invocation.
        self._bulk_budget = bulk_budget

    def ensure_index(self) -> bool:
        """Creates the first version behind the alias unless the alias (or an index of that name,
        from before aliases) exists, which gets the ADDED_FIELDS instead; True if it was created."""
        try:
            if self._es.indices.exists(index=self._index):
                added = {field: MAPPINGS["properties"][field] for field in ADDED_FIELDS}
                self._es.indices.put_mapping(index=self._index, properties=added)
                return False
            self._es.indices.create(
                index=version_name(self._index, 1), aliases={self._index: {}}, **index_body(self._shards)
            )
            return True
        except ApiError as exc:
            if exc.meta.status == 400 and "resource_already_exists" in str(exc):
                return False
            raise Unavailable(f"could not create the search index: {exc}") from exc
        except TransportError as exc:
            raise Unavailable("search is unavailable") from exc

    def bulk_deadline(self) -> float:
        """When the _bulk requests of a writer invocation starting now must be done (monotonic)."""
        return time.monotonic() + self._bulk_budget

    def index(self, messages: Sequence[NewMessage], deadline: float | None = None) -> Failures:
        """Indexes messages (NewMessage) at their versions; returns {key: reason} of failures.

        External versions make a redelivered or older write a no-op (409), never an overwrite.
        The requests carry at most MAX_BULK_BYTES each, smallest bodies first: one tenant's big
        bodies share no request with small ones when they can help it, and a request that fails
        fails only its own messages.
        """
        deadline = self.bulk_deadline() if deadline is None else deadline
        failed: Failures = {}
        for chunk, body in self._index_chunks(sorted(messages, key=lambda m: len(m.body))):
            left = deadline - time.monotonic()
            if left <= 0:
                failed.update({m.key: "not indexed: the writer's time for search ran out" for m in chunk})
                continue
            failed.update(self._bulk(body, [m.key for m in chunk], timeout=left, written=chunk))
        return failed

    def _index_chunks(self, messages: list[NewMessage]) -> Iterator[tuple[list[NewMessage], str]]:
        """(messages, `_bulk` body) pairs of at most MAX_BULK_BYTES (a bigger message alone)."""
        chunk: list[NewMessage] = []
        lines: list[str] = []
        size = 0
        for m in messages:
            line = self._index_line(m)
            if chunk and size + len(line) > MAX_BULK_BYTES:
                yield chunk, "".join(lines)
                chunk, lines, size = [], [], 0
            chunk.append(m)
            lines.append(line)
            size += len(line)  # ASCII (json.dumps escapes the rest): characters are bytes
        if chunk:
            yield chunk, "".join(lines)

    def _index_line(self, m: NewMessage) -> str:
        """A message's `_bulk` lines, written out: the numbers are ints (events.parse and MySQL
        see to it) and the body is JSON-encoded, so each line is the JSON the client would write
        for the same dicts, made in a tenth of the client's time (docs/performance.md)."""
        body = json.dumps(m.body)
        return (
            f'{{"index":{{"_index":{self._index_json},"_id":"{doc_id(*m.key)}",'
            f'"routing":"{m.application_id}:{m.chat_number}",'
            f'"version":{m.version},"version_type":"external"}}}}\n'
            f'{{"application_id":{m.application_id},"chat_number":{m.chat_number},"number":{m.number},'
            f'"body":{body},"answer_bytes":{len(body)}}}\n'
        )

    def unindex_creations(self, keys: Sequence[MessageKey]) -> Failures:
        """Removes what creations (version 1) indexed at these keys, never an edit's later version."""
        return self._bulk(
            [
                {
                    "delete": {
                        "_index": self._index,
                        "_id": doc_id(*key),
                        "routing": routing(key[0], key[1]),
                        "version": 1,
                        "version_type": "external_gte",
                    }
                }
                for key in keys
            ],
            keys,
        )

    def _bulk(
        self,
        operations: str | list[dict[str, Any]],
        keys: Sequence[MessageKey],
        timeout: float | None = None,
        written: Sequence[NewMessage] = (),
    ) -> Failures:
        """One `_bulk` request (`operations`: its lines, or its body written out); returns
        {key: reason} of the operations that did not take effect.

        A version conflict (409: this version or a newer one is there) and a delete of nothing
        (404) leave the document as it should be, so neither counts as a failure. A request
        that times out may have been applied in part: the `written` messages found indexed at
        their version afterwards do not fail either.
        """
        if not operations:
            return {}
        es = self._es if timeout is None else self._es.options(request_timeout=timeout, max_retries=0)
        try:
            # A str is sent as the body as it is; the client's annotation names only the list form.
            result = es.bulk(operations=operations)  # type: ignore[arg-type]
        except (ApiError, TransportError) as exc:
            failed: Failures = {key: f"search unavailable: {exc}" for key in keys}
            for key in self._already_indexed(written):
                failed.pop(key, None)
            return failed
        if not result["errors"]:
            return {}
        failed = {}
        for item in result["items"]:
            outcome = next(iter(item.values()))
            if outcome.get("status", 500) >= 300 and outcome.get("status") not in (404, 409):
                failed[_key(outcome.get("_id", ""))] = str(outcome.get("error", outcome))
        return failed

    def _already_indexed(self, messages: Sequence[NewMessage]) -> list[MessageKey]:
        """The keys of `messages` the index holds at their version or a later one."""
        if not messages:
            return []
        try:
            found = self._es.options(request_timeout=self._request_timeout, max_retries=0).mget(
                index=self._index, ids=[doc_id(*m.key) for m in messages], source=False
            )
        except (ApiError, TransportError):
            return []  # cannot tell: all of them fail and come back
        versions = {doc["_id"]: doc.get("_version", 0) for doc in found["docs"] if doc.get("found")}
        return [m.key for m in messages if versions.get(doc_id(*m.key), 0) >= m.version]

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
        messages of a common word in a chat of 1M (docs/performance.md, big chat). Each part is
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
            Message(
                a.number, hits[a.number]["_source"]["body"], _fragments(hits[a.number].get("highlight", {}))
            )
            for a in page
            if a.number in hits  # unless it was deleted since the ranking
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
        body (101 hits of 64 KB: 33 ms with `_id`s, 11 ms without). The fetch leaves out, by a
        `post_filter`, bodies over search_pages.small_size: on a chat of ordinary messages it is
        the page, and a search makes no more requests than it would without the budget.
        """
        # The scored rest counts every hit (track_total_hits), which makes Lucene lead with the
        # chat's filter: without it, top-k scoring walked each word's postings across the index
        # (two words at 1M messages: p99 18.6 ms that way, 6.4 ms this way). A tier sorted by
        # number must not count, or it could not stop early.
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

    def _msearch(
        self, application_id: int, chat_number: int, requests: Sequence[dict[str, Any]]
    ) -> list[list[dict[str, Any]]]:
        """The hits of each request, made in one round trip (Elasticsearch runs them side by side)."""
        try:
            result = self._es.options(request_timeout=self._timeout_ms / 1000 + 2, max_retries=0).msearch(
                index=self._index,
                routing=routing(application_id, chat_number),
                searches=[part for request in requests for part in ({}, request)],
            )
        except (ApiError, TransportError) as exc:
            raise Unavailable("search is unavailable") from exc
        answers = result["responses"]
        errors = [answer["error"] for answer in answers if "error" in answer]
        if errors:  # the reason names indexes and shards: it goes to the log, not to the client
            raise Unavailable("search is unavailable") from RuntimeError(f"msearch: {errors[0]}")
        return [answer["hits"]["hits"] for answer in answers]

    def _search(self, application_id: int, chat_number: int, **request: Any) -> list[dict[str, Any]]:
        try:
            result = self._es.options(request_timeout=self._timeout_ms / 1000 + 2, max_retries=0).search(
                index=self._index,
                routing=routing(application_id, chat_number),
                timeout=f"{self._timeout_ms}ms",
                **request,
            )
        except (ApiError, TransportError) as exc:
            raise Unavailable("search is unavailable") from exc
        hits: list[dict[str, Any]] = result["hits"]["hits"]
        return hits


def _fragments(highlight: dict[str, list[str]]) -> list[str]:
    """The fragments of the field that marked the most (each field marks its own way of matching;
    whole words first when they mark as many)."""
    best = max(HIGHLIGHT_FIELDS, key=lambda field: sum(f.count("<em>") for f in highlight.get(field, [])))
    return highlight.get(best, [])


class IndexVersions:
    """The indexes behind the alias: the one serving, the next one to fill, and the swap."""

    def __init__(self, client: Elasticsearch, alias: str, shards: int = 1):
        self._es = client
        self.alias = alias
        self._shards = shards

    def serving(self) -> str | None:
        """The index the alias points at; the alias's own name if it is an index from before
        aliases; None if there is neither."""
        with _available():
            try:
                return next(iter(self._es.indices.get_alias(name=self.alias)))
            except NotFoundError:
                return self.alias if self._es.indices.exists(index=self.alias) else None

    def create_next(self) -> str:
        """Creates the next version, not yet behind the alias, refreshing only when told (a bulk
        load runs faster without refreshes; `swap` turns them back on)."""
        with _available():
            names = self._es.indices.get(index=f"{self.alias}-v*", expand_wildcards="all")
            taken = [int(n.rsplit("-v", 1)[1]) for n in names if n.rsplit("-v", 1)[1].isdigit()]
            name = version_name(self.alias, max(taken, default=0) + 1)
            self._es.indices.create(index=name, **index_body(self._shards))
            self._es.indices.put_settings(index=name, settings={"refresh_interval": "-1"})
        return name

    def swap(self, new: str, old: str | None) -> None:
        """Points the alias at `new` instead of `old` in one request: readers and writers see
        one index or the other, never none. An index from before aliases is deleted in the same
        request (the alias cannot share its name)."""
        actions: list[dict[str, dict[str, str]]] = [{"add": {"index": new, "alias": self.alias}}]
        if old == self.alias:
            actions.append({"remove_index": {"index": old}})
        elif old is not None:
            actions.insert(0, {"remove": {"index": old, "alias": self.alias}})
        with _available():
            settings: dict[str, Any] = {"refresh_interval": None}
            if old is not None:  # replicas are set by hand on AWS (docs/deploy-aws.md): keep them
                found = self._es.indices.get_settings(index=old, name="index.number_of_replicas")
                settings["number_of_replicas"] = next(iter(found.values()))["settings"]["index"][
                    "number_of_replicas"
                ]
            self._es.indices.put_settings(index=new, settings=settings)
            self._es.indices.refresh(index=new)
            self._es.indices.update_aliases(actions=actions)

    def drop(self, name: str) -> None:
        with _available():
            self._es.indices.delete(index=name)


@contextmanager
def _available() -> Iterator[None]:
    try:
        yield
    except (ApiError, TransportError) as exc:
        raise Unavailable(f"search index administration failed: {exc}") from exc


def _key(doc: str) -> tuple[int | str, ...]:
    parts = doc.split(":")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else (doc,)
