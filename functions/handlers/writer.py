"""The writer function: batches from the creation queue's SQS event source (infra/template.yaml
decides the queue and the batch size)."""

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.domain.models import Clash
from chalicelib.usecases import writer
from chalicelib.wiring import stores
from chalicelib.wiring.observability import entry_point, metrics
from chalicelib.wiring.stores import writer_deps

stores.prepare()  # in Lambda's init phase: what the batches read is built before the first one


@entry_point
def handle_creations(event: dict[str, Any], context: Any) -> dict[str, Any]:
    records = [(record["messageId"], record["body"]) for record in event["Records"]]
    clashes: list[Clash] = []
    failed = writer.persist_records(writer_deps(), records, clashes)
    writer.log_batch(event["Records"], failed)
    metrics.add_metric(name="EventsWritten", unit=MetricUnit.Count, value=len(records) - len(failed))
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(failed))
    # Two creates told the same number: the template's CreateClashAlarm watches this one.
    metrics.add_metric(name="CreateClashes", unit=MetricUnit.Count, value=len(clashes))
    lag_ms = writer.lag_ms(event, time.time())
    if lag_ms is not None:
        metrics.add_metric(name="WriteLag", unit=MetricUnit.Milliseconds, value=lag_ms)
    # The partial batch response (ReportBatchItemFailures): only these records come back.
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}
