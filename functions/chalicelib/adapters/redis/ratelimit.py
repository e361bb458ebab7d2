"""Redis adapter: per-application request quotas, one script call (one round trip) per request.

Each quota is a fixed window: a counter per application, kind and window, created by the first
request of the window and expiring with it, so idle applications hold no keys. A window can let
up to twice the quota through across its boundary; that is the price of one INCR. The window
is Redis's clock (TIME), so API functions with skewed clocks share the same windows.

A limiter that cannot reach Redis lets the request through: quotas protect the stores from one
tenant, and a Redis outage already refuses the creates that depend on it.

On creates this is a round trip of its own (~0.06 ms at p50), not folded into the reservation
script that carries the numbering epoch: docs/performance.md, "The quota check's round trip".
"""

import redis
from aws_lambda_powertools import Logger

from ...domain.quotas import Decision, Quota
from . import keys

log = Logger(service="chat", child=True)

# KEYS: none (the key is built from the clock). ARGV: key prefix, quota, window seconds.
# Returns {requests in this window including this one, seconds until the window ends}.
_TAKE = """
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[3])
local key = ARGV[1] .. ':' .. math.floor(now / window)
local used = redis.call('INCR', key)
if used == 1 then redis.call('EXPIRE', key, window + 1) end
return {used, window - now % window}
"""


class RateLimits:
    def __init__(self, client: redis.Redis, quotas: dict[str, Quota]):
        self._quotas = quotas
        # The key is built inside the script (it depends on Redis's clock): undeclared keys are
        # fine on a single Redis node or replication group, not on Redis Cluster.
        self._take = client.register_script(_TAKE)

    def take(self, application_id: int, kind: str) -> Decision | None:
        """Counts one request of `kind`; None when the limiter could not ask Redis."""
        quota = self._quotas[kind]
        try:
            used, reset = self._take(
                args=[keys.quota(kind, application_id), quota.requests, quota.window_seconds]
            )
        except redis.RedisError as exc:
            log.warning("rate limit not checked", kind=kind, error=repr(exc))
            return None
        used, reset = int(used), int(reset)
        return Decision(quota, used <= quota.requests, max(quota.requests - used, 0), reset)
