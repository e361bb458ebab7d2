"""Redis adapter: request quotas, one script call (one round trip) per request.

Each quota is a fixed window: a counter per subject (an application, a client address, everyone),
kind and window, created by the first request of the window and expiring with it, so idle
subjects hold no keys. A window can let up to twice the quota through across its boundary; that
is the price of one INCR. The window is Redis's clock (TIME), so API functions with skewed clocks
share the same windows.

A limiter that cannot reach Redis (down, failing over, full with nothing to evict) counts in the
function's own memory instead: each warm environment then enforces the quota by itself, so the
bound becomes the quota times the environments running, where letting everything through would
leave MySQL and Elasticsearch to whoever sends the most (docs/security.md, "Quotas"). A window
carries a TTL, so a full Redis (`volatile-lru`) may evict it and restart that subject's count.

On creates this is a round trip of its own, not folded into the reservation script that carries
the numbering epoch: docs/performance.md, "The quota check's round trip".
"""

import time
from collections.abc import Callable

import redis
from aws_lambda_powertools import Logger

from ...domain.quotas import Decision, Quota
from . import keys, lua

log = Logger(service="chat", child=True)

# scripts/ratelimit-take.lua: one INCR in the window of Redis's clock.
_TAKE = lua.script("ratelimit-take")


class LocalWindows:
    """The same fixed windows, counted in this process: what quotas fall back to without Redis.

    At most `max_keys` keys, each holding only its current window's count. A key that finds no
    room (all taken in the current window) counts under one shared key instead: a client making
    the process count many subjects gets one more quota for all of them, never a reset of the
    counts it has used up.
    """

    # Hand-written: ratelimit-take.lua's arithmetic over a dict; a library would bring windows
    # and keys of its own.
    _OVERFLOW = "\x00overflow"  # no rate key starts with NUL

    def __init__(self, max_keys: int = 10_000, clock: Callable[[], float] = time.time):
        # key -> (its window's length, the window's number, requests counted in it)
        self._counts: dict[str, tuple[int, int, int]] = {}
        self._max_keys = max_keys
        self._clock = clock
        self._swept_at = -1  # at most one sweep a second, however many keys find no room

    def take(self, key: str, window_seconds: int) -> tuple[int, int]:
        now = int(self._clock())
        window = now // window_seconds
        if key not in self._counts and len(self._counts) >= self._max_keys:
            if now != self._swept_at:
                self._swept_at = now
                self._drop_past(now)
            if len(self._counts) >= self._max_keys:
                key = f"{self._OVERFLOW}:{window_seconds}"  # one per window length: a few at most
        _, seen, used = self._counts.get(key, (window_seconds, window, 0))
        used = used + 1 if seen == window else 1
        self._counts[key] = (window_seconds, window, used)
        return used, window_seconds - now % window_seconds

    def _drop_past(self, now: int) -> None:
        for key, (length, window, _) in list(self._counts.items()):
            if window != now // length:
                del self._counts[key]

    def size(self) -> int:
        return len(self._counts)


class RateLimits:
    def __init__(self, client: redis.Redis, quotas: dict[str, Quota], fallback: LocalWindows | None = None):
        self._quotas = quotas
        self._fallback = fallback or LocalWindows()
        # The key is built inside the script (it depends on Redis's clock): undeclared keys are
        # fine on a single Redis node or replication group, not on Redis Cluster.
        self._take = client.register_script(_TAKE)

    def take(self, subject: str, kind: str) -> Decision:
        """Counts one request of `kind` by `subject` (in this process while Redis cannot count)."""
        quota = self._quotas[kind]
        key = keys.quota(kind, subject)
        try:
            used, reset = self._take(args=[key, quota.requests, quota.window_seconds])
        except redis.RedisError as exc:
            log.warning("rate limit counted in this process", kind=kind, error=repr(exc))
            used, reset = self._fallback.take(key, quota.window_seconds)
        used, reset = int(used), int(reset)
        return Decision(quota, used <= quota.requests, max(quota.requests - used, 0), reset)
