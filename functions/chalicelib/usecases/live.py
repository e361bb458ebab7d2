"""Live delivery: sockets connect with a credential, follow chats, and are told of each change.

A change is announced after it commits (the feed in MySQL is the truth), so whatever position a
client is told, a read of the feed from its last position returns it at once. A client that
(re)subscribes reads the feed from where it was: pushes are a fast path, never the record.
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

from ..domain.changes import ChatChanged
from ..domain.errors import BadRequest, TooManyConnections
from ..domain.live import (
    BadFrame,
    NewConnection,
    Ping,
    Subscribe,
    Unsubscribe,
    change_frame,
    error_frame,
    read_frame,
)
from ..domain.tokens import token_hash
from . import identity
from .ports import SocketDeps


def connect(deps: SocketDeps, connection_id: str, credential: str | None) -> None:
    """Admits the socket if the credential opens an application that has room for it."""
    if not credential:
        raise BadRequest("connect with ?token=<credential>")
    caller = identity.identify(deps, credential)
    connection = NewConnection(
        connection_id,
        caller.application_id,
        token_hash(credential) if caller.is_application else None,
        caller.chats,
    )
    limits = deps.socket_limits
    if not deps.connections.open(connection, limits.lifetime_seconds, limits.connections_per_application):
        raise TooManyConnections(
            f"the application holds {limits.connections_per_application} open sockets already"
        )


def receive(deps: SocketDeps, connection_id: str, body: str | None) -> dict[str, Any] | None:
    """The answer to one client frame (None: no answer); a frame that cannot be done gets an
    error frame."""
    frame = read_frame(body, deps.socket_limits.frame_bytes)
    if isinstance(frame, BadFrame):
        return error_frame(frame.code, frame.message)
    connection = deps.connections.connection(connection_id)
    if connection is None or connection.revoked:
        _drop(deps, [connection_id], close=True)
        return error_frame("unauthorized", "this socket's credential no longer opens the application")
    if isinstance(frame, Ping):
        return None  # it only keeps the socket open: an answer would be one more billed message
    if not connection.may_read(frame.chat):
        return error_frame("forbidden", f"this credential may not read chat {frame.chat}")
    if isinstance(frame, Unsubscribe):
        deps.connections.unsubscribe(connection_id, frame.chat)
        return {"type": "unsubscribed", "chat": frame.chat}
    assert isinstance(frame, Subscribe)
    most = deps.socket_limits.subscriptions_per_connection
    if not deps.connections.subscribe(connection_id, frame.chat, most):
        return error_frame("too_many_subscriptions", f"a socket may follow {most} chats at once")
    return {"type": "subscribed", "chat": frame.chat}


def disconnect(deps: SocketDeps, connection_id: str) -> None:
    deps.connections.close([connection_id])


def push(deps: SocketDeps, changes: Iterable[ChatChanged]) -> dict[str, int]:
    """Tells every socket following a changed chat its newest position: one frame per chat
    however many of its changes the batch holds. A chat with more followers than one invocation
    sends to (`deps.push_slice`) hands the rest to other invocations, which send at once."""
    newest: dict[tuple[int, int], int] = {}
    for change in changes:
        key = (change.application_id, change.chat_number)
        newest[key] = max(change.position, newest.get(key, 0))
    totals = {"chats": len(newest), "sent": 0, "gone": 0, "failed": 0, "revoked": 0, "handed_off": 0}
    for (application_id, chat), position in newest.items():
        subscribers = deps.connections.subscribers(application_id, chat)
        frame = json.dumps(change_frame(chat, position)).encode()
        slice_size = deps.push_slice
        for start in range(slice_size, len(subscribers.live), slice_size):
            deps.fan_out.deliver_later(subscribers.live[start : start + slice_size], frame)
            totals["handed_off"] += len(subscribers.live[start : start + slice_size])
        _drop(deps, subscribers.revoked, close=True)
        totals["revoked"] += len(subscribers.revoked)
        for what, count in deliver(deps, subscribers.live[:slice_size], frame).items():
            totals[what] += count
    return totals


def deliver(deps: SocketDeps, connection_ids: Sequence[str], frame: bytes) -> dict[str, int]:
    """Sends one frame to these sockets, and forgets those found gone."""
    delivery = deps.sockets.send(connection_ids, frame)
    _drop(deps, delivery.gone)
    return {"sent": delivery.sent, "gone": len(delivery.gone), "failed": len(delivery.failed)}


def _drop(deps: SocketDeps, connection_ids: Sequence[str], close: bool = False) -> None:
    if not connection_ids:
        return
    if close:
        for connection_id in connection_ids:
            deps.sockets.close(connection_id)
    deps.connections.close(connection_ids)
