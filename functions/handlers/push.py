"""The push function: told by the announcer after changes commit (adapters/announce: its topic's
records, or invoked), by the API of each message it accepts, and by itself with a share of a big
fan-out."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.adapters.announce import payload
from chalicelib.usecases import push
from chalicelib.wiring import stores
from chalicelib.wiring.observability import entry_point, logger, metrics
from chalicelib.wiring.stores import push_deps

stores.prepare()  # in Lambda's init phase: what a push reads is built before the first one


@entry_point
def push_changes(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "deliver" in event:  # a share of a big fan-out, handed over by another invocation
        share = event["deliver"]
        done = push.deliver(push_deps(), share["connections"], share["frame"].encode())
    elif "accepted" in event:  # a message the API just accepted
        done = push.push_accepted(push_deps(), *payload.accepted_from(event))
    else:
        done = push.push(push_deps(), payload.changes_from(event))
    totals: dict[str, Any] = done
    logger.info("changes pushed", **totals)
    metrics.add_metric(name="PushesSent", unit=MetricUnit.Count, value=totals["sent"])
    metrics.add_metric(name="PushesFailed", unit=MetricUnit.Count, value=totals["failed"])
    return totals
