"""Redis adapter: hands out chat and message numbers, and remembers queued message bodies.

Redis is a cache, not the truth. Its counters are trusted only while the key `chat:epoch`
exists. When Redis comes back empty, numbers already handed out may still sit in the queue, so
MySQL's MAX(number) is not yet safe to count on. Until the epoch is re-established
(`open_epoch`, once no request from the old Redis lifetime can still be running and the queue
is empty) reservations fail with `Unavailable`. A counter missing inside an open epoch is
seeded from MySQL, which is then complete for that scope.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, cast

import redis

from .errors import Unavailable
from .models import ChatKey, NewChat, NewMessage

T = TypeVar("T")

EPOCH_KEY = "chat:epoch"
CHANGED_CHATS_KEY = "counts:changed-chats"
CHANGED_APPLICATIONS_KEY = "counts:changed-applications"
COUNTED_EPOCH_KEY = "counts:epoch"
PENDING_TTL_SECONDS = 7 * 24 * 3600

# KEYS: epoch, counter[, pending hash]; ARGV: seed or "", [body]. Returns the number, or
# -1 when no epoch is open, -2 when the counter needs a seed from MySQL.
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then
    if ARGV[1] == '' then return -2 end
    redis.call('SET', KEYS[2], ARGV[1], 'NX')
end
local n = redis.call('INCR', KEYS[2])
if KEYS[3] then
    redis.call('HSET', KEYS[3], n, ARGV[2])
    redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return n
"""

# KEYS: the changed-chats set, the changed-applications set, then pending-body hashes. ARGV[1]:
# JSON [chat marks, application ids, [numbers to drop from each hash, in KEYS' order]]. One
# argument, because redis-py spends ~1 µs packing each: a pipeline of an HDEL per chat, or one
# argument per member, cost the writer more than everything else it sends to Redis.
_FORGET_AND_MARK = """
local chats, applications, forget = unpack(cjson.decode(ARGV[1]))
for _, chat in ipairs(chats) do redis.call('SADD', KEYS[1], chat) end
for _, id in ipairs(applications) do redis.call('SADD', KEYS[2], id) end
for k, numbers in ipairs(forget) do
    for _, n in ipairs(numbers) do redis.call('HDEL', KEYS[k + 2], n) end
end
return 0
"""


def _chats_key(application_id: int) -> str:
    return f"chats:{application_id}"


def _messages_key(application_id: int, chat_number: int) -> str:
    return f"messages:{application_id}:{chat_number}"


def _chat_key(member: str) -> ChatKey:
    application_id, chat_number = member.split(":")
    return int(application_id), int(chat_number)


def _pending_key(application_id: int, chat_number: int) -> str:
    return f"pending:{application_id}:{chat_number}"


class Numbers:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._reserve = client.register_script(_RESERVE)
        self._forget_and_mark = client.register_script(_FORGET_AND_MARK)

    def reserve_chat_number(self, application_id: int, seed: Callable[[], int]) -> int:
        return self._reserve_number([_chats_key(application_id)], seed, [])

    def reserve_message_number(
        self, application_id: int, chat_number: int, body: str, seed: Callable[[], int]
    ) -> int:
        """Takes the chat's next number and keeps the body readable until the writer has it."""
        keys = [_messages_key(application_id, chat_number), _pending_key(application_id, chat_number)]
        return self._reserve_number(keys, seed, [body, PENDING_TTL_SECONDS])

    def _reserve_number(self, keys: list[str], seed: Callable[[], int], extra: list[str | int]) -> int:
        keys = [EPOCH_KEY, *keys]
        result = self._call(lambda: self._reserve(keys=keys, args=["", *extra]))
        if result == -2:
            result = self._call(lambda: self._reserve(keys=keys, args=[seed(), *extra]))
        if result == -1:
            raise Unavailable("numbering is recovering after a cache restart; retry shortly")
        return int(result)

    def chats_reserved(self, application_id: int) -> int | None:
        """How many chat numbers this epoch has handed out; None if not counted yet (MySQL knows
        them all). Raises Unavailable while no epoch is open: numbers may then be queued unseen."""
        return self._counter(_chats_key(application_id))

    def _counter(self, key: str) -> int | None:
        epoch, value = self._call(lambda: self._redis.mget(EPOCH_KEY, key))
        if epoch is None:
            raise Unavailable("numbering is recovering after a cache restart; retry shortly")
        return int(value) if value is not None else None

    def pending_body(self, application_id: int, chat_number: int, number: int) -> str | None:
        value = self._call(lambda: self._redis.hget(_pending_key(application_id, chat_number), str(number)))
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
            bodies.setdefault(_pending_key(m.application_id, m.chat_number), []).append(m.number)
        arg = json.dumps([[f"{a}:{c}" for a, c in chats], list(applications), list(bodies.values())])
        self._call(
            lambda: self._forget_and_mark(
                keys=[CHANGED_CHATS_KEY, CHANGED_APPLICATIONS_KEY, *bodies], args=[arg]
            )
        )

    # -- what the counter has to recount -------------------------------------------------------

    def pop_changed_chats(self, count: int) -> list[ChatKey]:
        """Up to `count` (application_id, chat_number) keys whose messages changed."""
        members = self._pop(CHANGED_CHATS_KEY, count)
        return [_chat_key(m.decode()) for m in members]

    def pop_changed_applications(self, count: int) -> list[int]:
        return [int(m) for m in self._pop(CHANGED_APPLICATIONS_KEY, count)]

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
        epoch, counted = self._call(lambda: self._redis.mget(EPOCH_KEY, COUNTED_EPOCH_KEY))
        return epoch is not None and epoch == counted

    def start_full_recount(self) -> None:
        """Empties the change sets and records the epoch a full recount is about to cover."""
        epoch = self._call(lambda: self._redis.get(EPOCH_KEY))
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(CHANGED_CHATS_KEY, CHANGED_APPLICATIONS_KEY)
            if epoch is not None:
                pipe.set(COUNTED_EPOCH_KEY, epoch)
            self._call(pipe.execute)

    # -- the epoch -----------------------------------------------------------------------------

    def epoch_open(self) -> bool:
        return bool(self._call(lambda: self._redis.exists(EPOCH_KEY)))

    def uptime_seconds(self) -> int:
        return int(self._call(lambda: self._redis.info("server"))["uptime_in_seconds"])

    def open_epoch(self, epoch_id: str) -> bool:
        return bool(self._call(lambda: self._redis.set(EPOCH_KEY, epoch_id, nx=True)))

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        try:
            return action()
        except redis.RedisError as exc:
            raise Unavailable("the number service (Redis) is unavailable") from exc
