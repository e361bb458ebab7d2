"""A request under its `Idempotency-Key`, as the use cases run it: claimed, then done or released.

    with Once(deps.keys, scope, key) as once:
        if isinstance(once.claim, Replay):
            return <the answer, from once.claim.done and the request>
        ...the work, with once.create_id...
        once.done(Done(number))

A request without a key runs as a new claim with a create id of its own. Leaving the block by an
exception releases the claim, so that a retry runs the request again.
"""

import uuid
from types import TracebackType

from ..domain.errors import InFlight, KeyBudgetSpent, KeyReused
from ..domain.request_keys import Done, Mismatch, New, OverBudget, Replay, RequestKey, Running
from .ports import Keys


class Once:
    def __init__(self, keys: Keys, scope: str, key: RequestKey | None):
        self._keys, self._scope, self._key = keys, scope, key
        self.create_id = key.create_id(scope) if key is not None else uuid.uuid4().hex
        self.claim: Replay | New = New() if key is None else self._claim(key)

    def _claim(self, key: RequestKey) -> Replay | New:
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

    def __enter__(self) -> "Once":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if exc is not None and self._key is not None and isinstance(self.claim, New):
            self._keys.release(self._scope, self._key)

    def done(self, done: Done) -> Done:
        """Records the request's outcome for its retries; returns it."""
        if self._key is not None and isinstance(self.claim, New):
            self._keys.complete(self._scope, self._key, done)
        return done
