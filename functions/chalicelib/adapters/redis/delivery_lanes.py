"""Redis adapter: which applications deliver their webhooks in the slow lane, and until when.

A mark per application that expires: set when one of its deliveries held a worker long (a
receiver that answers slowly, or not at all), renewed by each such delivery. It is a routing
hint, never delivery state: a mark Redis lost (a failover) or could not give sends the
application's next delivery through the fast lane, which marks it again if it is still slow.
"""

import math

import redis

from . import keys


class DeliveryLanes:
    def __init__(self, client: redis.Redis):
        self._redis = client

    def slow(self, application_id: int) -> bool:
        try:
            return bool(self._redis.exists(keys.slow_lane(application_id)))
        except redis.RedisError:
            return False

    def mark_slow(self, application_id: int, seconds: float) -> None:
        try:
            self._redis.set(keys.slow_lane(application_id), 1, ex=max(1, math.ceil(seconds)))
        except redis.RedisError:
            pass
