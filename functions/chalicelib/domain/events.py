"""Creation and edit events as they travel through the queue: built by the API, read by the writer."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidEvent
from .models import MAX_AUTHOR_CHARS, Author, MessageKey, NewChat, NewMessage

# The SQS message attribute that carries the accepting API request's correlation id (its API
# Gateway request id) to the writer: one log search follows an event from its POST to the stores.
CORRELATION_ATTRIBUTE = "correlation_id"


@dataclass(frozen=True)
class MessageEdited:
    """An edit already in MySQL whose new body Elasticsearch has yet to see."""

    application_id: int
    chat_number: int
    number: int

    @property
    def key(self) -> MessageKey:
        return (self.application_id, self.chat_number, self.number)


# SQS's classic limit on a message, the one LocalStack enforces (bytes of UTF-8).
MAX_EVENT_BYTES = 256 * 1024
_LARGEST_ID = 2**32 - 1
_LONGEST_CREATE_ID = "f" * 32
# A body's room in the queue is counted with the widest author a message may carry: each
# character of its id and name escaped as JSON's widest, "\\u0000" (six bytes).
_WIDEST_AUTHOR = Author("\x01" * MAX_AUTHOR_CHARS, "\x01" * MAX_AUTHOR_CHARS)
_LATEST_MS = 2**53


def _dumps(event: dict[str, object]) -> str:
    """UTF-8 JSON: a body's "é" takes 2 bytes where ASCII-escaping writes 6, so any body the API
    accepts fits, bar the rare one made mostly of escaped control characters (message_fits).
    U+FFFE and U+FFFF are the only characters a body may hold that SQS refuses raw: escaped."""
    text = json.dumps(event, ensure_ascii=False)
    return text.replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")


def message_fits(body: str) -> bool:
    """Whether a creation event carrying `body` fits the queue, whatever its numbers."""
    largest = message_created(
        _LARGEST_ID, _LARGEST_ID, _LARGEST_ID, body, _LONGEST_CREATE_ID, _LATEST_MS, _WIDEST_AUTHOR
    )
    return len(largest.encode("utf-8")) <= MAX_EVENT_BYTES


def chat_created(
    application_id: int, number: int, create_id: str | None = None, created_at_ms: int | None = None
) -> str:
    event: dict[str, object] = {"type": "chat", "application_id": application_id, "number": number}
    if created_at_ms is not None:
        event["created_at_ms"] = created_at_ms
    return json.dumps(_with_create_id(event, create_id))


def message_created(
    application_id: int,
    chat_number: int,
    number: int,
    body: str,
    create_id: str | None = None,
    created_at_ms: int | None = None,
    author: Author | None = None,
) -> str:
    """A message's creation event: its accept instant and author travel with it, so every store
    the writer fills answers the same ones."""
    event: dict[str, object] = {
        "type": "message",
        "application_id": application_id,
        "chat_number": chat_number,
        "number": number,
        "body": body,
    }
    if created_at_ms is not None:
        event["created_at_ms"] = created_at_ms
    if author is not None:
        event["author"] = author.to_json()
    return _dumps(_with_create_id(event, create_id))


def _with_create_id(event: dict[str, object], create_id: str | None) -> dict[str, object]:
    # Minted once per create and stored with its row: the writer tells a replay of this create
    # (same id) from another create that was told the same number (a clash).
    if create_id is not None:
        event["create_id"] = create_id
    return event


def message_edited(application_id: int, chat_number: int, number: int) -> str:
    return json.dumps(
        {"type": "edit", "application_id": application_id, "chat_number": chat_number, "number": number}
    )


Event = NewChat | NewMessage | MessageEdited


def parse(raw: str) -> Event:
    """Returns a NewChat, NewMessage or MessageEdited; raises InvalidEvent for anything else."""
    try:
        event = json.loads(raw)
        kind = event["type"]
        create_id = _create_id(event)
        if kind == "chat":
            chat = (_positive(event, "application_id"), _positive(event, "number"))
            return NewChat(*chat, create_id, _instant(event))
        ids = (
            _positive(event, "application_id"),
            _positive(event, "chat_number"),
            _positive(event, "number"),
        )
        if kind == "message":
            if not isinstance(event["body"], str) or not event["body"]:
                raise InvalidEvent("message body must be a non-empty string")
            return NewMessage(
                *ids, event["body"], create_id=create_id, created_at_ms=_instant(event), author=_author(event)
            )
        if kind == "edit":
            return MessageEdited(*ids)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidEvent(f"malformed event: {exc!r}") from exc
    raise InvalidEvent(f"unknown event type {kind!r}")


def _create_id(event: dict[str, object]) -> str | None:
    """An event queued before create ids existed has none: it is then taken as a replay."""
    value = event.get("create_id")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 32 or not set(value) <= set("0123456789abcdef"):
        raise InvalidEvent(f"create_id must be 32 lowercase hex digits, got {value!r}")
    return value


def _instant(event: dict[str, object]) -> int | None:
    """The accept instant (epoch ms); None in an event queued before events carried it."""
    value = event.get("created_at_ms")
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= _LATEST_MS:
        raise InvalidEvent(f"created_at_ms must be epoch milliseconds, got {value!r}")
    return value


def _author(event: dict[str, object]) -> Author | None:
    value = event.get("author")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("id"), str)
        or not isinstance(value.get("name"), str)
    ):
        raise InvalidEvent(f"author must be an object of id and name strings, got {value!r}")
    author = Author(value["id"], value["name"])
    if not author.fits():
        raise InvalidEvent(f"author id and name must be 1 to {MAX_AUTHOR_CHARS} characters")
    return author


def _positive(event: dict[str, object], field: str) -> int:
    value = event[field]
    if type(value) is not int or not 0 < value < 2**32:
        raise InvalidEvent(f"{field} must be a positive 32-bit integer, got {value!r}")
    return value


def correlation_attributes(correlation_id: str | None) -> dict[str, dict[str, str]]:
    """The SQS MessageAttributes that carry `correlation_id` (none without one)."""
    if not correlation_id:
        return {}
    return {CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": correlation_id}}


def correlation_id(record: Mapping[str, Any]) -> str | None:
    """The correlation id an SQS record carries, as the event source hands it to the writer."""
    attribute = (record.get("messageAttributes") or {}).get(CORRELATION_ATTRIBUTE) or {}
    value = attribute.get("stringValue")
    return value if isinstance(value, str) else None
