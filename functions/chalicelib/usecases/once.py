"""A request under its `Idempotency-Key`, as the use cases run it: claimed, then done or released.

    with Once(deps.keys, scope, key) as once:
        if isinstance(once.claim, Replay):
            return <the answer, from once.claim.done and the request>
        ...the work, with once.create_id...
        once.done(Done(number))

A request without a key runs as a new claim with a create id of its own. Leaving the block by an
exception releases the claim, so that a retry runs the request again, unless a create's event may
have been queued (`held`): then the record keeps its number and a retry sends the same event again
(docs/architecture.md, "A create whose send got no answer").
"""

import time
import uuid
from types import TracebackType

from ..domain.errors import InFlight, KeyBudgetSpent, KeyReused, NotQueued
from ..domain.request_keys import (
    Done,
    Mismatch,
    New,
    OverBudget,
    Replay,
    RequestKey,
    Reserved,
    Running,
    Unsure,
)
from .ports import Keys


class Once:
    def __init__(self, keys: Keys, scope: str, key: RequestKey | None):
        self._keys, self._scope, self._key = keys, scope, key
        self.create_id = key.create_id(scope) if key is not None else uuid.uuid4().hex
        self.claim: Replay | New | Unsure = New() if key is None else self._claim(key)
        self._held: Reserved | None = None  # the number this request holds, before its send

    def _claim(self, key: RequestKey) -> Replay | New | Unsure:
        claim = self._keys.claim(self._scope, key)
        if isinstance(claim, Running):
            raise InFlight("a request with this Idempotency-Key is still running; retry it shortly")
        if isinstance(claim, Mismatch):
            raise KeyReused()
        if isinstance(claim, OverBudget):
            raise KeyBudgetSpent(
                "this application holds as many Idempotency-Key records as it may, all recent; "
                f"retry after {claim.retry_after} s, or without a key",
                claim.most,
                claim.safe_age,
                claim.retry_after,
            )
        return claim

    @property
    def keyed(self) -> bool:
        """Whether the request carries an Idempotency-Key."""
        return self._key is not None

    def sent_before(self) -> Reserved | None:
        """The number an earlier attempt took and may have queued, in the epoch open now: this
        request sends that event again (the writer stores it once) instead of taking another."""
        claim = self.claim
        return claim.reserved if isinstance(claim, Unsure) and claim.same_epoch else None

    def held(self, reserved: Reserved, deadline: float) -> Reserved:
        """Keeps `reserved` on the key's record before its event is sent, so that a retry after an
        unanswered send sends the same event. NotQueued past `deadline` (a request that held
        it longer could queue it after numbering reopened), or if numbering moved on."""
        if time.monotonic() >= deadline:
            raise NotQueued()
        if self._key is not None:
            reserved = self._keys.hold_number(self._scope, self._key, reserved)
        self._held = reserved
        return reserved

    def __enter__(self) -> "Once":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if exc is None or self._key is None or isinstance(self.claim, Replay):
            return
        maybe_queued = isinstance(self.claim, Unsure) or (
            self._held is not None and not isinstance(exc, NotQueued)
        )
        if maybe_queued:
            self._keys.leave_unsure(self._scope, self._key)
        else:
            self._keys.release(self._scope, self._key)

    def done(self, done: Done) -> Done:
        """Records the request's outcome for its retries; returns it."""
        if self._key is not None and not isinstance(self.claim, Replay):
            self._keys.complete(self._scope, self._key, done)
        return done
