"""The messages index: how a body is analyzed, the mapping, a document's id and routing, and the
versions of the index behind its alias.

A body is indexed three ways (multi-fields of `body`), all case- and accent-folded:
- `body`: its words (Unicode word rules, punctuation as a separator, so `42.50` is `42` `50`),
  Chinese, Japanese and Korean as single characters and pairs of characters, emoji as words;
- `body.prefix`: the first two characters of each word, so a two-character word finds `okay`;
- `body.grams`: trigrams, so a word of three or more characters matches inside a word.

Each chat's documents are routed to one shard (`routing` = the chat), so a search reads one shard.

The product reads and writes through an alias (`messages`); the index behind it is versioned
(`messages-v1`, `messages-v2`, ...). Rebuilding it (`make reindex`, reindex.py) fills the next
version while the alias still serves the current one and then moves the alias in one atomic
request: the way to change the mapping, the analysis or the shard count of a live index.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from ...domain.errors import Unavailable
from ...domain.models import Author, Message, answer_size

# What a caller hears when Elasticsearch cannot answer (the cause goes to the log).
UNAVAILABLE = "search is unavailable"

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
        # What an answer shows beside the body, kept in _source only (never searched): `c` the
        # accept instant and `e` the last edit's (epoch ms), `a` the author's [id, name].
        "meta": {"type": "object", "enabled": False},
    },
}
# Fields added to the mapping since its first version: an existing index gets them by a put-mapping
# (ensure_index), its documents' values by `make reindex`.
ADDED_FIELDS = ("answer_bytes", "meta")

# Each segment keeps its documents newest first: a search sorted by number alone stops after
# `limit` hits per segment instead of visiting every hit (a common word in a chat of 1M messages
# matches 600k of them). Like the shard count, fixed when the index is created.
INDEX_SORT = {"sort.field": "number", "sort.order": "desc"}


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


def document(
    application_id: int,
    chat_number: int,
    number: int,
    body: str,
    created_at_ms: int | None = None,
    edited_at_ms: int | None = None,
    author: Author | None = None,
) -> dict[str, Any]:
    """A message as the index holds it (`Indexer.index` writes the same JSON out by hand)."""
    return {
        "application_id": application_id,
        "chat_number": chat_number,
        "number": number,
        "body": body,
        "answer_bytes": answer_size(body),
        "meta": meta(created_at_ms, edited_at_ms, author),
    }


def meta(created_at_ms: int | None, edited_at_ms: int | None, author: Author | None) -> dict[str, Any]:
    out: dict[str, Any] = {"c": created_at_ms, "e": edited_at_ms}
    if author is not None:
        out["a"] = [author.id, author.name]
    return out


def message_of(number: int, source: dict[str, Any], highlight: list[str]) -> Message:
    """The answer for a hit, from its document (one indexed before `meta` has no times)."""
    found = source.get("meta") or {}
    author = found.get("a")
    return Message(
        number,
        source["body"],
        found.get("c"),
        found.get("e"),
        Author(author[0], author[1]) if author else None,
        highlight,
    )


def doc_id(application_id: int, chat_number: int, number: int) -> str:
    return f"{application_id}:{chat_number}:{number}"


def version_name(alias: str, version: int) -> str:
    return f"{alias}-v{version}"


def routing(application_id: int, chat_number: int) -> str:
    """A chat's documents share a shard: its search reads that shard alone."""
    return f"{application_id}:{chat_number}"


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
