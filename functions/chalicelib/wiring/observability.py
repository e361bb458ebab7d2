"""Logs, metrics and traces under one service name, for every entry point and every store.

Traces are on only where the template's `Tracing` parameter is Active: it sets
POWERTOOLS_TRACE_DISABLED otherwise, and Powertools also turns the Tracer off outside Lambda (tests,
`chalice local`), where no X-Ray daemon listens. Nothing here records a request's path, body or
answer: the application token travels in the path and in a created application's answer.
"""

import functools
from collections.abc import Callable
from typing import Any, cast

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "chat"
logger = Logger(service=SERVICE)  # the modules' child loggers (same service) log through this one
metrics = Metrics(namespace="Chat", service=SERVICE)
# Powertools' own rule (the env switch, or outside Lambda), read without building X-Ray's
# recorder: its SDK is a fifth of a cold start's imports, for traces that are off.
TRACING = not Tracer._is_tracer_disabled()
# No automatic patching: the subsegments below cover the four stores, one X-Ray node each, and
# patched HTTP or botocore calls would add duplicates of them with request URLs.
tracer = Tracer(service=SERVICE, auto_patch=False) if TRACING else None

Handler = Callable[[Any, Any], Any]


def entry_point(handler: Handler) -> Handler:
    """`handler(event, context)` with the Lambda context and cold start in every log line, a trace
    segment when tracing is on, and its metrics flushed when it ends (even by an exception)."""

    @functools.wraps(handler)
    def flushing(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if metrics.metric_set:
                metrics.flush_metrics()

    logged = logger.inject_lambda_context(flushing, clear_state=True)
    if tracer is None:
        return logged
    # Neither the answer (it may hold a new application's token) nor the error goes into the trace;
    # the error is in the log.
    return tracer.capture_lambda_handler(logged, capture_response=False, capture_error=False)


def traced[T](adapter: T, store: str) -> T:
    """`adapter` with each public method call in an X-Ray subsegment named after its store; the
    adapter itself when tracing is off, so that the local stack pays nothing for it."""
    if tracer is None or tracer.disabled:
        return adapter
    return cast(T, Traced(adapter, store, tracer.provider.in_subsegment))


class Traced:
    """Stands in for an adapter; its calls run inside `subsegment(store)`, which names the method."""

    def __init__(self, adapter: Any, store: str, subsegment: Callable[..., Any]):
        self._adapter, self._store, self._subsegment = adapter, store, subsegment

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._adapter, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            # A remote subsegment: X-Ray's service map shows each store as a node of its own.
            with self._subsegment(self._store, namespace="remote") as segment:
                segment.put_annotation("operation", name)
                return value(*args, **kwargs)

        return call
