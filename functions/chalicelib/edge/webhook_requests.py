"""Webhook endpoints' requests read and checked: the URL, the events, a description, a grace."""

import json
from collections.abc import Mapping
from typing import Any

from ..domain.errors import BadRequest
from ..domain.webhooks import (
    DEFAULT_SECRET_GRACE_SECONDS,
    MAX_DESCRIPTION_CHARS,
    MAX_SECRET_GRACE_SECONDS,
    EndpointChange,
    events_field,
    url_field,
)

_FIELDS = {"url", "events", "description", "enabled"}


def new_endpoint(body: Mapping[str, Any], allow_loopback: bool) -> tuple[str, tuple[str, ...], str]:
    _known_fields(body)
    return (
        url_field(body.get("url"), allow_loopback),
        events_field(body.get("events")),
        _description(body.get("description", "")),
    )


def endpoint_change(body: Mapping[str, Any], allow_loopback: bool) -> EndpointChange:
    _known_fields(body)
    if not body:
        raise BadRequest(f"nothing to change: send any of {', '.join(sorted(_FIELDS))}")
    enabled = body.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise BadRequest("enabled must be true or false")
    return EndpointChange(
        url=url_field(body["url"], allow_loopback) if "url" in body else None,
        events=events_field(body["events"]) if "events" in body else None,
        description=_description(body["description"]) if "description" in body else None,
        enabled=enabled,
    )


def secret_grace_seconds(body: Mapping[str, Any]) -> int:
    """How long the replaced secret keeps signing beside the new one (default a day, 0: not at all)."""
    value = body.get("grace_seconds", DEFAULT_SECRET_GRACE_SECONDS)
    if type(value) is not int or not 0 <= value <= MAX_SECRET_GRACE_SECONDS:
        raise BadRequest(f"grace_seconds must be an integer from 0 to {MAX_SECRET_GRACE_SECONDS}")
    return value


def _description(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION_CHARS or "\x00" in value:
        raise BadRequest(f"description must be a string of at most {MAX_DESCRIPTION_CHARS} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("description is not valid Unicode text (a lone surrogate?)") from None
    return value


def _known_fields(body: Mapping[str, Any]) -> None:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise BadRequest(f"unknown fields {unknown}; an endpoint has {', '.join(sorted(_FIELDS))}")


def work_items(body: str) -> list[tuple[int, int]]:
    """The (application id, chat number) pairs a delivery work message names: the worker's own
    {"application_id", "chat_number"}, or an announcement of the changes topic (raw or in an SNS
    envelope), whose entries start [application id, chat, position, ...]; [] for anything else.
    Only the application and the chat are read: an announcement may carry more (the delivery
    reads what to send from the committed feed, never from the message)."""
    try:
        value: Any = json.loads(body)
        if isinstance(value, dict) and value.get("Type") == "Notification":
            value = json.loads(value.get("Message", ""))
    except (ValueError, TypeError):
        return []
    pairs: list[tuple[object, object]] = []
    if isinstance(value, dict) and isinstance(value.get("changes"), list):
        for change in value["changes"]:
            if isinstance(change, list) and len(change) >= 3:
                pairs.append((change[0], change[1]))
            elif isinstance(change, dict):
                pairs.append((change.get("application_id"), change.get("chat_number")))
    else:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                pairs.append((item.get("application_id"), item.get("chat_number")))
    return [(a, c) for a, c in pairs if type(a) is int and type(c) is int and a > 0 and c > 0]


def in_slow_lane(body: str) -> bool:
    """Whether a work message came through the slow lane (adapters/sqs/webhook_work.py marks it)."""
    try:
        value: Any = json.loads(body)
    except (ValueError, TypeError):
        return False
    return isinstance(value, dict) and value.get("lane") == "slow"
