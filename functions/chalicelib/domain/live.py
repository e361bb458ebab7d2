"""Live delivery's words: what a socket's client may send, what it is sent, and the limits.

A client sends JSON text frames `{"action": "subscribe", "chat": 3}`, `{"action": "unsubscribe",
"chat": 3}` or `{"action": "ping"}`; each is answered on the same socket with one frame, an error
frame (`{"type": "error", "code", "message"}`) when the frame was not one of those. Changes come
as `{"type": "change", "chat", "position"}`, with `since` and the `changes` themselves where they
fit (docs/asyncapi.yaml). Nothing here raises on input:
a frame that cannot be read is a `BadFrame` value.
"""

import json
from dataclasses import dataclass
from typing import Any

from .changes import Change

# A chat number as the HTTP routes take it (an INT UNSIGNED column).
_MAX_NUMBER = 2**32 - 1


@dataclass(frozen=True)
class SocketLimits:
    # Chats one connection may follow at once.
    subscriptions_per_connection: int
    # Connections one application may hold open at once.
    connections_per_application: int
    # Bytes of one client frame; AWS would take up to 128 KB, which no action here needs.
    frame_bytes: int
    # Seconds a connection may live: AWS closes every one after 2 hours, so a row older than
    # that is stale whatever the gateway said.
    lifetime_seconds: int


@dataclass(frozen=True)
class Subscribe:
    chat: int


@dataclass(frozen=True)
class Unsubscribe:
    chat: int


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class BadFrame:
    code: str
    message: str


Frame = Subscribe | Unsubscribe | Ping | BadFrame


def read_frame(body: str | bytes | None, limit_bytes: int) -> Frame:
    """The action a client frame asks for, or why it cannot be done."""
    raw = body.encode() if isinstance(body, str) else body or b""
    if len(raw) > limit_bytes:
        return BadFrame("frame_too_large", f"a frame may hold {limit_bytes} bytes at the most")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # "[[[[…" nests past the parser's stack
        return BadFrame("bad_frame", 'a frame is a JSON object such as {"action": "ping"}')
    if not isinstance(data, dict):
        return BadFrame("bad_frame", 'a frame is a JSON object such as {"action": "ping"}')
    action = data.get("action")
    if action == "ping":
        return Ping()
    if action in ("subscribe", "unsubscribe"):
        chat = data.get("chat")
        if isinstance(chat, bool) or not isinstance(chat, int) or not 1 <= chat <= _MAX_NUMBER:
            return BadFrame("bad_frame", "`chat` is a chat's number, a positive integer")
        return Subscribe(chat) if action == "subscribe" else Unsubscribe(chat)
    return BadFrame("unknown_action", "`action` is one of subscribe, unsubscribe, ping")


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}


# The changes one frame may carry, and its bytes: one 32 KB unit, what AWS bills a message by
# and the most one WebSocket frame of API Gateway holds. Past either, a frame is a notice only.
FRAME_CHANGES = 50
FRAME_BYTES = 32 * 1024


def change_frame(
    chat: int, position: int, since: int | None = None, changes: list[Change] | None = None
) -> bytes:
    """What a subscriber is told of a change: its chat and feed position, and, where they fit,
    the changes in (since, position] as the feed answers them, so that a client at `since` or
    after applies them without reading the feed."""
    notice: dict[str, Any] = {"type": "change", "chat": chat, "position": position}
    if since is None or changes is None:
        return json.dumps(notice).encode()
    full = json.dumps({**notice, "since": since, "changes": [c.to_json() for c in changes]}).encode()
    return full if len(full) <= FRAME_BYTES else json.dumps(notice).encode()


def accepted_frame(chat: int, message: dict[str, Any]) -> bytes | None:
    """What a subscriber is told of a message the moment it is accepted, ahead of its change in
    the feed (None: too big for one frame; its change frame is a notice then too)."""
    frame = json.dumps({"type": "accepted", "chat": chat, "message": message}).encode()
    return frame if len(frame) <= FRAME_BYTES else None


@dataclass(frozen=True)
class NewConnection:
    connection_id: str
    application_id: int
    # The SHA-256 of the application token it opened with (None for another kind of credential):
    # a token rotated away or revoked stops its sockets as it stops its HTTP calls.
    token_hash: str | None
    # The chats its credential may read; None: every chat of the application.
    chats: frozenset[int] | None
    # The application's token version whose key signed the user token it opened with (None for
    # an application token): a rotation past its grace, or a revocation, stops it as it does
    # the user token's HTTP calls.
    token_version: int | None = None


@dataclass(frozen=True)
class Connection:
    connection_id: str
    application_id: int
    chats: frozenset[int] | None
    # Its credential no longer opens the application (rotated past its grace, or revoked).
    revoked: bool

    def may_read(self, chat: int) -> bool:
        return self.chats is None or chat in self.chats


@dataclass(frozen=True)
class Subscribers:
    """The connections following a chat: those still allowed, and those whose credential was
    revoked since they connected (to be closed, never sent to)."""

    live: list[str]
    revoked: list[str]


@dataclass(frozen=True)
class Delivery:
    """What a fan-out did: frames sent, connections found gone (410), sends that failed otherwise."""

    sent: int
    gone: list[str]
    failed: list[str]
