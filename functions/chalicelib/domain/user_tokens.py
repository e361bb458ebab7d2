"""User tokens: short-lived JWTs (HS256) an application's backend obtains for one of its users.

Each is signed with a key of its application and token version, derived from the server's
secret (HMAC-SHA256 of both): a rotation of the application token counts up the version, so it
changes the key, and nothing is stored per user token. The header's `kid` names application and
version; `verify` derives the key from them and checks everything else against it.
"""

import hashlib
import hmac
import re
from dataclasses import dataclass

# PyJWT is imported inside mint, key_id and verify: it loads `cryptography`, a third of `import
# app`, which no application token needs (docs/performance.md, "What `import app` costs").
from .callers import Caller
from .errors import BadRequest, TokenExpired, Unauthorized
from .models import Author

ALGORITHM = "HS256"  # the only one accepted: no "none", no public-key algorithm to confuse it with
ISSUER = "chat-api"
MIN_LIFETIME_SECONDS = 60
DEFAULT_LIFETIME_SECONDS = 3600
MAX_LIFETIME_SECONDS = 24 * 3600
# Clocks of the functions may disagree this much (iat a little ahead, exp a little behind).
LEEWAY_SECONDS = 30
# Longer is not a token we minted (a full one is about 1 KB): refused before it is parsed.
MAX_TOKEN_CHARS = 4096
MAX_USER_ID_CHARS = 128
MAX_NAME_CHARS = 100
MAX_CHATS = 100
MAX_CHAT_NUMBER = 2**31 - 1
_KID = re.compile(r"([1-9][0-9]{0,17})\.([1-9][0-9]{0,9})")
_READ, _WRITE = "read", "read write"


@dataclass(frozen=True)
class Grant:
    """What a user token allows: who, which chats (None: all), read-only or not, how long."""

    user: Author
    chats: frozenset[int] | None = None
    read_only: bool = False
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS


@dataclass(frozen=True)
class Versions:
    """The token versions of an application whose keys verify: the current one, and the one
    before while the token a rotation replaced is in its grace (`previous_seconds` more)."""

    current: int
    previous_seconds: float = 0.0


@dataclass(frozen=True)
class KeyId:
    """The application and token version whose key signed a token (its header's `kid`)."""

    application_id: int
    version: int


def signing_key(secret: bytes, key_id: KeyId) -> bytes:
    message = f"user-token\x00{key_id.application_id}\x00{key_id.version}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


def looks_like_user_token(credential: str) -> bool:
    """A JWT has dots between its parts; an application token (base64url) never has one."""
    return "." in credential


def validated(grant: Grant) -> Grant:
    """The grant, if a token may carry it (BadRequest otherwise): bounded sizes and lifetime."""
    user = grant.user
    if not 0 < len(user.id) <= MAX_USER_ID_CHARS or not 0 < len(user.name.strip()) <= MAX_NAME_CHARS:
        raise BadRequest(
            f"user_id must be 1 to {MAX_USER_ID_CHARS} characters and name 1 to {MAX_NAME_CHARS}"
        )
    if grant.chats is not None and not 0 < len(grant.chats) <= MAX_CHATS:
        raise BadRequest(f"chats must list 1 to {MAX_CHATS} chat numbers, or be left out for all")
    if grant.chats is not None and not all(0 < n <= MAX_CHAT_NUMBER for n in grant.chats):
        raise BadRequest("chats must be chat numbers (positive integers)")
    if not MIN_LIFETIME_SECONDS <= grant.lifetime_seconds <= MAX_LIFETIME_SECONDS:
        raise BadRequest(f"expires_in must be from {MIN_LIFETIME_SECONDS} to {MAX_LIFETIME_SECONDS} seconds")
    return grant


def mint(secret: bytes, key_id: KeyId, grant: Grant, now: int) -> str:
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": str(key_id.application_id),
        "sub": grant.user.id,
        "name": grant.user.name,
        "scope": _READ if grant.read_only else _WRITE,
        "iat": now,
        "exp": now + grant.lifetime_seconds,
    }
    if grant.chats is not None:
        claims["chats"] = sorted(grant.chats)
    kid = f"{key_id.application_id}.{key_id.version}"
    import jwt  # see the imports above

    return jwt.encode(claims, signing_key(secret, key_id), algorithm=ALGORITHM, headers={"kid": kid})


def key_id(token: str) -> KeyId:
    """Whose key a token says signed it, read before anything is verified (Unauthorized if the
    token is not one we could have minted)."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(f"a user token is at most {MAX_TOKEN_CHARS} characters")
    import jwt  # see the imports above

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("not a user token") from None
    found = _KID.fullmatch(str(header.get("kid", "")))
    if header.get("alg") != ALGORITHM or found is None:
        raise Unauthorized("not a user token of this API")
    return KeyId(int(found[1]), int(found[2]))


def verify(secret: bytes, token: str, signer: KeyId, now: float) -> tuple[Caller, int]:
    """The caller a token names and its expiry (Unix seconds), once its signature (under
    `signer`'s key), issuer, audience and times (on the clock `now`, give or take
    LEEWAY_SECONDS) hold; Unauthorized otherwise."""
    import jwt  # see the imports above

    try:
        claims = jwt.decode(
            token,
            signing_key(secret, signer),
            algorithms=[ALGORITHM],
            audience=str(signer.application_id),
            issuer=ISSUER,
            # The times are checked below, on the clock the caller passes.
            options={
                "require": ["iss", "aud", "sub", "iat", "exp"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the user token is not valid ({type(exc).__name__})") from None
    _check_times(claims, now)
    return _caller(signer, claims), int(claims["exp"])


def _check_times(claims: dict[str, object], now: float) -> None:
    iat, exp = claims["iat"], claims["exp"]
    if type(iat) is not int or type(exp) is not int or not 0 < exp - iat <= MAX_LIFETIME_SECONDS:
        raise Unauthorized("the user token's times are not ones this API mints")
    if iat > now + LEEWAY_SECONDS:
        raise Unauthorized("the user token was issued in the future (a clock far ahead?)")
    if exp <= now - LEEWAY_SECONDS:
        raise TokenExpired("the user token has expired: ask the application for a new one")


def _caller(signer: KeyId, claims: dict[str, object]) -> Caller:
    sub, name, scope, chats = claims["sub"], claims.get("name"), claims.get("scope"), claims.get("chats")
    if not isinstance(sub, str) or not isinstance(name, str) or scope not in (_READ, _WRITE):
        raise Unauthorized("the user token's claims are not ones this API mints")
    if chats is not None and not (
        isinstance(chats, list) and 0 < len(chats) <= MAX_CHATS and all(type(n) is int for n in chats)
    ):
        raise Unauthorized("the user token's chats are not ones this API mints")
    allowed = None if chats is None else frozenset(chats)
    expires = int(claims["exp"])  # type: ignore[call-overload]  # an int: _check_times came first
    return Caller(
        signer.application_id,
        Author(sub, name),
        allowed,
        read_only=scope == _READ,
        expires_at=expires,
        key_version=signer.version,
    )
