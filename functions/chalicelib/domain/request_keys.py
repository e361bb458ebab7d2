"""Requests under an `Idempotency-Key`: what binds a key to its request, and what a claim found.

A key replays only the request it was first sent with: its digest covers the method, the route,
the path values bar the token (a token rotates; the application it names does not) and the body
fields read. A record keeps the digest and the few values a replay cannot rebuild from the
request itself (a number, an application's token sealed with the key), never a body.
"""

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum

# What a key must carry where its answer holds a token: 128 bits, so that the token sealed with
# it (and the record found by it) is as hard to guess as the token itself.
MIN_SECRET_KEY_BITS = 128


@dataclass(frozen=True)
class RequestKey:
    """A client's Idempotency-Key and the digest of the request it came with."""

    key: str
    digest: str

    def create_id(self, scope: str) -> str:
        """The create id a keyed create stores with its row: the same for every retry."""
        return hashlib.sha256(f"{scope}\n{self.key}".encode()).hexdigest()[:32]

    def bound(self) -> "RequestKey":
        """The key with its request folded in: another request with the same key is another key.
        Where anyone may send a key (no application scopes it), this leaves nothing to tell a
        caller that a key is in use by someone else."""
        return RequestKey(f"{self.key}\n{self.digest}", self.digest)

    def bits(self) -> int:
        """What the key can carry: 4 bits a character if it is hex, else 6 (base64url) at most."""
        hex_only = all(c in "0123456789abcdefABCDEF" for c in self.key)
        return len(self.key) * (4 if hex_only else 6)

    def seal(self, token: str) -> str:
        """The token, readable only with the key (for a record or a row that outlives the request)."""
        return base64.urlsafe_b64encode(_xor(token.encode(), self._pad(len(token)))).decode()

    def unseal(self, sealed: str) -> str:
        data = base64.urlsafe_b64decode(sealed.encode())
        return _xor(data, self._pad(len(data))).decode()

    def _pad(self, size: int) -> bytes:
        # One pad per key, used for one token only: an HMAC stream is then a one-time pad, and the
        # standard library has no authenticated cipher (nothing to authenticate: a wrong key
        # never finds the record).
        pad, block = b"", 0
        while len(pad) < size:
            pad += hmac.digest(self.key.encode(), f"seal {block}".encode(), "sha256")
            block += 1
        return pad[:size]


def _xor(data: bytes, pad: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, pad, strict=True))


class RecordLoss(Enum):
    """Whether Redis may have lost records that a new claim would otherwise have found."""

    NONE = "none"  # the numbering epoch is older than a record lives
    POSSIBLE = "possible"  # younger: MySQL holds every create made before it opened
    UNKNOWN = "unknown"  # numbering is not open on this server: reopen it before asking MySQL


@dataclass(frozen=True)
class Done:
    """What a finished keyed request's record keeps: what its answer needs beyond the request."""

    number: int = 0  # a created chat's or message's number, a created application's id
    sealed_token: str | None = None  # an application's token, sealed with the key


@dataclass(frozen=True)
class Reserved:
    """The number a keyed create took and its accept instant, kept on the key's record before its
    event is sent, with the numbering epoch it was taken in: the event can be built again from
    them and the request, the same event."""

    number: int
    created_at_ms: int
    epoch: str = ""  # "" until the record holds it: the epoch open when it was kept


@dataclass(frozen=True)
class Replay:
    """The key's request finished before: answer it again from this."""

    done: Done


@dataclass(frozen=True)
class Running:
    """The key's first request is still running."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used for another request of the same application."""


@dataclass(frozen=True)
class OverBudget:
    """The application holds its budget of records, `most` within `safe_age` seconds: none can
    be added for `retry_after` seconds."""

    retry_after: int
    most: int
    safe_age: int


@dataclass(frozen=True)
class Unsure:
    """The key's create took `reserved` and may have queued its event (its send failed without
    an answer, or its request died): claimed again for this request. In the same epoch it sends
    the same event again; in another, MySQL holds it or it was never queued."""

    reserved: Reserved
    same_epoch: bool


@dataclass(frozen=True)
class New:
    """The key is claimed for this request, which runs now."""

    loss: RecordLoss = RecordLoss.NONE


Claim = Replay | Running | Mismatch | OverBudget | New | Unsure
