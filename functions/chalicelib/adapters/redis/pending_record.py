"""How a queued message's pending record is written in Redis: readable until the writer has it.

A record is NUL, then JSON `{"b": body, "t": accept instant (epoch ms), "a": [author id, name]}`.
A body never holds NUL (the API refuses it), so a value without the mark is a bare body,
written before records carried a time and an author.
"""

import json

from ...domain.models import Author, Message

_MARK = "\x00"
TTL_SECONDS = 7 * 24 * 3600  # each chat's hash of them: `make audit` repairs a lost queue within it


def encode(body: str, created_at_ms: int | None, author: Author | None) -> str:
    record: dict[str, object] = {"b": body, "t": created_at_ms}
    if author is not None:
        record["a"] = [author.id, author.name]
    return _MARK + json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def decode(number: int, value: str) -> Message:
    if not value.startswith(_MARK):
        return Message(number, value)
    record = json.loads(value[1:])
    author = record.get("a")
    return Message(number, record["b"], record.get("t"), None, Author(*author) if author else None)
