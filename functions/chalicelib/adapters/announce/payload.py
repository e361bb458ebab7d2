"""What an announcement carries, as JSON: `{"changes": [[application id, chat, position], ...]}`,
an SNS message's body; `changes_from` reads it back from the topic's records, or from a direct
invocation's payload (tests, tools)."""

import json
from collections.abc import Sequence
from typing import Any

from ...domain.changes import ChatChanged

# An SNS message and an async invocation take 256 KB: ~30 bytes a change leaves ample room for a
# writer's batch (100 events at the most).
MAX_CHANGES = 5000


def changes_payload(changes: Sequence[ChatChanged]) -> dict[str, Any]:
    return {"changes": [[c.application_id, c.chat_number, c.position] for c in changes[:MAX_CHANGES]]}


def changes_from(event: dict[str, Any]) -> list[ChatChanged]:
    """The changes of an invocation's payload, or of each SNS record's message."""
    payloads = [event]
    if "Records" in event:
        payloads = [json.loads(record["Sns"]["Message"]) for record in event["Records"]]
    return [
        ChatChanged(int(application_id), int(chat), int(position))
        for payload in payloads
        for application_id, chat, position in payload.get("changes", [])
    ]
