"""Numbering after a cache restart or failover: a new epoch opens only once no number handed out
before it can still reach the queue, with the dead-letter queue's numbers as its floors."""

import time
import uuid
from collections.abc import Callable

from ..domain import events
from ..domain.errors import InvalidEvent, Unavailable
from ..domain.models import NewChat, NewMessage
from ..domain.numbering import Floors, request_life_seconds
from .once import Once
from .ports import Deps

# The reopening lock lasts this many request timeouts: its holder, which runs within one, frees it
# on the way out; the bound frees it only after a holder that died.
REOPENING_LOCK_TIMEOUTS = 3


def reserve(deps: Deps, once: Once, take: Callable[[], int]) -> tuple[int, float]:
    """`take()`'s number and its `deadline`, counted from before it was taken, reopening numbering
    once if it is closed. A keyed request never reopens it half-way: it looked for its first
    attempt in MySQL before, and that attempt may have been queued until the reopening."""
    try:
        return _taken(deps, take)
    except Unavailable:
        if once.keyed or not reopen(deps):
            raise
        return _taken(deps, take)


def _taken(deps: Deps, take: Callable[[], int]) -> tuple[int, float]:
    by = deadline(deps)
    return take(), by


def opened(deps: Deps) -> bool:
    """Whether numbering is open on this server, reopening it if it is safe to."""
    return deps.epoch.epoch_state().is_open or reopen(deps)


def deadline(deps: Deps) -> float:
    """By when a number reserved from now on must be queued, or never: numbering reopens on another
    Redis no sooner than this long after that Redis was found without its epoch, which is after
    the reservation (`reopen`). Lambda's timeout ends a request sooner anyway."""
    return time.monotonic() + request_life_seconds(deps.request_timeout_seconds)


def reopen(deps: Deps) -> bool:
    """Opens a new numbering epoch once it is safe: True if numbers can be handed out again.

    Safe means every number handed out before is in MySQL or in the dead-letter queue: no
    request that reserved one on the old server can still be running (the epoch was found
    closed longer ago than a request may last), the queue the writer drains is empty, and the
    dead-letter queue was read (its numbers become the counters' floors).
    """
    epoch = deps.epoch
    state = epoch.epoch_state()
    if state.is_open:
        return False  # the failure was something else: let it through
    if state.seconds <= request_life_seconds(deps.request_timeout_seconds):
        return False
    if deps.queue.depth() > 0:
        return False
    token = epoch.begin_reopening(deps.request_timeout_seconds * REOPENING_LOCK_TIMEOUTS)
    if token is None:
        return False  # another request is reading the dead-letter queue: retry after it
    try:
        epoch.open_epoch(uuid.uuid4().hex, dead_letter_floors(deps.queue.dead_letters()))
    finally:
        epoch.end_reopening(token)
    return True


def dead_letter_floors(bodies: list[str]) -> Floors:
    """The highest number each counter handed out, as the dead-lettered creations tell it, and
    their numbers by create id."""
    floors = Floors()
    for body in bodies:
        try:
            event = events.parse(body)
        except InvalidEvent:
            continue  # poison holds no number anyone was told
        if isinstance(event, NewChat):
            floors.raise_chat(event.application_id, event.number)
            if event.create_id:
                floors.creates[(event.application_id, 0, event.create_id)] = event.number
        elif isinstance(event, NewMessage):
            floors.raise_chat(event.application_id, event.chat_number)
            floors.raise_message(event.chat_key, event.number)
            if event.create_id:
                floors.creates[(*event.chat_key, event.create_id)] = event.number
    return floors
