"""SQS adapter: puts creation and edit events on the queue the writer drains."""

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

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
    def __init__(self, sqs: Any, url: str):
        self._sqs = sqs
        self._url = url

    def send(self, body: str) -> None:
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=body)
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the creation queue is unavailable") from exc

    def depth(self) -> int:
        """Events waiting, in flight or delayed (approximate, as SQS reports them)."""
        try:
            attrs = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=_DEPTH_ATTRIBUTES)
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the creation queue is unavailable") from exc
        return sum(int(attrs["Attributes"].get(name, 0)) for name in _DEPTH_ATTRIBUTES)
