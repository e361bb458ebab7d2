"""Redis adapter: application ids by token, so a create need not ask MySQL who the token is.

A cache and nothing more: any Redis failure is a miss, and the caller asks MySQL.
"""

import contextlib

import redis

from . import keys

TTL_SECONDS = 24 * 3600


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
