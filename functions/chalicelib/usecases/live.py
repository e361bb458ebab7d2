"""Live delivery, the socket function's use cases: a socket connects with a credential, follows
chats and is answered frame by frame; each change is told to it by the push (push.py).
"""

import time
from typing import Any

from ..domain.errors import BadRequest, TooManyConnections
from ..domain.live import (
    BadFrame,
    NewConnection,
    Ping,
    Subscribe,
    Unsubscribe,
    error_frame,
    read_frame,
)
from ..domain.tokens import token_hash
from . import identity
from .ports import SocketDeps
from .push import drop


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
        caller.key_version,
    )
    limits = deps.socket_limits
    # A user token's socket lives no longer than the token: past it, it is closed at the next
    # change in a chat it follows (or at its next frame), and nothing more is sent to it.
    lifetime = limits.lifetime_seconds
    if caller.expires_at is not None:
        lifetime = max(0, min(lifetime, caller.expires_at - int(time.time())))
    if not deps.connections.open(connection, lifetime, limits.connections_per_application):
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
        drop(deps, [connection_id], close=True)
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
