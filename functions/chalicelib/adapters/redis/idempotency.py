"""Redis adapter for `Idempotency-Key` records of an application: claimed, then done, for 24 hours.

A scope's records are fields of one hash (`idem:{scope}`), indexed by when each was claimed in
a sorted set (`idem:{scope}:at`). Neither has a TTL: under the `volatile-lru` policy only keys
with a TTL (caches) are evicted, never a record a retry relies on (docs/architecture.md). The
claim script drops the scope's records past their time, and holds the scope to its budget: over
it, the oldest records go if they are older than `safe_age` (every create they stand for is in
MySQL by then, where a retry then looks), else the claim is refused. A record keeps the request's
digest and what its answer needs beyond the request (request_keys.Done), never a body.

Redis may also lose records in a failover to a replica that lagged; the claim therefore says
whether records may be missing (a young epoch, a trimmed scope) or numbering is not open on this
server, and the use case then looks for the create in MySQL (service.py).
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from ...domain.errors import Unavailable
from ...domain.request_keys import (
    Claim,
    Done,
    Mismatch,
    New,
    OverBudget,
    RecordLoss,
    Replay,
    RequestKey,
    Running,
)
from . import keys
from .redis_server import Scripts

RECORD_TTL_SECONDS = 24 * 3600
# What one record costs Redis: its field and value in the hash and its member in the index
# (used_memory grew by 336 bytes a record over 10,000 records of one scope; docs/reliability.md).
RECORD_BYTES = 340
T = TypeVar("T")

# KEYS: records hash, index, epoch; ARGV: identity, record id, digest, in-flight seconds, record
# seconds, most records, safe age. Returns {1, record} if found; {2, seconds} if over budget;
# else claims it and returns {0, loss}: 0 none, 1 possible, 2 numbering not open on this server.
_CLAIM = """
local now = tonumber(redis.call('TIME')[1])
local ttl, most, safe = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local function drop(ids)
    for i = 1, #ids do redis.call('HDEL', KEYS[1], ids[i]) end
    if #ids > 0 then redis.call('ZREM', KEYS[2], unpack(ids)) end
end
drop(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, 20))
local r = redis.call('HGET', KEYS[1], ARGV[2])
if r then
    local until_ = cjson.decode(r).u
    if not until_ or until_ > now then return {1, r} end
end
local over = redis.call('ZCARD', KEYS[2]) - most + 1
local trimmed = tonumber(redis.call('HGET', KEYS[1], '.trimmed') or '0')
if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1, 'WITHSCORES')
    local age = now - tonumber(oldest[#oldest])
    if age < safe then return {2, safe - age} end
    local ids = {}
    for i = 1, #oldest, 2 do ids[#ids + 1] = oldest[i] end
    drop(ids)
    trimmed = now + ttl
    redis.call('HSET', KEYS[1], '.trimmed', trimmed)
end
redis.call('HSET', KEYS[1], ARGV[2], cjson.encode({d = ARGV[3], u = now + tonumber(ARGV[4])}))
redis.call('ZADD', KEYS[2], now, ARGV[2])
local e = redis.call('HMGET', KEYS[3], 'server', 'opened_at')
if e[1] ~= ARGV[1] then return {0, 2} end
if trimmed > now or now - tonumber(e[2]) < ttl then return {0, 1} end
return {0, 0}
"""

# KEYS: records hash, index; ARGV: record id, record. Completes a claim still held.
_COMPLETE = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""

# KEYS: records hash, index; ARGV: oldest claim time kept. Drops what is past its time.
_EXPIRE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
for i = 1, #ids do redis.call('HDEL', KEYS[1], ids[i]) end
if #ids > 0 then redis.call('ZREM', KEYS[2], unpack(ids)) end
return #ids
"""


class Records:
    def __init__(self, client: redis.Redis, in_flight_seconds: int, budget_bytes: int, safe_age_seconds: int):
        self._redis = client
        self._scripts = Scripts(client)
        self._in_flight_seconds = in_flight_seconds
        self._most = max(budget_bytes // RECORD_BYTES, 1)
        self._safe_age = safe_age_seconds
        self._complete = client.register_script(_COMPLETE)
        self._expire = client.register_script(_EXPIRE)

    def claim(self, scope: str, key: RequestKey) -> Claim:
        args = [
            _record_id(key),
            key.digest,
            self._in_flight_seconds,
            RECORD_TTL_SECONDS,
            self._most,
            self._safe_age,
        ]
        (found, value), _ = self._call(
            lambda: self._scripts.run(_CLAIM, [*keys.idempotency(scope), keys.EPOCH], args)
        )
        if found == 0:
            return New([RecordLoss.NONE, RecordLoss.POSSIBLE, RecordLoss.UNKNOWN][int(value)])
        if found == 2:
            return OverBudget(int(value))
        record = json.loads(value)
        if record["d"] != key.digest:
            return Mismatch()
        if "u" in record:
            return Running()
        return Replay(Done(int(record.get("n", 0)), record.get("t")))

    def complete(self, scope: str, key: RequestKey, done: Done) -> None:
        record: dict[str, Any] = {"d": key.digest, "n": done.number}
        if done.sealed_token is not None:
            record["t"] = done.sealed_token
        try:
            self._complete(keys=keys.idempotency(scope), args=[_record_id(key), json.dumps(record)])
        except redis.RedisError:
            pass  # the request succeeded; a retry finds the create in MySQL or, failing that, repeats it

    def release(self, scope: str, key: RequestKey) -> None:
        """Drops a claim whose request failed, so that a retry runs it."""
        records, index = keys.idempotency(scope)
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(records, _record_id(key))
                pipe.zrem(index, _record_id(key))
                pipe.execute()
        except redis.RedisError:
            pass  # the claim ends after the in-flight time

    def expire(self) -> int:
        """Drops the records past their time in every scope (also those no request claims in any
        more); how many."""
        oldest_kept = int(self._call(lambda: self._redis.time())[0]) - RECORD_TTL_SECONDS
        indexes = self._call(lambda: list(self._redis.scan_iter("idem:*:at", count=1000, _type="zset")))
        return sum(self._expire_scope(index, oldest_kept) for index in indexes)

    def _expire_scope(self, index: bytes, oldest_kept: int) -> int:
        records = index[: -len(b":at")]
        return int(self._call(lambda: self._expire(keys=[records, index], args=[oldest_kept])))

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        try:
            return action()
        except redis.RedisError as exc:
            raise Unavailable("the idempotency store (Redis) is unavailable") from exc


def _record_id(key: RequestKey) -> str:
    return hashlib.sha256(key.key.encode()).hexdigest()[:32]
