"""What an announcement carries, as JSON: `{"changes": [[application id, chat, position], ...],
"since": [position before, ...]}`, an SNS message's body; `changes_from` reads it back from the
topic's records, or from a direct invocation's payload (tests, tools). A message just accepted
is told the push function directly: `{"accepted": {"application_id", "chat", "message"}}`, the
message as every read answers it.

`since` came later, as a key of its own beside `changes` (one entry per change, null where not
known), so that a follower reading only `changes` (webhook delivery) reads it as before.
"""

import json
from collections.abc import Sequence
from typing import Any

from ...domain.changes import ChatChanged
from ...domain.models import Message

# An SNS message and an async invocation take 256 KB: ~40 bytes a change leaves ample room for a
# writer's batch (100 events at the most).
MAX_CHANGES = 5000


def changes_payload(changes: Sequence[ChatChanged]) -> dict[str, Any]:
    told = changes[:MAX_CHANGES]
    return {
        "changes": [[c.application_id, c.chat_number, c.position] for c in told],
        "since": [c.since for c in told],
    }


def changes_from(event: dict[str, Any]) -> list[ChatChanged]:
    """The changes of an invocation's payload, or of each SNS record's message."""
    payloads = [event]
    if "Records" in event:
        payloads = [json.loads(record["Sns"]["Message"]) for record in event["Records"]]
    return [change for payload in payloads for change in _changes(payload)]


def _changes(payload: dict[str, Any]) -> list[ChatChanged]:
    told = payload.get("changes", [])
    since = payload.get("since")
    if not isinstance(since, list) or len(since) != len(told):
        since = [None] * len(told)
    return [
        ChatChanged(int(application_id), int(chat), int(position), None if before is None else int(before))
        for (application_id, chat, position), before in zip(told, since, strict=True)
    ]


def accepted_payload(application_id: int, chat_number: int, message: Message) -> dict[str, Any]:
    return {"accepted": {"application_id": application_id, "chat": chat_number, "message": message.to_json()}}


def accepted_from(event: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
    """(application id, chat, the message's JSON) of an accepted message's invocation."""
    told = event["accepted"]
    return int(told["application_id"]), int(told["chat"]), dict(told["message"])
