"""Elasticsearch adapter: the messages index, bulk indexing, and partial-match search.

Bodies are indexed as lowercase trigrams. A query word of 3+ characters matches where its
trigrams stand in a row (a phrase of trigrams), that is wherever it occurs inside a word; every
word must match. Queries are built from the words of `q`, never parsed as a query language.
"""
import re

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from .errors import Unavailable
from .models import Message

MIN_WORD = 3
_WORD = re.compile(r"\w+")

INDEX_BODY = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "tokenizer": {"trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3,
                                      "token_chars": ["letter", "digit"]}},
            "analyzer": {"trigram": {"type": "custom", "tokenizer": "trigram",
                                     "filter": ["lowercase", "asciifolding"]}},
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


def query_words(q: str) -> list:
    return [w for w in _WORD.findall(q) if len(w) >= MIN_WORD]


class Search:
    def __init__(self, client: Elasticsearch, index: str):
        self._es = client
        self._index = index

    def ensure_index(self) -> bool:
        """Creates the index unless it exists; True if it was created."""
        try:
            if self._es.indices.exists(index=self._index):
                return False
            self._es.indices.create(index=self._index, **INDEX_BODY)
            return True
        except ApiError as exc:
            if exc.meta.status == 400 and "resource_already_exists" in str(exc):
                return False
            raise Unavailable(f"could not create the search index: {exc}") from exc
        except TransportError as exc:
            raise Unavailable("search is unavailable") from exc

    def index(self, messages: list) -> dict:
        """Indexes messages (NewMessage) at their versions; returns {key: reason} of failures.

        External versions make a redelivered or older write a no-op (409), never an overwrite.
        """
        actions = [{
            "_index": self._index,
            "_id": doc_id(m.application_id, m.chat_number, m.number),
            "version": m.version,
            "version_type": "external",
            "_source": {"application_id": m.application_id, "chat_number": m.chat_number,
                        "number": m.number, "body": m.body},
        } for m in messages]
        keys = [(m.application_id, m.chat_number, m.number) for m in messages]
        try:
            _, errors = helpers.bulk(self._es, actions, raise_on_error=False, stats_only=False)
        except TransportError as exc:
            return {key: f"search unavailable: {exc}" for key in keys}
        failed = {}
        for item in errors:
            result = item.get("index", {})
            if result.get("status") == 409:
                continue  # this version or a newer one is already there
            failed[_key(result.get("_id", ""))] = str(result.get("error", result))
        return failed

    def find(self, application_id: int, chat_number: int, q: str, limit: int) -> list:
        words = query_words(q)
        if not words:
            return []
        query = {"bool": {
            "filter": [{"term": {"application_id": application_id}},
                       {"term": {"chat_number": chat_number}}],
            "must": [{"match_phrase": {"body": word}} for word in words],
        }}
        try:
            result = self._es.search(index=self._index, query=query, size=limit,
                                     sort=["_score", {"number": "asc"}],
                                     highlight={"encoder": "html", "fields": {"body": {}}}, track_total_hits=False)
        except (ApiError, TransportError) as exc:
            raise Unavailable("search is unavailable") from exc
        return [Message(hit["_source"]["number"], hit["_source"]["body"],
                        hit.get("highlight", {}).get("body", []))
                for hit in result["hits"]["hits"]]


def _key(doc: str) -> tuple:
    parts = doc.split(":")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else (doc,)
