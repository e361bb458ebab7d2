"""Application tokens: made here, and kept by every store only as their SHA-256.

A token is 192 random bits, so its hash needs no salt or stretching: whoever reads a table, a
Redis key or a record cannot use what is there to call the API.
"""

import hashlib
import secrets

# The longest a caller may keep a rotated token working (a day): long enough to roll out the
# new token, short enough that a leaked one does not live on.
MAX_GRACE_SECONDS = 24 * 3600
# How long a cache shared by the functions (Redis) may answer for a token without MySQL.
TOKEN_CACHE_SECONDS = 10


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
