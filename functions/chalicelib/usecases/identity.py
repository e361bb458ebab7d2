"""Who a request acts for: `identify` turns the credential it carries into a Caller.

An application token (the path segment of the routes today) is the application's backend:
every chat, read and write. Found tokens are kept per process, by hash, `KNOWN_SECONDS`, after
the shared cache's (Redis) `TOKEN_CACHE_SECONDS`: a revoked token is refused within
`REVOCATION_SECONDS`.
"""

import time

from ..domain.callers import Caller
from ..domain.errors import NotFound
from ..domain.models import Application
from ..domain.tokens import TOKEN_CACHE_SECONDS, token_hash
from .ports import Deps

_KNOWN: dict[str, tuple[int, float]] = {}
_KNOWN_MAX = 10_000
KNOWN_SECONDS = 5
REVOCATION_SECONDS = KNOWN_SECONDS + TOKEN_CACHE_SECONDS


def identify(deps: Deps, credential: str) -> Caller:
    """The caller `credential` names; NotFound if no application has it (nothing else is read
    or counted before)."""
    return Caller(application_id(deps, credential))


def application(deps: Deps, token: str) -> Application:
    """The application as MySQL holds it (no cache): NotFound if no application has the token."""
    app = deps.db.application(token)
    if app is None:
        raise NotFound("no application has that token")
    return app


def application_id(deps: Deps, token: str) -> int:
    """The id of the application whose token this is, from this process's memory, else Redis,
    else MySQL."""
    hashed, now = token_hash(token), time.monotonic()
    known = _KNOWN.get(hashed)
    if known is not None and known[1] > now:
        return known[0]
    app_id = deps.tokens.application_id(token)
    if app_id is None:
        app_id = application(deps, token).id
        deps.tokens.remember(token, app_id)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()  # bounded; a cleared token costs one Redis GET again
    _KNOWN[hashed] = (app_id, now + KNOWN_SECONDS)
    return app_id


def forget(deps: Deps, token: str) -> None:
    """Drops a token from this process's memory and Redis at once (a rotation replaced it)."""
    _KNOWN.pop(token_hash(token), None)
    deps.tokens.forget(token)
