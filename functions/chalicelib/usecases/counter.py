"""The counter: brings chats_count and messages_count in line with the persisted rows.

Normally it recounts only the chats and applications the writer marked as changed, so a run
costs what changed, not what exists. When the marks cannot be trusted (Redis came back empty
since the last full recount) or when asked, it recounts everything with one query per table.

After the recount it sweeps the numbering counters of idle chats and applications out of Redis
(`sweep_idle_counters`), so that Redis holds counters for the chats in use, not for every chat.
"""

import dataclasses
import time
from collections.abc import Callable
from typing import Literal

from ..domain.errors import Unavailable
from ..domain.models import IdleCounter
from .ports import CounterDeps

BATCH = 1000
SWEEP_STEP = 1000  # keys a SCAN step looks at: one Redis script and one MySQL query per step


class _Result:
    def fields(self) -> dict[str, object]:
        """As the function's answer and log line carry it."""
        return dict(vars(self))


@dataclasses.dataclass(frozen=True)
class Recount(_Result):
    mode: Literal["incremental", "full"]
    chats_changed: int
    applications_changed: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class Swept(_Result):
    """A sweep that ran to its end: the keyspace, `max_keys`, or numbering closed."""

    keys_looked_at: int
    idle_counters: int
    counters_removed: int
    numbering_open: bool
    cursor: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class SweepStopped(_Result):
    """A sweep Redis or MySQL broke off: a later run sweeps the rest."""

    stopped: str
    keys_looked_at: int
    counters_removed: int


@dataclasses.dataclass(frozen=True)
class Expiry(_Result):
    """How many key records were dropped; None, with the error, when Redis could not say."""

    key_records_expired: int | None
    error: str | None = None

    def fields(self) -> dict[str, object]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "error" or v is not None}


def refresh_counts(deps: CounterDeps) -> Recount:
    started = time.monotonic()
    try:
        incremental = deps.changes.changes_complete()
    except Unavailable:
        incremental = False  # without Redis, the marks are out of reach: count everything
    if incremental:
        chats, applications = _recount_changed(deps)
    else:
        try:
            deps.changes.start_full_recount()
        except Unavailable:
            pass  # the next run, with Redis back, sees the epoch unrecorded and counts fully again
        chats, applications = deps.counts.refresh_counts()
    mode: Literal["incremental", "full"] = "incremental" if incremental else "full"
    return Recount(mode, chats, applications, round(time.monotonic() - started, 3))


def _recount_changed(deps: CounterDeps) -> tuple[int, int]:
    changes, counts = deps.changes, deps.counts
    chats = _drain(
        changes.pop_changed_chats, counts.refresh_chat_counts, lambda keys: changes.restore_changes(keys, [])
    )
    applications = _drain(
        changes.pop_changed_applications,
        counts.refresh_application_counts,
        lambda keys: changes.restore_changes([], keys),
    )
    return chats, applications


def _drain[K](
    pop: Callable[[int], list[K]], recount: Callable[[list[K]], int], restore: Callable[[list[K]], None]
) -> int:
    """Recounts popped keys in batches; a failed batch goes back for the next run."""
    total = 0
    while keys := pop(BATCH):
        try:
            total += recount(keys)
        except Exception:
            restore(keys)
            raise
    return total


def expire_key_records(deps: CounterDeps) -> Expiry:
    """Drops Idempotency-Key records past their time, also of applications that went quiet (an
    application's own claims drop its old records, but only while it makes them)."""
    try:
        return Expiry(deps.keys.expire())
    except Unavailable as exc:
        return Expiry(None, exc.message)


def sweep_idle_counters(deps: CounterDeps, idle_seconds: int, max_keys: int) -> Swept | SweepStopped:
    """Deletes the counters of chats and applications idle for `idle_seconds` whose highest number
    is in MySQL: every number they handed out is then either stored or below one that is, so the
    next create there seeds from MySQL exactly as a chat never used in this epoch does.

    Looks at about `max_keys` keys per run and goes on from there the next run. A counter whose
    highest number is still queued (or dead-lettered) stays; so does one a create used since it
    was read (Redis compares), and every counter while numbering is closed.
    """
    started = time.monotonic()
    sweep = deps.sweep
    looked = idle = removed = 0
    dropped: int | None = 0
    try:
        cursor = sweep.sweep_cursor()
        while looked < max_keys:
            cursor, found = sweep.idle_counters(cursor, SWEEP_STEP, idle_seconds)
            looked += SWEEP_STEP
            dropped = sweep.drop_counters(_all_stored(deps, found))
            if dropped is None:
                break  # numbering is closed: the epoch it reopens with starts from MySQL anyway
            idle, removed = idle + len(found), removed + dropped
            if cursor == 0:
                break  # the whole keyspace was looked at; the next run starts again
        sweep.save_sweep_cursor(cursor)
    except Unavailable as exc:
        # The counts are refreshed; what is not swept now is swept by a later run.
        return SweepStopped(str(exc), looked, removed)
    return Swept(looked, idle, removed, dropped is not None, cursor, round(time.monotonic() - started, 3))


def _all_stored(deps: CounterDeps, counters: list[IdleCounter]) -> list[IdleCounter]:
    """The counters whose highest number MySQL holds."""
    chats = deps.counts.highest_message_numbers(
        (c.application_id, c.chat_number) for c in counters if c.chat_number is not None
    )
    applications = deps.counts.highest_chat_numbers(
        c.application_id for c in counters if c.chat_number is None
    )

    def stored(c: IdleCounter) -> int:
        if c.chat_number is None:
            return applications.get(c.application_id, 0)
        return chats.get((c.application_id, c.chat_number), 0)

    return [c for c in counters if stored(c) >= c.highest]
