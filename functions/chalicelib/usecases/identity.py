"""Who a request acts for: `identify` turns the credential it carries into a Caller.

An application token is the application's backend: every chat, read and write. Found tokens are
kept per process, by hash, `KNOWN_SECONDS`, after the shared cache's (Redis)
`TOKEN_CACHE_SECONDS`: a revoked token is refused within `REVOCATION_SECONDS`.

A user token (domain/user_tokens.py) is verified in the process: its signature, issuer, audience
and times need no store. Whether its key's version still verifies (a rotation of the application
token retires the key) is read from MySQL at most once per `REVOCATION_SECONDS` per application
and process, so a token signed before a rotation is refused within that bound too (at once in
the process that rotated).
"""

import time
from typing import NamedTuple

from ..domain import user_tokens
from ..domain.callers import Caller
from ..domain.errors import TokenRevoked, Unauthorized, UnknownToken
from ..domain.models import Application
from ..domain.tokens import TOKEN_CACHE_SECONDS, token_hash
from ..domain.user_tokens import KeyId, Versions
from .ports import IdentityDeps


class _Known(NamedTuple):
    application_id: int
    until: float  # time.monotonic()


class _Verified(NamedTuple):
    caller: Caller
    signer: KeyId
    until: float  # Unix seconds


class _Read(NamedTuple):
    versions: Versions
    at: float  # time.monotonic()


_KNOWN: dict[str, _Known] = {}
_KNOWN_MAX = 10_000
KNOWN_SECONDS = 5
REVOCATION_SECONDS = KNOWN_SECONDS + TOKEN_CACHE_SECONDS
# Application id -> its versions, and when they were read.
_VERSIONS: dict[int, _Read] = {}
# User tokens this process verified, by hash -> caller, signer and until when: a page sends the
# same token with every request, and a hash costs far less than PyJWT's checks. An entry lasts
# until the token expires (with the leeway), `VERIFIED_SECONDS` at most, so a changed server
# secret is honoured within that long; the key version is checked every time.
_VERIFIED: dict[str, _Verified] = {}
VERIFIED_SECONDS = 60


def identify(deps: IdentityDeps, credential: str) -> Caller:
    """The caller `credential` names: an application token (NotFound if no application has it,
    before anything else is read or counted) or a user token (Unauthorized unless it verifies)."""
    if user_tokens.looks_like_user_token(credential):
        return _user(deps, credential)
    return Caller(application_id(deps, credential))


def application(deps: IdentityDeps, token: str) -> Application:
    """The application as MySQL holds it (no cache): NotFound if no application has the token."""
    app = deps.db.application(token)
    if app is None:
        raise UnknownToken()
    return app


def application_id(deps: IdentityDeps, token: str) -> int:
    """The id of the application whose token this is, from this process's memory, else Redis,
    else MySQL."""
    hashed, now = token_hash(token), time.monotonic()
    known = _KNOWN.get(hashed)
    if known is not None and known.until > now:
        return known.application_id
    app_id = deps.tokens.application_id(token)
    if app_id is None:
        app_id = application(deps, token).id
        deps.tokens.remember(token, app_id)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()  # bounded; a cleared token costs one Redis GET again
    _KNOWN[hashed] = _Known(app_id, now + KNOWN_SECONDS)
    return app_id


def forget(deps: IdentityDeps, token: str) -> None:
    """Drops a token from this process's memory and Redis at once (a rotation replaced it)."""
    _KNOWN.pop(token_hash(token), None)
    deps.tokens.forget(token)


def remembers(token: str) -> bool:
    """Whether this process holds the token in its memory (found, and not yet forgotten)."""
    return token_hash(token) in _KNOWN


def forget_everything() -> None:
    """This process forgets every token, user token and key version it knew, as a new Lambda
    environment starts with none (tests, benchmarks)."""
    _KNOWN.clear()
    _VERSIONS.clear()
    _VERIFIED.clear()


def forget_key_versions(app_id: int) -> None:
    """Reads the application's key versions afresh at the next user token (a rotation or a
    revocation here changed them: this process refuses the retired key at once)."""
    _VERSIONS.pop(app_id, None)


def _user(deps: IdentityDeps, token: str) -> Caller:
    hashed, now = token_hash(token), time.time()
    known = _VERIFIED.get(hashed)
    if known is not None and now < known.until:
        caller, signer = known.caller, known.signer
    else:
        signer = user_tokens.key_id(token)
        # Signature and claims first: a forged or foreign token costs no store round trip.
        caller, expires = user_tokens.verify(deps.user_token_secret, token, signer, now)
        if len(_VERIFIED) >= _KNOWN_MAX:
            _VERIFIED.clear()
        until = min(expires + user_tokens.LEEWAY_SECONDS, now + VERIFIED_SECONDS)
        _VERIFIED[hashed] = _Verified(caller, signer, until)
    _still_signing(deps, signer)
    return caller


def _still_signing(deps: IdentityDeps, signer: KeyId) -> None:
    """TokenRevoked unless the application still verifies with that key's version."""
    versions, read_at = _versions(deps, signer.application_id, fresh=False)
    if signer.version > versions.current:  # rotated elsewhere since we read: read again
        versions, read_at = _versions(deps, signer.application_id, fresh=True)
    if signer.version == versions.current:
        return
    previous_ends = read_at + versions.previous_seconds
    if signer.version == versions.current - 1 and time.monotonic() < previous_ends:
        return
    raise TokenRevoked("the application's token was rotated since this user token was issued")


def _versions(deps: IdentityDeps, app_id: int, fresh: bool) -> tuple[Versions, float]:
    now = time.monotonic()
    known = _VERSIONS.get(app_id)
    if known is not None and not fresh and known.at + REVOCATION_SECONDS > now:
        return known
    versions = deps.db.token_versions(app_id)
    if versions is None:
        raise Unauthorized("the user token's application does not exist")
    if len(_VERSIONS) >= _KNOWN_MAX:
        _VERSIONS.clear()
    read = _VERSIONS[app_id] = _Read(versions, now)
    return read
