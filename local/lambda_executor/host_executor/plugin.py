import logging
import os

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

LOG = logging.getLogger(__name__)


class HostProcessExecutorPlugin(RuntimeExecutorPlugin):
    """Selected with LAMBDA_RUNTIME_EXECUTOR=host-process."""

    name = "host-process"

    def load(self, *args, **kwargs):
        from host_executor.executor import HostProcessExecutor

        if os.environ.get("LAMBDA_DISABLE_CLOUDWATCH_METRICS") == "1":
            _disable_invocation_metrics()
        return HostProcessExecutor


def _disable_invocation_metrics() -> None:
    """LocalStack publishes two CloudWatch datapoints per invocation (Invocations, Errors) from a new
    thread, each a put_metric_data committed to SQLite: a third of the emulator's CPU for a no-op
    function (docs/performance.md, "The local API's ceiling"). It has no setting for Lambda, as
    SQS_DISABLE_CLOUDWATCH_METRICS is for SQS; this is ours. Only alarms on AWS/Lambda metrics would
    miss them, and we have none."""
    from localstack.services.lambda_.invocation import version_manager

    names = ("record_cw_metric_invocation", "record_cw_metric_error")
    if not all(hasattr(version_manager, name) for name in names):
        LOG.warning("LAMBDA_DISABLE_CLOUDWATCH_METRICS: this LocalStack has no %s; metrics stay on", names)
        return
    for name in names:
        setattr(version_manager, name, _no_metric)


def _no_metric(function_name: str, account_id: str, region_name: str) -> None:
    """Stands in for LocalStack's per-invocation metric."""
