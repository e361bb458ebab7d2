"""Redis adapter: the numbering epoch, which says whether this Redis's counters can be trusted.

Redis is a cache, not the truth. Its counters are trusted only inside an open epoch: the hash
`numbering:epoch` names the epoch and the server it was opened on (redis_server.py: run_id and
master_replid, read once per connection). A server that restarted (empty, or from an old
snapshot) or a replica promoted after a failover (which may have missed the last writes) has
another identity, so its copy of the epoch is not trusted (reservations.py refuses numbers).
`open_epoch` opens one once MySQL holds every number handed out before, and carries the numbers
the dead-letter queue holds as floors, and its creates by create id for keyed retries to find
(usecases/numbering.py decides when).
"""

import contextlib
import json
import uuid

import redis

from ...domain.errors import Unavailable
from ...domain.numbering import EpochState, Floors
from . import keys, lua
from .numbering_calls import EPOCH_KEYS, call
from .redis_server import Scripts

_STATE = lua.script("numbering-epoch", "numbering-state")
_OPEN = lua.script("numbering-open")
_TAKE_LOCK = lua.script("numbering-take-lock")


class Epoch:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._scripts = Scripts(client)
        self._take_lock = client.register_script(_TAKE_LOCK)

    def epoch_state(self) -> EpochState:
        """Open on this server or not, and the seconds it has been open, or since numbers it
        handed out may have been lost: since it was found closed, or since it started if it is a
        server that was never a replica and lost no counter while running (a restart, as the old
        lifetime's requests ended with it)."""
        reply, _ = call(lambda: self._scripts.run(_STATE, [keys.EPOCH, keys.CLOSED], []))
        if reply[0]:
            return EpochState(True, int(reply[1]))
        seconds = int(reply[1])
        if not reply[2]:
            # Read only while numbering is closed: a promoted replica keeps the old primary's
            # replication id as its second one, and its old primary's requests may still run.
            replication = call(lambda: self._redis.info("replication"))
            if int(replication.get("second_repl_offset", -1)) == -1:
                uptime = call(lambda: self._redis.info("server"))["uptime_in_seconds"]
                seconds = max(seconds, int(uptime))
        return EpochState(False, seconds)

    def begin_reopening(self, seconds: int) -> str | None:
        """A token if this caller may reopen numbering now (for `seconds` at the most), else None."""
        token = uuid.uuid4().hex
        taken = call(lambda: self._take_lock(keys=[keys.REOPENING], args=[token, seconds]))
        return token if taken else None

    def end_reopening(self, token: str) -> None:
        with contextlib.suppress(Unavailable):
            held = call(lambda: self._redis.get(keys.REOPENING))
            if isinstance(held, bytes) and held.split(b" ")[0] == token.encode():
                call(lambda: self._redis.delete(keys.REOPENING))

    def open_epoch(self, epoch_id: str, floors: Floors | None = None) -> bool:
        """Opens an epoch on this server unless one is open; its counters start above `floors`
        (the highest numbers known handed out: in the dead-letter queue)."""
        floors = floors or Floors()
        at_least = {keys.chats(a): n for a, n in floors.chats.items()}
        at_least |= {keys.messages(*c): n for c, n in floors.messages.items()}
        creates = [str(v) for c, n in floors.creates.items() for v in (keys.dead_lettered(*c), n)]
        names = [*EPOCH_KEYS, keys.DEAD_LETTERED, *at_least]
        args = [epoch_id, json.dumps(creates), *at_least.values()]
        opened, _ = call(lambda: self._scripts.run(_OPEN, names, args))
        return bool(opened)

    def dead_lettered(self, application_id: int, chat_number: int, create_id: str) -> int | None:
        """The number of a create the last reopening found in the dead-letter queue, by its create
        id (chat number 0: a chat's creation); None if it found none."""
        name = keys.dead_lettered(application_id, chat_number, create_id)
        number = call(lambda: self._redis.hget(keys.DEAD_LETTERED, name))
        return int(number) if number is not None else None
