"""The webhook delivery function: batches from the work queues' SQS event sources, the fast
lane's and the slow lane's (each record names chats; one whose store was down comes back), and
the template's schedule every minute (the sweep: due retries, lost announcements, replays asked
for)."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.edge import webhook_requests
from chalicelib.usecases import delivery
from chalicelib.wiring import stores
from chalicelib.wiring.observability import entry_point, logger, metrics
from chalicelib.wiring.stores import delivery_deps

stores.prepare()


@entry_point
def deliver_webhooks(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" not in event:
        swept = delivery.sweep(delivery_deps())
        logger.info("webhooks swept", extra=swept)
        return swept
    work = {record["messageId"]: webhook_requests.work_items(record["body"]) for record in event["Records"]}
    slow = any(webhook_requests.in_slow_lane(record["body"]) for record in event["Records"])
    seconds_left = context.get_remaining_time_in_millis() / 1000
    failed = delivery.handle_batch(delivery_deps(), work, seconds_left, slow)
    metrics.add_metric(name="WebhookWorkFailed", unit=MetricUnit.Count, value=len(failed))
    # The partial batch response (ReportBatchItemFailures): only these records come back.
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}
