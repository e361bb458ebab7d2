"""The push, the push function's use cases: every socket following a changed chat is told.

A change is announced after it commits (the feed in MySQL is the truth), so whatever position a
client is told, a read of the feed from its last position returns it at once. The frame carries
the changes themselves where they fit, read from that feed: a client whose position is within
the frame's range applies them and needs no read. A created message is also told the moment the
API accepts it (`push_accepted`), readable then from its pending record; its change follows. A
client that (re)subscribes reads the feed from where it was: pushes are a fast path, never the
record. Sockets whose credential no longer opens the application are closed instead of told.
"""

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aws_lambda_powertools import Logger

from ..domain.changes import ChatChanged
from ..domain.errors import Unavailable
from ..domain.live import FRAME_CHANGES, accepted_frame, change_frame
from .ports import LiveDeps, PushDeps

log = Logger(service="chat", child=True)


def push(deps: PushDeps, changes: Iterable[ChatChanged]) -> dict[str, int]:
    """Tells every socket following a changed chat its newest position: one frame per chat
    however many of its changes the batch holds, carrying those changes where they fit. A chat
    with more followers than one invocation sends to (`deps.push_slice`) hands the rest to other
    invocations, which send at once."""
    newest: dict[tuple[int, int], ChatChanged] = {}
    for change in changes:
        key = (change.application_id, change.chat_number)
        newest[key] = newest[key].merged(change) if key in newest else change
    totals = {"chats": len(newest), "sent": 0, "gone": 0, "failed": 0, "revoked": 0, "handed_off": 0}
    for (application_id, chat), change in newest.items():
        _tell_followers(deps, application_id, chat, functools.partial(_frame, deps, change), totals)
    return totals


def push_accepted(deps: PushDeps, application_id: int, chat: int, message: dict[str, Any]) -> dict[str, int]:
    """Tells the chat's followers of a message just accepted (`accepted_frame`): a read of it
    answers it at once, from its pending record; its change in the feed follows. Not to more
    followers than one invocation sends to: a big chat gets its changes only, not every
    message's sends twice over."""
    totals = {"chats": 1, "sent": 0, "gone": 0, "failed": 0, "revoked": 0, "handed_off": 0}
    frame = accepted_frame(chat, message)
    if frame is not None:
        _tell_followers(deps, application_id, chat, lambda: frame, totals, most=deps.push_slice)
    return totals


def _tell_followers(
    deps: PushDeps,
    application_id: int,
    chat: int,
    frame_of: Callable[[], bytes],
    totals: dict[str, int],
    most: int | None = None,
) -> None:
    """Sends the frame (made only if someone follows, and not more than `most`) to the chat's
    followers, a share of a big fan-out by other invocations; closes those whose credential was
    revoked."""
    subscribers = deps.connections.subscribers(application_id, chat)
    drop(deps, subscribers.revoked, close=True)
    totals["revoked"] += len(subscribers.revoked)
    if not subscribers.live or (most is not None and len(subscribers.live) > most):
        return
    frame = frame_of()
    slice_size = deps.push_slice
    for start in range(slice_size, len(subscribers.live), slice_size):
        deps.fan_out.deliver_later(subscribers.live[start : start + slice_size], frame)
        totals["handed_off"] += len(subscribers.live[start : start + slice_size])
    for what, count in deliver(deps, subscribers.live[:slice_size], frame).items():
        totals[what] += count


def _frame(deps: PushDeps, change: ChatChanged) -> bytes:
    """The change frame of a chat: with the changes in (since, position] as the feed answers
    them (one read), if they are all there and fit; else the notice alone."""
    if change.since is None:
        return change_frame(change.chat_number, change.position)
    try:
        feed = deps.db.changes(change.application_id, change.chat_number, change.since, FRAME_CHANGES)
    except Unavailable as exc:
        log.warning("changes not read for the frame", error=exc.message)
        feed = None
    if feed is None:
        return change_frame(change.chat_number, change.position)
    told = [c for c in feed.changes if c.position <= change.position]
    # Complete unless the read stopped at its limit before the position was reached.
    if len(told) == len(feed.changes) == FRAME_CHANGES and told[-1].position < change.position:
        return change_frame(change.chat_number, change.position)
    return change_frame(change.chat_number, change.position, change.since, told)


def deliver(deps: PushDeps, connection_ids: Sequence[str], frame: bytes) -> dict[str, int]:
    """Sends one frame to these sockets, and forgets those found gone."""
    delivery = deps.sockets.send(connection_ids, frame)
    drop(deps, delivery.gone)
    return {"sent": delivery.sent, "gone": len(delivery.gone), "failed": len(delivery.failed)}


def drop(deps: LiveDeps, connection_ids: Sequence[str], close: bool = False) -> None:
    """Forgets the connections; `close`: closes their sockets first (DELETE @connections)."""
    if not connection_ids:
        return
    if close:
        for connection_id in connection_ids:
            deps.sockets.close(connection_id)
    deps.connections.close(connection_ids)
