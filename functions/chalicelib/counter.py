"""The counter: brings chats_count and messages_count in line with the persisted rows.

Normally it recounts only the chats and applications the writer marked as changed, so a run
costs what changed, not what exists. When the marks cannot be trusted (Redis came back empty
since the last full recount) or when asked, it recounts everything with one query per table.
"""

import time
from collections.abc import Callable
from typing import Any

from .errors import Unavailable
from .ports import Deps

BATCH = 1000


def refresh_counts(deps: Deps) -> dict[str, Any]:
    started = time.monotonic()
    try:
        incremental = deps.numbers.changes_complete()
    except Unavailable:
        incremental = False  # without Redis, the marks are out of reach: count everything
    if incremental:
        chats, applications = _recount_changed(deps)
    else:
        try:
            deps.numbers.start_full_recount()
        except Unavailable:
            pass  # the next run, with Redis back, sees the epoch unrecorded and counts fully again
        chats, applications = deps.counts.refresh_counts()
    return {
        "mode": "incremental" if incremental else "full",
        "chats_changed": chats,
        "applications_changed": applications,
        "seconds": round(time.monotonic() - started, 3),
    }


def _recount_changed(deps: Deps) -> tuple[int, int]:
    numbers, counts = deps.numbers, deps.counts
    chats = _drain(
        numbers.pop_changed_chats, counts.refresh_chat_counts, lambda keys: numbers.restore_changes(keys, [])
    )
    applications = _drain(
        numbers.pop_changed_applications,
        counts.refresh_application_counts,
        lambda keys: numbers.restore_changes([], keys),
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
