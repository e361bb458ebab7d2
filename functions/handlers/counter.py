"""The counter function: hourly by the template's schedule rule; any payload will do, so `make
counts` can invoke it. After the recount it sweeps the counters of idle chats out of Redis and
expires old request-key records."""

from typing import Any

from chalicelib.usecases import counter
from chalicelib.wiring import settings, stores
from chalicelib.wiring.observability import entry_point, logger
from chalicelib.wiring.stores import counter_deps

stores.prepare()


@entry_point
def refresh_counts(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = counter.refresh_counts(counter_deps()).fields()
    logger.info("counts refreshed", extra=result)
    s = settings.counter()
    swept = counter.sweep_idle_counters(counter_deps(), s.counter_idle_seconds, s.counter_sweep_keys).fields()
    logger.info("idle counters swept", extra=swept)
    expired = counter.expire_key_records(counter_deps()).fields()
    logger.info("key records expired", extra=expired)
    return {**result, "sweep": swept, **expired}
