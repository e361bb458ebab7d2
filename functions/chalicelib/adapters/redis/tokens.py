"""Redis adapter: application ids by token, so a create need not ask MySQL who the token is.

A cache and nothing more: any Redis failure is a miss, and the caller asks MySQL. Keys name a
token's hash, never the token. An entry lives `TTL_SECONDS`, so a token revoked (or past its
grace) is refused within that long even where a lookup raced the revocation's `forget`.
"""

import contextlib

import redis

from ...domain.tokens import TOKEN_CACHE_SECONDS
from . import keys

TTL_SECONDS = TOKEN_CACHE_SECONDS


class TokenCache:
    def __init__(self, client: redis.Redis):
        self._redis = client

    def application_id(self, token: str) -> int | None:
        try:
            value = self._redis.get(keys.token(token))
        except redis.RedisError:
            return None  # a cache miss: the caller asks MySQL
        return int(value) if value is not None else None

    def remember(self, token: str, application_id: int) -> None:
        with contextlib.suppress(redis.RedisError):
            self._redis.set(keys.token(token), application_id, ex=TTL_SECONDS)

    def forget(self, token: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(keys.token(token))
