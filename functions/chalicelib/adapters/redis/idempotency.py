"""Redis adapter for `Idempotency-Key` records: the first answer to a keyed request, for 24 hours.

A record is claimed (in flight, with the request's fingerprint) before the request runs, and
completed with its answer after. The claim is one script call, atomic in Redis, so concurrent
duplicates find the claim and are told 409. Redis may lose records in a failover to a replica
that lagged; the claim therefore also says whether the numbering epoch is younger than a record
lives (or not open on this server), in which case the caller looks for the first create in MySQL
by its create id (service.py), which holds it once numbering has reopened.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from ...domain.errors import Unavailable
from .numbers import EPOCH_KEY
from .redis_server import Scripts

RECORD_TTL_SECONDS = 24 * 3600
T = TypeVar("T")

# KEYS: record, epoch; ARGV: identity, fingerprint, in-flight ttl, record ttl. Returns
# {1, record} if one exists, else claims it and returns {0, epoch state}: 0 open for longer than
# a record lives, 1 open for less, 2 not open on this server.
_CLAIM = """
local r = redis.call('GET', KEYS[1])
if r then return {1, r} end
redis.call('SET', KEYS[1], cjson.encode({fp = ARGV[2]}), 'EX', ARGV[3])
local e = redis.call('HMGET', KEYS[2], 'server', 'opened_at')
if e[1] ~= ARGV[1] then return {0, 2} end
if tonumber(redis.call('TIME')[1]) - tonumber(e[2]) < tonumber(ARGV[4]) then return {0, 1} end
return {0, 0}
"""

OLD_EPOCH, YOUNG_EPOCH, NO_EPOCH = 0, 1, 2


@dataclass(frozen=True)
class RequestKey:
    """A client's Idempotency-Key and what identifies its request (method, path, body)."""

    key: str
    fingerprint: str

    def create_id(self, scope: str) -> str:
        """The create id a keyed create stores with its row: the same for every retry."""
        return hashlib.sha256(f"{scope}\n{self.key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Claim:
    answer: dict[str, Any] | None = None  # the first answer, to give again
    in_flight: bool = False  # the first request still runs
    mismatch: bool = False  # the key was used for another request
    epoch: int = OLD_EPOCH  # for a new claim: OLD_EPOCH, YOUNG_EPOCH or NO_EPOCH


class Records:
    def __init__(self, client: redis.Redis, in_flight_seconds: int):
        self._redis = client
        self._scripts = Scripts(client)
        self._in_flight_seconds = in_flight_seconds

    def claim(self, scope: str, key: RequestKey) -> Claim:
        args = [key.fingerprint, self._in_flight_seconds, RECORD_TTL_SECONDS]
        (found, value), _ = self._call(
            lambda: self._scripts.run(_CLAIM, [_record_key(scope, key), EPOCH_KEY], args)
        )
        if not found:
            return Claim(epoch=int(value))
        record = json.loads(value)
        if record["fp"] != key.fingerprint:
            return Claim(mismatch=True)
        if "answer" not in record:
            return Claim(in_flight=True)
        return Claim(answer=record["answer"])

    def complete(self, scope: str, key: RequestKey, answer: dict[str, Any]) -> None:
        record = json.dumps({"fp": key.fingerprint, "answer": answer})
        try:
            self._redis.set(_record_key(scope, key), record, ex=RECORD_TTL_SECONDS)
        except redis.RedisError:
            pass  # the request succeeded; a retry finds the create in MySQL or, failing that, repeats it

    def release(self, scope: str, key: RequestKey) -> None:
        """Drops a claim whose request failed, so that a retry runs it."""
        try:
            self._redis.delete(_record_key(scope, key))
        except redis.RedisError:
            pass  # it expires after the in-flight time

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        try:
            return action()
        except redis.RedisError as exc:
            raise Unavailable("the idempotency store (Redis) is unavailable") from exc


def _record_key(scope: str, key: RequestKey) -> str:
    return f"idem:{scope}:{hashlib.sha256(key.key.encode()).hexdigest()[:32]}"
