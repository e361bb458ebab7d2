"""Redis adapter for `Idempotency-Key` records of an application: claimed, then done, for 24 hours.

A scope's records are fields of one hash (`idem:{scope}`), indexed by when each was claimed in
a sorted set (`idem:{scope}:at`). Neither has a TTL: under the `volatile-lru` policy only keys
with a TTL (caches) are evicted, never a record a retry relies on (docs/architecture.md). The
claim script drops the scope's records past their time, and holds the scope to its budget: over
it, the oldest records go if they are older than `safe_age` (every create they stand for is in
MySQL by then, where a retry then looks), else the claim is refused. All scopes together hold at
most `total_bytes` of records: each application keeps to its budget, but applications keep
coming, and records that are never evicted would at last leave numbering no memory. Past that
total a new record makes room in the scope that holds most records (`idem:sizes` counts each
scope's), its oldest going once old enough, else in its own as if over its budget: the scopes
that fill the total give up room, not a new application with none to give. A record keeps the
request's digest and what its answer needs beyond the request (request_keys.Done), never a body.
A create's claim also holds, before its event is sent, the number it took, its accept instant
and the numbering epoch (request_keys.Reserved): if the send fails without an answer the record
keeps them, and the retry sends the same event again while that epoch is open.

Redis may also lose records in a failover to a replica that lagged; the claim therefore says
whether records may be missing (a young epoch, a trimmed scope) or numbering is not open on this
server, and the use case then looks for the create in MySQL (service.py).
"""

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from ...domain.errors import NotQueued, Unavailable
from ...domain.request_keys import (
    Claim,
    Done,
    Mismatch,
    New,
    OverBudget,
    RecordLoss,
    Replay,
    RequestKey,
    Reserved,
    Running,
    Unsure,
)
from . import keys, lua
from .redis_server import Scripts

RECORD_TTL_SECONDS = 24 * 3600
# What one record costs Redis: its field and value in the hash and its member in the index
# (used_memory grew by 336 bytes a record over 10,000 records of one scope; docs/reliability.md).
RECORD_BYTES = 340
T = TypeVar("T")

_CLAIM = lua.script("idempotency-claim")
_COMPLETE = lua.script("idempotency-complete")
_EXPIRE = lua.script("idempotency-expire")
_HOLD = lua.script("idempotency-hold")
_RELEASE = lua.script("idempotency-release")
_UNSURE = lua.script("idempotency-unsure")


class Records:
    def __init__(
        self,
        client: redis.Redis,
        in_flight_seconds: int,
        budget_bytes: int,
        safe_age_seconds: int,
        total_bytes: int,
    ):
        self._redis = client
        self._scripts = Scripts(client)
        self._in_flight_seconds = in_flight_seconds
        self._most = max(budget_bytes // RECORD_BYTES, 1)
        self._safe_age = safe_age_seconds
        self._most_of_all = max(total_bytes // RECORD_BYTES, 1)
        self._complete = client.register_script(_COMPLETE)
        self._expire = client.register_script(_EXPIRE)
        self._release = client.register_script(_RELEASE)
        self._unsure = client.register_script(_UNSURE)

    def claim(self, scope: str, key: RequestKey) -> Claim:
        args = [
            _record_id(key),
            key.digest,
            self._in_flight_seconds,
            RECORD_TTL_SECONDS,
            self._most,
            self._safe_age,
            self._most_of_all,
            scope,
            *keys.idempotency_naming(),
        ]
        claim_keys = [*keys.idempotency(scope), keys.EPOCH, keys.IDEMPOTENCY_TOTAL, keys.IDEMPOTENCY_SIZES]
        reply, _ = self._call(lambda: self._scripts.run(_CLAIM, claim_keys, args))
        found, value = reply[0], reply[1]
        if found == 0:
            return New([RecordLoss.NONE, RecordLoss.POSSIBLE, RecordLoss.UNKNOWN][int(value)])
        if found == 2:
            return OverBudget(int(value), self._most, self._safe_age)
        record = json.loads(value)
        if found == 3:
            reserved = Reserved(int(record["n"]), int(record["m"]), str(record["e"]))
            return Unsure(reserved, same_epoch=bool(reply[2]))
        if record["d"] != key.digest:
            return Mismatch()
        if "u" in record:
            return Running()
        return Replay(Done(int(record.get("n", 0)), record.get("t")))

    def hold_number(self, scope: str, key: RequestKey, reserved: Reserved) -> Reserved:
        """Keeps `reserved` on the claim before its event is sent, with the epoch it was taken in
        (the one open now if `reserved.epoch` is ""); NotQueued if the claim ended or numbering
        is not open on this server in that epoch: its event must not be sent then."""
        r = reserved
        args = [_record_id(key), key.digest, r.number, r.created_at_ms, r.epoch]
        hold_keys = [keys.idempotency(scope)[0], keys.EPOCH]
        epoch, _ = self._call(lambda: self._scripts.run(_HOLD, hold_keys, args))
        if epoch is None:
            raise NotQueued("numbering moved on before the creation was queued; retry it")
        return dataclasses.replace(r, epoch=epoch.decode() if isinstance(epoch, bytes) else str(epoch))

    def leave_unsure(self, scope: str, key: RequestKey) -> None:
        """Its event may be queued: the claim keeps its number, and a retry may come at once."""
        try:
            self._unsure(keys=keys.idempotency(scope)[:1], args=[_record_id(key)])
        except redis.RedisError:
            pass  # the retry waits out the in-flight time, then sends the same event all the same

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
        try:
            release_keys = [*keys.idempotency(scope), keys.IDEMPOTENCY_TOTAL, keys.IDEMPOTENCY_SIZES]
            self._release(keys=release_keys, args=[_record_id(key), scope])
        except redis.RedisError:
            pass  # the claim ends after the in-flight time

    def expire(self) -> int:
        """Drops the records past their time in every scope (also those no request claims in any
        more); how many."""
        oldest_kept = int(self._call(lambda: self._redis.time())[0]) - RECORD_TTL_SECONDS
        indexes = self._call(
            lambda: list(self._redis.scan_iter(keys.ALL_IDEMPOTENCY_INDEXES, count=1000, _type="zset"))
        )
        return sum(self._expire_scope(index, oldest_kept) for index in indexes)

    def _expire_scope(self, index: bytes, oldest_kept: int) -> int:
        scope = keys.idempotency_scope(index.decode())
        scope_keys = [*keys.idempotency(scope), keys.IDEMPOTENCY_TOTAL, keys.IDEMPOTENCY_SIZES]
        return int(self._call(lambda: self._expire(keys=scope_keys, args=[oldest_kept, scope])))

    @staticmethod
    def _call(action: Callable[[], T]) -> T:
        try:
            return action()
        except redis.RedisError as exc:
            raise Unavailable("the idempotency store (Redis) is unavailable") from exc


def _record_id(key: RequestKey) -> str:
    return hashlib.sha256(key.key.encode()).hexdigest()[:32]
