"""Redis adapter: hands out chat and message numbers, and remembers queued message bodies.

Redis is a cache, not the truth. Its counters are trusted only inside an open epoch: the hash
`numbering:epoch` names the epoch and the server it was opened on (redis_server.py: run_id and
master_replid, read once per connection). A server that restarted (empty, or from an old
snapshot) or a replica promoted after a failover (which may have missed the last writes) has
another identity, so its copy of the epoch is not trusted. Each counter carries the epoch it was
seeded in, and every counter seeded in an epoch is listed in `numbering:seeded`: a counter that
disappears inside its epoch (deleted, evicted) closes the epoch instead of being seeded again
from MySQL, which may lag the queue. While no epoch is open, reservations fail with
`Unavailable`; `open_epoch` opens one once MySQL holds every number handed out before, and
carries the numbers the dead-letter queue holds as floors. A counter missing inside an open
epoch that never counted it is seeded from MySQL, which is then complete for that scope.

Counters of idle chats and applications are removed by the counter's sweep (counter.py), never
by a TTL: `drop_counters` deletes a counter only if it still holds what the sweep read (after
checking MySQL holds its highest number) and the epoch is open on this server, and takes it out
of the epoch's count in the same script, so the next create there seeds from MySQL instead of
closing the epoch.
"""

import contextlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import redis

from ...domain.errors import Unavailable
from ...domain.models import ChatKey, IdleCounter, NewChat, NewMessage
from ...domain.numbering import RECOVERING, Floors
from . import keys, lua
from .redis_server import Scripts

T = TypeVar("T")

PENDING_TTL_SECONDS = 7 * 24 * 3600

# scripts/: each says which KEYS and ARGV it takes and what it returns.
_RESERVE = lua.script("numbering-epoch", "numbering-reserve")
_RESERVED = lua.script("numbering-epoch", "numbering-reserved")
_STATE = lua.script("numbering-epoch", "numbering-state")
_OPEN = lua.script("numbering-open")
_TAKE_LOCK = lua.script("numbering-take-lock")
_IDLE = lua.script("numbering-idle")
_DROP = lua.script("numbering-epoch", "numbering-drop")
_FORGET_AND_MARK = lua.script("numbering-forget-and-mark")


class Numbers:
    def __init__(self, client: redis.Redis, wait_replicas: int = 0, wait_timeout_ms: int = 100):
        self._redis = client
        # WAIT after each reservation: that many replicas must hold it before the 201.
        self._scripts = Scripts(client, wait_replicas, wait_timeout_ms)
        self._forget_and_mark = client.register_script(_FORGET_AND_MARK)
        self._idle = client.register_script(_IDLE)
        self._take_lock = client.register_script(_TAKE_LOCK)

    def reserve_chat_number(self, application_id: int, seed: Callable[[], int]) -> int:
        return self._reserve_number([keys.chats(application_id)], seed, [])

    def reserve_message_number(
        self, application_id: int, chat_number: int, body: str, seed: Callable[[], int]
    ) -> int:
        """Takes the chat's next number and keeps the body readable until the writer has it."""
        counter = [keys.messages(application_id, chat_number), keys.pending(application_id, chat_number)]
        return self._reserve_number(counter, seed, [body, PENDING_TTL_SECONDS])

    def _reserve_number(self, counter: list[str], seed: Callable[[], int], extra: list[str | int]) -> int:
        names = [keys.EPOCH, keys.CLOSED, keys.SEEDED, *counter]
        reply, acked = self._run(_RESERVE, names, ["", 0, *extra], wait=True)
        if reply[0] == -2:
            # Read after the epoch opened, so MySQL holds every number the epoch did not count.
            reply, acked = self._run(_RESERVE, names, [reply[1], seed(), *extra], wait=True)
        if reply[0] < 0:
            raise Unavailable(RECOVERING)
        number = int(reply[0])
        if acked is not None and acked < self._scripts.wait_replicas:
            # Not on enough replicas to survive a failover: the client is not told the number.
            if len(names) > 4:
                with contextlib.suppress(Unavailable):
                    self._call(lambda: self._redis.hdel(names[4], number))
            raise Unavailable(f"the reservation reached {acked} of {self._scripts.wait_replicas} replicas")
        return number

    def _run(
        self, script: str, keys: list[str], args: list[Any], wait: bool = False
    ) -> tuple[Any, int | None]:
        return self._call(lambda: self._scripts.run(script, keys, args, wait))

    def chats_reserved(self, application_id: int) -> int | None:
        """The highest chat number this epoch has handed out; None if not counted yet (MySQL knows
        them all). Raises Unavailable while no epoch is open: numbers may then be queued unseen."""
        return self._counter(keys.chats(application_id))

    def _counter(self, key: str) -> int | None:
        value, _ = self._run(_RESERVED, [keys.EPOCH, keys.CLOSED, keys.SEEDED, key], [])
        if value == -1:
            raise Unavailable(RECOVERING)
        return int(value) if value >= 0 else None

    def pending_body(self, application_id: int, chat_number: int, number: int) -> str | None:
        value = self._call(lambda: self._redis.hget(keys.pending(application_id, chat_number), str(number)))
        return value.decode() if isinstance(value, bytes) else value

    def forget_pending(self, messages: Sequence[NewMessage]) -> None:
        """Drops the bodies of messages the client was never told about."""
        self._update(forget=messages)

    def record_persisted(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> None:
        """After a write: drops the bodies now in MySQL, and notes whose counts changed."""
        self._update(
            forget=messages,
            chats={m.chat_key for m in messages},
            applications={c.application_id for c in chats} | {m.application_id for m in messages},
        )

    def _update(
        self,
        forget: Iterable[NewMessage] = (),
        chats: Iterable[ChatKey] = (),
        applications: Iterable[int] = (),
    ) -> None:
        """One command: drops pending bodies and marks chats and applications as changed."""
        bodies: dict[str, list[int]] = {}
        for m in forget:
            bodies.setdefault(keys.pending(m.application_id, m.chat_number), []).append(m.number)
        arg = json.dumps([list(map(keys.changed_chat, chats)), list(applications), list(bodies.values())])
        self._call(
            lambda: self._forget_and_mark(
                keys=[keys.CHANGED_CHATS, keys.CHANGED_APPLICATIONS, *bodies], args=[arg]
            )
        )

    # -- what the counter has to recount -------------------------------------------------------

    def pop_changed_chats(self, count: int) -> list[ChatKey]:
        """Up to `count` (application_id, chat_number) keys whose messages changed."""
        members = self._pop(keys.CHANGED_CHATS, count)
        return [keys.chat_of(m.decode()) for m in members]

    def pop_changed_applications(self, count: int) -> list[int]:
        return [int(m) for m in self._pop(keys.CHANGED_APPLICATIONS, count)]

    def _pop(self, key: str, count: int) -> list[bytes]:
        # SPOP with a count answers a list (empty when the set is missing).
        return cast(list[bytes], self._call(lambda: self._redis.spop(key, count)) or [])

    def restore_changes(self, chats: Iterable[ChatKey], applications: Iterable[int]) -> None:
        """Puts popped keys back when their recount failed."""
        self._update(chats=chats, applications=applications)

    def changes_complete(self) -> bool:
        """True while the change sets cover every write since the last full recount.

        They live in Redis, so a Redis restart loses them: the epoch the last full recount saw
        must still be the current one.
        """
        epoch = self._call(lambda: self._redis.hget(keys.EPOCH, "id"))
        counted = self._call(lambda: self._redis.get(keys.COUNTED_EPOCH))
        return epoch is not None and epoch == counted

    def start_full_recount(self) -> None:
        """Empties the change sets and records the epoch a full recount is about to cover."""
        epoch = self._call(lambda: self._redis.hget(keys.EPOCH, "id"))
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.CHANGED_CHATS, keys.CHANGED_APPLICATIONS)
            if epoch is not None:
                pipe.set(keys.COUNTED_EPOCH, epoch)
            self._call(pipe.execute)

    # -- counters of idle chats and applications -----------------------------------------------

    def idle_counters(self, cursor: int, count: int, idle_seconds: int) -> tuple[int, list[IdleCounter]]:
        """One SCAN step over about `count` keys from `cursor`: (the cursor to go on from, 0 after
        the last key; the counters among them no command has touched for `idle_seconds`)."""
        next_cursor, found = self._call(
            lambda: self._redis.scan(cursor, match=keys.COUNTERS, count=count, _type="hash")
        )
        names = (f.decode() if isinstance(f, bytes) else f for f in found)
        counters = [k for k in names if keys.is_counter(k)]
        try:
            idle = self._call(lambda: self._idle(keys=counters, args=[idle_seconds])) if counters else []
        except Unavailable as exc:
            # Redis's own words say why, e.g. that an LFU maxmemory-policy keeps no idle time.
            raise Unavailable(f"idle counters could not be read: {exc.__cause__}") from exc.__cause__
        return int(next_cursor), [keys.idle_counter(counters[i - 1], s, highest) for i, s, highest in idle]

    def drop_counters(self, counters: Sequence[IdleCounter]) -> int | None:
        """Deletes the counters that still hold what was read; how many, or None (and none
        deleted) while no epoch is open on this server."""
        if not counters:
            return 0
        names = [keys.EPOCH, keys.CLOSED, keys.SEEDED, *map(keys.counter, counters)]
        dropped, _ = self._run(_DROP, names, [json.dumps([c.state for c in counters])])
        return None if dropped < 0 else int(dropped)

    def sweep_cursor(self) -> int:
        return int(self._call(lambda: self._redis.get(keys.SWEEP_CURSOR)) or 0)

    def save_sweep_cursor(self, cursor: int) -> None:
        self._call(lambda: self._redis.set(keys.SWEEP_CURSOR, cursor))

    # -- the epoch -----------------------------------------------------------------------------

    def epoch_state(self) -> tuple[bool, int]:
        """(open on this server, seconds it has been open, or since numbers it handed out may
        have been lost: since it was found closed, or since it started if it is a server that was
        never a replica and lost no counter while running — a restart, as the old lifetime's
        requests ended with it)."""
        reply, _ = self._run(_STATE, [keys.EPOCH, keys.CLOSED], [])
        if reply[0]:
            return True, int(reply[1])
        seconds = int(reply[1])
        if not reply[2]:
            # Read only while numbering is closed: a promoted replica keeps the old primary's
            # replication id as its second one, and its old primary's requests may still run.
            replication = self._call(lambda: self._redis.info("replication"))
            if int(replication.get("second_repl_offset", -1)) == -1:
                uptime = self._call(lambda: self._redis.info("server"))["uptime_in_seconds"]
                seconds = max(seconds, int(uptime))
        return False, seconds

    def begin_reopening(self, seconds: int) -> str | None:
        """A token if this caller may reopen numbering now (for `seconds` at the most), else None."""
        token = uuid.uuid4().hex
        taken = self._call(lambda: self._take_lock(keys=[keys.REOPENING], args=[token, seconds]))
        return token if taken else None

    def end_reopening(self, token: str) -> None:
        with contextlib.suppress(Unavailable):
            held = self._call(lambda: self._redis.get(keys.REOPENING))
            if isinstance(held, bytes) and held.split(b" ")[0] == token.encode():
                self._call(lambda: self._redis.delete(keys.REOPENING))

    def open_epoch(self, epoch_id: str, floors: Floors | None = None) -> bool:
        """Opens an epoch on this server unless one is open; its counters start above `floors`
        (the highest numbers known handed out: in the dead-letter queue)."""
        at_least = {keys.chats(a): n for a, n in floors.chats.items()} if floors else {}
        at_least |= {keys.messages(*c): n for c, n in floors.messages.items()} if floors else {}
        names = [keys.EPOCH, keys.CLOSED, keys.SEEDED, *at_least]
        opened, _ = self._run(_OPEN, names, [epoch_id, *at_least.values()])
        return bool(opened)

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        try:
            return action()
        except redis.RedisError as exc:
            raise Unavailable("the number service (Redis) is unavailable") from exc
