"""Instants as the API answers them: RFC 3339 in UTC with milliseconds, from epoch milliseconds."""

import datetime
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def rfc3339(ms: int | None) -> str | None:
    """`2026-12-07T04:30:00.123Z` for `ms` milliseconds since the epoch; None stays None."""
    if ms is None:
        return None
    at = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
