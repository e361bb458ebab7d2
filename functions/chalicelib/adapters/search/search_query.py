"""The queries of a search within one chat: how each word may match and what that scores, the
ranking's tiers, and the highlights.

Every query word must match as a whole word, a two-character prefix or inside a word (the fields
of search_index.py), in any order; a match as whole words scores above a two-character prefix,
which scores above a match inside a word, and the whole query as a phrase adds to that. Ties go
to the newest message. Queries are built from the words of `q` (`search_terms`), never parsed as
a query language.
"""

from collections.abc import Sequence
from typing import Any

from ...domain import search_terms
from . import search_pages

# Scores are fixed per kind of match, not BM25, so the order is the one the API promises
# (then newest first); norms would only weigh length, and are left out.
WHOLE, PREFIX, INFIX, PHRASE = 4.0, 2.0, 1.0, 1.0
# The phrase is checked on every message that holds all the words, at a cost that grows fast with
# the words (docs/performance.md, "Search cost bounds"). Longer queries rank by their words.
MAX_PHRASE_WORDS = 4
# Highlighting re-analyzes a hit's body: past this many characters of a 64 KB body, matches are
# still found but no longer marked (docs/openapi.yaml). The plain highlighter stops there; the
# unified one still walks the whole body (docs/performance.md, "Search cost bounds").
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

# Up to this many messages a chat is searched with the one scored query (one request, not up to
# three for the tiers): the cheaper below ~1,000 messages (docs/performance.md, "The big chat").
SCORED_UP_TO = 1000


def query(application_id: int, chat_number: int, words: Sequence[str]) -> dict[str, Any]:
    """Every word must match as whole words, a two-character prefix, or inside a word."""
    bool_query: dict[str, Any] = {
        "filter": chat_filter(application_id, chat_number),
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
    chat = chat_filter(application_id, chat_number)
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


def chat_filter(application_id: int, chat_number: int) -> list[dict[str, Any]]:
    """The clauses that keep one chat's messages."""
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
        # checked first: docs/performance.md, "Search cost bounds").
        ways.append(
            (INFIX, {"bool": {"filter": [{"match_phrase": {"body.grams": word}}], "must_not": [whole]}})
        )
    return ways


def _word(word: str) -> dict[str, Any]:
    ways = [_scored(score, clause) for score, clause in _ways(word)]
    return ways[0] if len(ways) == 1 else {"dis_max": {"queries": ways}}


def _scored(score: float, clause: dict[str, Any]) -> dict[str, Any]:
    return {"constant_score": {"filter": clause, "boost": score}}
