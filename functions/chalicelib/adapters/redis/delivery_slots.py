"""Redis adapter: how many webhook deliveries of one application run at once, at most `most`.

A slow receiver holds a delivery for up to its timeout; without a bound, one application's
chats could take every delivery the function runs and make the other tenants wait. A count
per application: a slot is taken before a chat's deliveries and given back after. The count
expires `TTL_SECONDS` after it was made, so slots a killed worker never gave back are
forgotten. While Redis cannot be reached every delivery goes (the rate and the backoff still
bound them): a cache's failure must not stop the deliveries, whose truth is in MySQL.
"""

import redis

from . import keys

TTL_SECONDS = 60


class DeliverySlots:
    def __init__(self, client: redis.Redis, most: int):
        self._redis = client
        self._most = most

    def take(self, application_id: int) -> bool:
        key = keys.delivery_slots(application_id)
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(key, 0, ex=TTL_SECONDS, nx=True)
            pipe.incr(key)
            _, taken = pipe.execute()
            if int(taken) <= self._most:
                return True
            self._redis.decr(key)
            return False
        except redis.RedisError:
            return True

    def give_back(self, application_id: int) -> None:
        key = keys.delivery_slots(application_id)
        try:
            # Never below zero: the count may have expired and been made anew meanwhile.
            if int(self._redis.decr(key)) < 0:
                self._redis.set(key, 0, ex=TTL_SECONDS)
        except redis.RedisError:
            pass
