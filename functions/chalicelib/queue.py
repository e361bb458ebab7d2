"""SQS adapter: puts creation and edit events on the queue the writer drains."""

from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import events
from .errors import Unavailable

# botocore's standard retry mode retries throttling and transient faults with backoff.
_CLIENT_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=5)
_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def client() -> Any:  # botocore builds its clients at run time: no static type
    return boto3.client("sqs", config=_CLIENT_CONFIG)


class Queue:
    def __init__(self, sqs: Any, url: str, correlation_id: Callable[[], str | None] = lambda: None):
        self._sqs = sqs
        self._url = url
        self._correlation_id = correlation_id

    def send(self, body: str) -> None:
        """Queues `body` with the current request's correlation id beside it, for the writer's log."""
        attributes = events.correlation_attributes(self._correlation_id())
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=body, MessageAttributes=attributes)
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the creation queue is unavailable") from exc

    def depth(self) -> int:
        """Events waiting, in flight or delayed (approximate, as SQS reports them)."""
        try:
            attrs = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=_DEPTH_ATTRIBUTES)
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the creation queue is unavailable") from exc
        return sum(int(attrs["Attributes"].get(name, 0)) for name in _DEPTH_ATTRIBUTES)
