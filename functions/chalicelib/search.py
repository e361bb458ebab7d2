"""Elasticsearch adapter: the messages index, bulk indexing, and partial-match search.

The product reads and writes through an alias (`messages`); the index behind it is versioned
(`messages-v1`, `messages-v2`, ...). Rebuilding it (`make reindex`, reindex.py) fills the next
version while the alias still serves the current one and then moves the alias in one atomic
request: the way to change the mapping or the analysis of a live index.

Bodies are indexed as lowercase trigrams. A query word of 3+ characters matches where its
trigrams stand in a row (a phrase of trigrams), that is wherever it occurs inside a word; every
word must match. Queries are built from the words of `q`, never parsed as a query language.
"""

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from .errors import Unavailable
from .models import Message, MessageKey, NewMessage
from .ports import Failures

MIN_WORD = 3
_WORD = re.compile(r"\w+")

INDEX_BODY: dict[str, Any] = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "tokenizer": {
                "trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3, "token_chars": ["letter", "digit"]}
            },
            "analyzer": {
                "trigram": {"type": "custom", "tokenizer": "trigram", "filter": ["lowercase", "asciifolding"]}
            },
        },
    },
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "application_id": {"type": "long"},
            "chat_number": {"type": "integer"},
            "number": {"type": "integer"},
            "body": {"type": "text", "analyzer": "trigram"},
        },
    },
}


def doc_id(application_id: int, chat_number: int, number: int) -> str:
    return f"{application_id}:{chat_number}:{number}"


def query_words(q: str) -> list[str]:
    return [w for w in _WORD.findall(q) if len(w) >= MIN_WORD]


def version_name(alias: str, version: int) -> str:
    return f"{alias}-v{version}"


class Search:
    def __init__(self, client: Elasticsearch, index: str):
        self._es = client
        self._index = index
        self._index_json = json.dumps(index)

    def ensure_index(self) -> bool:
        """Creates the first version behind the alias unless the alias (or an index of that name,
        from before aliases) exists; True if it was created."""
        try:
            if self._es.indices.exists(index=self._index):
                return False
            self._es.indices.create(
                index=version_name(self._index, 1), aliases={self._index: {}}, **INDEX_BODY
            )
            return True
        except ApiError as exc:
            if exc.meta.status == 400 and "resource_already_exists" in str(exc):
                return False
            raise Unavailable(f"could not create the search index: {exc}") from exc
        except TransportError as exc:
            raise Unavailable("search is unavailable") from exc

    def index(self, messages: Sequence[NewMessage]) -> Failures:
        """Indexes messages (NewMessage) at their versions; returns {key: reason} of failures.

        External versions make a redelivered or older write a no-op (409), never an overwrite.
        """
        return self._bulk(self._index_lines(messages), [m.key for m in messages])

    def _index_lines(self, messages: Sequence[NewMessage]) -> str:
        """The `_bulk` body, written out: the numbers are ints (events.parse and MySQL see to it)
        and the body is JSON-encoded, so each line is the JSON the client would write for the
        same dicts, made in a tenth of the client's time (docs/performance.md)."""
        return "".join(
            f'{{"index":{{"_index":{self._index_json},"_id":"{doc_id(*m.key)}",'
            f'"version":{m.version},"version_type":"external"}}}}\n'
            f'{{"application_id":{m.application_id},"chat_number":{m.chat_number},"number":{m.number},'
            f'"body":{json.dumps(m.body)}}}\n'
            for m in messages
        )

    def unindex_creations(self, keys: Sequence[MessageKey]) -> Failures:
        """Removes what creations (version 1) indexed at these keys, never an edit's later version."""
        return self._bulk(
            [
                {
                    "delete": {
                        "_index": self._index,
                        "_id": doc_id(*key),
                        "version": 1,
                        "version_type": "external_gte",
                    }
                }
                for key in keys
            ],
            keys,
        )

    def _bulk(self, operations: str | list[dict[str, Any]], keys: Sequence[MessageKey]) -> Failures:
        """One `_bulk` request (`operations`: its lines, or its body written out); returns
        {key: reason} of the operations that did not take effect.

        A version conflict (409: this version or a newer one is there) and a delete of nothing
        (404) leave the document as it should be, so neither counts as a failure.
        """
        if not operations:
            return {}
        try:
            # A str is sent as the body as it is; the client's annotation names only the list form.
            result = self._es.bulk(operations=operations)  # type: ignore[arg-type]
        except (ApiError, TransportError) as exc:
            return {key: f"search unavailable: {exc}" for key in keys}
        if not result["errors"]:
            return {}
        failed: Failures = {}
        for item in result["items"]:
            outcome = next(iter(item.values()))
            if outcome.get("status", 500) >= 300 and outcome.get("status") not in (404, 409):
                failed[_key(outcome.get("_id", ""))] = str(outcome.get("error", outcome))
        return failed

    def find(self, application_id: int, chat_number: int, q: str, limit: int) -> list[Message]:
        words = query_words(q)
        if not words:
            return []
        query = {
            "bool": {
                "filter": [
                    {"term": {"application_id": application_id}},
                    {"term": {"chat_number": chat_number}},
                ],
                "must": [{"match_phrase": {"body": word}} for word in words],
            }
        }
        # Counting every hit (track_total_hits) makes Lucene lead with the chat's filter, so the
        # work grows with the chat, not the index. Without it, Lucene's top-k scoring walks each
        # word's postings across the whole index: at 1M messages two words took p50 4.2 / p99
        # 18.6 ms that way, 1.7 / 6.4 ms this way (docs/performance.md).
        try:
            result = self._es.search(
                index=self._index,
                query=query,
                size=limit,
                sort=["_score", {"number": "asc"}],
                highlight={"encoder": "html", "fields": {"body": {}}},
                track_total_hits=True,
            )
        except (ApiError, TransportError) as exc:
            raise Unavailable("search is unavailable") from exc
        return [
            Message(
                hit["_source"]["number"], hit["_source"]["body"], hit.get("highlight", {}).get("body", [])
            )
            for hit in result["hits"]["hits"]
        ]


class IndexVersions:
    """The indexes behind the alias: the one serving, the next one to fill, and the swap."""

    def __init__(self, client: Elasticsearch, alias: str):
        self._es = client
        self.alias = alias

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
            self._es.indices.create(index=name, **INDEX_BODY)
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
