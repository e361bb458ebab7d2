"""Redis adapter: the counter's sweep of the numbering counters of idle chats and applications.

Counters are removed by the sweep (usecases/counter.py), never by a TTL: `drop_counters` deletes
a counter only if it still holds what the sweep read (after checking MySQL holds its highest
number) and the epoch is open on this server, and takes it out of the epoch's count in the same
script, so the next create there seeds from MySQL instead of closing the epoch."""

import json
from collections.abc import Sequence

import redis

from ...domain.errors import Unavailable
from ...domain.models import IdleCounter
from . import keys, lua
from .numbering_calls import EPOCH_KEYS, call
from .redis_server import Scripts

_IDLE = lua.script("numbering-idle")
_DROP = lua.script("numbering-epoch", "numbering-drop")


class IdleCounters:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._scripts = Scripts(client)
        self._idle = client.register_script(_IDLE)

    def idle_counters(self, cursor: int, count: int, idle_seconds: int) -> tuple[int, list[IdleCounter]]:
        """One SCAN step over about `count` keys from `cursor`: (the cursor to go on from, 0 after
        the last key; the counters among them no command has touched for `idle_seconds`)."""
        next_cursor, found = call(
            lambda: self._redis.scan(cursor, match=keys.COUNTERS, count=count, _type="hash")
        )
        names = (f.decode() if isinstance(f, bytes) else f for f in found)
        counters = [k for k in names if keys.is_counter(k)]
        try:
            idle = call(lambda: self._idle(keys=counters, args=[idle_seconds])) if counters else []
        except Unavailable as exc:
            # Redis's own words say why, e.g. that an LFU maxmemory-policy keeps no idle time.
            raise Unavailable(f"idle counters could not be read: {exc.__cause__}") from exc.__cause__
        return int(next_cursor), [keys.idle_counter(counters[i - 1], s, highest) for i, s, highest in idle]

    def drop_counters(self, counters: Sequence[IdleCounter]) -> int | None:
        """Deletes the counters that still hold what was read; how many, or None (and none
        deleted) while no epoch is open on this server."""
        if not counters:
            return 0
        names = [*EPOCH_KEYS, *map(keys.counter, counters)]
        args = [json.dumps([c.state for c in counters])]
        dropped, _ = call(lambda: self._scripts.run(_DROP, names, args))
        return None if dropped < 0 else int(dropped)

    def sweep_cursor(self) -> int:
        return int(call(lambda: self._redis.get(keys.SWEEP_CURSOR)) or 0)

    def save_sweep_cursor(self, cursor: int) -> None:
        call(lambda: self._redis.set(keys.SWEEP_CURSOR, cursor))
