"""Elasticsearch adapter: the writer's bulk indexing of messages (and unindexing of refused ones).

search_index.py defines the index (analysis, mapping, routing, versions behind the alias).
"""

import json
import math
import time
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError

from ...domain.models import MessageKey, NewMessage
from ...usecases.ports import Failures
from .search_index import doc_id, routing

# Elasticsearch advises _bulk requests of 5-15 MB; 100 bodies of 64 KB, JSON-escaped, make one of
# 6.5-20 MB, which a busy node may not take within the writer's time.
MAX_BULK_BYTES = 5 * 1024 * 1024
# json.dumps of a str (ensure_ascii, its default) is json's C encoder behind checks of its arguments.
_json_str = encode_basestring_ascii


class Indexer:
    def __init__(
        self, client: Elasticsearch, index: str, request_timeout: float = 10, bulk_budget: float = 15
    ):
        self._es = client
        self._index = index
        self._index_json = json.dumps(index)
        self._request_timeout = request_timeout
        # Seconds a writer invocation may spend on its _bulk requests together: well under its
        # timeout, so a slow node fails records for redelivery, not the whole invocation.
        self._bulk_budget = bulk_budget
        self._timed: tuple[float, Elasticsearch] | None = None  # the last client `_timed_client` made

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
            line = self.bulk_lines(m)
            if chunk and size + len(line) > MAX_BULK_BYTES:
                yield chunk, "".join(lines)
                chunk, lines, size = [], [], 0
            chunk.append(m)
            lines.append(line)
            size += len(line)  # ASCII (json.dumps escapes the rest): characters are bytes
        if chunk:
            yield chunk, "".join(lines)

    def bulk_lines(self, m: NewMessage) -> str:
        """A message's `_bulk` lines, written out: the numbers are ints (events.parse and MySQL
        see to it) and the strings are JSON-encoded, so each line is the JSON the client would
        write for the same dicts, made in a tenth of the client's time (docs/performance.md).
        One f-string and json's own string encoder: a batch's lines took 0.55 ms of the
        writer's CPU in pieces, 0.3 ms so."""
        body = _json_str(m.body)
        at = doc_id(m.application_id, m.chat_number, m.number)
        who = "" if m.author is None else f',"a":[{_json_str(m.author.id)},{_json_str(m.author.name)}]'
        return (
            f'{{"index":{{"_index":{self._index_json},"_id":"{at}",'
            f'"routing":"{m.application_id}:{m.chat_number}",'
            f'"version":{m.version},"version_type":"external"}}}}\n'
            f'{{"application_id":{m.application_id},"chat_number":{m.chat_number},"number":{m.number},'
            f'"body":{body},"answer_bytes":{len(body)},'
            f'"meta":{{"c":{_json_int(m.created_at_ms)},"e":{_json_int(m.edited_at_ms)}{who}}}}}\n'
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
        es = self._es if timeout is None else self._timed_client(timeout)
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

    def _timed_client(self, seconds: float) -> Elasticsearch:
        """The client with a request timeout of `seconds`, cut down to a tenth of a second and
        no retry. `options` builds a client of some forty namespaces (0.2 ms of the indexer's
        thread a batch), so the last one made is kept: a writer's first _bulk starts with its
        whole budget less the parsing, the same tenth every invocation."""
        tenths = math.floor(seconds * 10) / 10
        if tenths <= 0:
            return self._es.options(request_timeout=seconds, max_retries=0)
        kept = self._timed
        if kept is None or kept[0] != tenths:
            kept = self._timed = (tenths, self._es.options(request_timeout=tenths, max_retries=0))
        return kept[1]

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


def _key(doc: str) -> tuple[int | str, ...]:
    parts = doc.split(":")
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else (doc,)


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(value)
