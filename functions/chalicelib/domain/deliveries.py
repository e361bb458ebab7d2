"""Webhook deliveries: what is sent for a change, when a failed one is tried again, when it stops.

Each (endpoint, chat) has a cursor: the feed position delivered. The next change after it is the
only one in flight for that pair, so a chat's events reach an endpoint in feed order; a failure
holds back that chat of that endpoint only, and is tried again on a schedule until it has failed
for `GIVE_UP_SECONDS`, when it becomes a dead letter and the chat moves on.
"""

import datetime
import json
import random
from dataclasses import dataclass
from typing import Any

from .changes import Change
from .webhooks import rfc3339

# Retries back off exponentially from 1 s to an hour, and stop once an event has failed for a
# day and an hour (more than the 24 h promised, whatever the jitter).
FIRST_RETRY_SECONDS = 1
MAX_RETRY_SECONDS = 3600
GIVE_UP_SECONDS = 25 * 3600
# A chat.created event is the chat's position 0: the feed's own positions start at 1.
CHAT_CREATED_POSITION = 0


class LeaseLost(Exception):
    """Another worker took an (endpoint, chat) pair whose lease ran out: this one stops there."""


class EndpointChanged(Exception):
    """The endpoint was changed or removed since the worker read it: it sends nothing more as it was."""


@dataclass(frozen=True)
class Cursor:
    """Where an endpoint is in a chat's feed, and the state of the next delivery's retries."""

    endpoint_id: int
    chat_number: int
    delivered_position: int
    attempts: int = 0
    failing_since: datetime.datetime | None = None
    lease_id: str = ""
    lease_seconds: int = 60


@dataclass(frozen=True)
class Event:
    """A delivery's content: the same id and body at every attempt (receivers dedupe by id)."""

    id: str
    type: str
    chat_number: int
    position: int
    body: bytes


@dataclass(frozen=True)
class Outcome:
    """What a receiver answered: delivered on a 2xx, else why not (a status, a timeout, a refusal)."""

    delivered: bool
    error: str = ""
    # A 429/503's Retry-After, in seconds, honoured up to MAX_RETRY_SECONDS.
    retry_after: int | None = None
    # Out of time (resolving, connecting or waiting for the answer): the receiver may have got it.
    late: bool = False


def event(  # `at`: when it happened (Standard Webhooks' `timestamp`), not when it is sent
    event_type: str,
    application_id: int,
    chat_number: int,
    position: int,
    data: dict[str, Any],
    at: datetime.datetime,
) -> Event:
    """The event at `position` of the application's chat. Its id names the application too: chat
    numbers repeat across applications, and a receiver serving several dedupes by id."""
    body = {
        "type": event_type,
        "timestamp": rfc3339(at),
        "data": {"chat_number": chat_number, "position": position, **data},
    }
    return Event(
        id=f"evt_{application_id}_{chat_number}_{position}",
        type=event_type,
        chat_number=chat_number,
        position=position,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
    )


def message_event(change: Change, application_id: int, chat_number: int) -> Event:
    """The message as the API answers it, at its latest change (the feed is compacted), stamped
    with that change's time: every attempt sends the same bytes."""
    m = change.message
    happened_ms = m.deleted_at_ms or m.edited_at_ms or m.created_at_ms or 0
    at = datetime.datetime.fromtimestamp(happened_ms / 1000, datetime.UTC)
    message = {"message": m.to_json()}
    return event(event_type(change), application_id, chat_number, change.position, message, at)


def event_type(change: Change) -> str:
    return f"message.{change.kind}"


def chat_created_event(application_id: int, chat_number: int, at: datetime.datetime) -> Event:
    return event("chat.created", application_id, chat_number, CHAT_CREATED_POSITION, {}, at)


def retry_delay(attempts: int, outcome: Outcome, rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: 1, 2, 4 … 3600 s, each with up to 20% jitter so that
    a receiver's chats do not all come back at once; never sooner than its Retry-After."""
    base = float(min(FIRST_RETRY_SECONDS * 2 ** min(max(attempts - 1, 0), 30), MAX_RETRY_SECONDS))
    jittered = base * (0.8 + 0.4 * (rng or random).random())
    if outcome.retry_after is not None:
        jittered = max(jittered, min(outcome.retry_after, MAX_RETRY_SECONDS))
    return jittered


def gives_up(failing_since: datetime.datetime | None, now: datetime.datetime) -> bool:
    """An event that has failed for GIVE_UP_SECONDS: every attempt since was refused."""
    return failing_since is not None and (now - failing_since).total_seconds() >= GIVE_UP_SECONDS


@dataclass(frozen=True)
class DeadLetter:
    """An event whose retries ran out, kept for the application to read and replay."""

    id: int
    endpoint_number: int
    chat_number: int
    position: int
    event_type: str
    event_id: str
    payload: bytes
    attempts: int
    last_error: str
    failed_at: datetime.datetime
    replay_requested_at: datetime.datetime | None = None
    replayed_at: datetime.datetime | None = None

    @property
    def number(self) -> int:
        """What the application calls it (its id): pages of dead letters are ordered by it."""
        return self.id

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.id,
            "endpoint_number": self.endpoint_number,
            "chat_number": self.chat_number,
            "position": self.position,
            "type": self.event_type,
            "webhook_id": self.event_id,
            "payload": json.loads(self.payload),
            "attempts": self.attempts,
            "last_error": self.last_error,
            "failed_at": rfc3339(self.failed_at),
        }
        if self.replay_requested_at is not None:
            out["replay_requested_at"] = rfc3339(self.replay_requested_at)
        if self.replayed_at is not None:
            out["replayed_at"] = rfc3339(self.replayed_at)
        return out
