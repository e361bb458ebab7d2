"""The environment's log lines in AWS's format.

stdout and stderr of this process both point at one file (opened by the executor), so everything
the function writes - print, logging, C extensions, subprocesses - lands there in order; the
executor reads each invocation's part of it.
"""

import logging
import math
import os
import sys
import time


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def install_root_handler() -> RequestIdFilter:
    """As the AWS runtime does: one handler on the root logger, so basicConfig() becomes a no-op."""
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    request_ids = RequestIdFilter()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(request_ids)
    root = logging.getLogger()
    root.addHandler(handler)
    if os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
        root.setLevel(os.environ["AWS_LAMBDA_LOG_LEVEL"].upper())
    return request_ids


def start_line(request_id: str) -> str:
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    return f"START RequestId: {request_id} Version: {version}"


def end_lines(request_id: str, duration_ms: float, init_ms: float | None) -> str:
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    max_used = _peak_rss_mb()
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {math.ceil(duration_ms)} ms\tMemory Size: {memory} MB\t"
        f"Max Memory Used: {max_used} MB"
    )
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    return f"END RequestId: {request_id}\n{report}"


def _peak_rss_mb() -> int:
    """VmHWM, not getrusage: ru_maxrss survives exec and would count LocalStack's own memory."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0
