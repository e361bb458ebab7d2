"""Redis adapter: hands out chat and message numbers (the API's creates).

Counters are trusted only inside an open epoch (epoch.py says why and how one opens). Each
counter carries the epoch it was seeded in, and every counter seeded in an epoch is listed in
`numbering:seeded`: a counter that disappears inside its epoch (deleted, evicted) closes the
epoch instead of being seeded again from MySQL, which may lag the queue. While no epoch is
open, reservations fail with `Unavailable`. A counter missing inside an open epoch that never
counted it is seeded from MySQL, which is then complete for that scope.
"""

import contextlib
from collections.abc import Callable

import redis

from ...domain.errors import Unavailable
from ...domain.models import Author
from ...domain.numbering import RECOVERING
from . import keys, lua, pending_record
from .numbering_calls import EPOCH_KEYS, call
from .redis_server import Scripts

# scripts/: each says which KEYS and ARGV it takes and what it returns.
_RESERVE = lua.script("numbering-epoch", "numbering-reserve")
_RESERVED = lua.script("numbering-epoch", "numbering-reserved")


class Reservations:
    def __init__(self, client: redis.Redis, wait_replicas: int = 0, wait_timeout_ms: int = 100):
        self._redis = client
        # WAIT after each reservation: that many replicas must hold it before the 201.
        self._scripts = Scripts(client, wait_replicas, wait_timeout_ms)

    def reserve_chat_number(self, application_id: int, seed: Callable[[], int]) -> int:
        return self._reserve_number([keys.chats(application_id)], seed, [])

    def reserve_message_number(
        self,
        application_id: int,
        chat_number: int,
        body: str,
        seed: Callable[[], int],
        created_at_ms: int | None = None,
        author: Author | None = None,
    ) -> int:
        """Takes the chat's next number and keeps the message (body, accept instant, author)
        readable until the writer has it (pending.py reads and drops it)."""
        counter = [keys.messages(application_id, chat_number), keys.pending(application_id, chat_number)]
        record = pending_record.encode(body, created_at_ms, author)
        return self._reserve_number(counter, seed, [record, pending_record.TTL_SECONDS])

    def _reserve_number(self, counter: list[str], seed: Callable[[], int], extra: list[str | int]) -> int:
        names = [*EPOCH_KEYS, *counter]
        reply, acked = call(lambda: self._scripts.run(_RESERVE, names, ["", 0, *extra], wait=True))
        if reply[0] == -2:
            # Read after the epoch opened, so MySQL holds every number the epoch did not count.
            args = [reply[1], seed(), *extra]
            reply, acked = call(lambda: self._scripts.run(_RESERVE, names, args, wait=True))
        if reply[0] < 0:
            raise Unavailable(RECOVERING)
        number = int(reply[0])
        if acked is not None and acked < self._scripts.wait_replicas:
            # Not on enough replicas to survive a failover: the client is not told the number.
            if len(counter) > 1:
                with contextlib.suppress(Unavailable):
                    call(lambda: self._redis.hdel(counter[1], number))
            raise Unavailable(f"the reservation reached {acked} of {self._scripts.wait_replicas} replicas")
        return number

    def chats_reserved(self, application_id: int) -> int | None:
        """The highest chat number this epoch has handed out; None if not counted yet (MySQL knows
        them all). Raises Unavailable while no epoch is open: numbers may then be queued unseen."""
        return self._reserved(keys.chats(application_id))

    def messages_reserved(self, application_id: int, chat_number: int) -> int | None:
        """The same for a chat's message numbers."""
        return self._reserved(keys.messages(application_id, chat_number))

    def _reserved(self, counter: str) -> int | None:
        value, _ = call(lambda: self._scripts.run(_RESERVED, [*EPOCH_KEYS, counter], []))
        if value == -1:
            raise Unavailable(RECOVERING)
        return int(value) if value >= 0 else None
