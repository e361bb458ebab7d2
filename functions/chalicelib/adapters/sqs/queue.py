"""SQS adapter: puts creation and edit events on the queue the writer drains."""

import time
from collections.abc import Callable
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...domain import events
from ...domain.errors import NotQueued, Unavailable
from .. import aws

# botocore's standard retry mode retries throttling and transient faults with backoff. The bounds
# keep a send within SEND_BOUND_SECONDS: numbering reopens after a Redis restart once no request
# that reserved a number can still queue it, so a send must never outlive its request.
# `total_max_attempts` counts the first attempt too (botocore's `max_attempts` counts retries only).
_ATTEMPTS, _CONNECT_SECONDS, _READ_SECONDS = 2, 1, 2
CLIENT_CONFIG = Config(
    retries={"total_max_attempts": _ATTEMPTS, "mode": "standard"},
    connect_timeout=_CONNECT_SECONDS,
    read_timeout=_READ_SECONDS,
)
# The attempts, and the backoff between them.
SEND_BOUND_SECONDS = _ATTEMPTS * (_CONNECT_SECONDS + _READ_SECONDS) + 1
_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def client() -> Any:  # botocore builds its clients at run time: no static type
    return aws.client("sqs", CLIENT_CONFIG)


# Reading the dead-letter queue stops here: more than this wants an operator (redrive or drop).
MAX_DEAD_LETTERS = 10_000
_BATCH = 10  # SQS's most messages per receive, and entries per batch call
# What the dead-letter queue's reader hides while it reads; it shows them again when done, and
# SQS does after this long if the reader could not.
_HIDDEN_SECONDS = 30
_UNAVAILABLE = "the creation queue is unavailable"


class Queue:
    def __init__(
        self,
        sqs: Any,
        url: str,
        correlation_id: Callable[[], str | None] = lambda: None,
        dead_letter_url: str = "",
    ):
        self._sqs = sqs
        self._url = url
        self._dead_letter_url = dead_letter_url
        self._correlation_id = correlation_id

    def send(self, body: str, deadline: float | None = None) -> None:
        """Queues `body` with the current request's correlation id beside it, for the writer's log;
        refuses when the send could end after `deadline` (time.monotonic()). NotQueued when `body`
        is certainly not queued; Unavailable when it may be all the same."""
        if deadline is not None and time.monotonic() + SEND_BOUND_SECONDS > deadline:
            raise NotQueued()
        attributes = events.correlation_attributes(self._correlation_id())
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=body, MessageAttributes=attributes)
        except ClientError as exc:
            if _refused_at_once(exc):
                raise NotQueued(_UNAVAILABLE) from exc
            raise Unavailable(_UNAVAILABLE) from exc
        except BotoCoreError as exc:
            # A timeout or a reset after the request was written may have queued it; so may an
            # attempt before a refused retry.
            raise Unavailable(_UNAVAILABLE) from exc

    def depth(self) -> int:
        """Events waiting, in flight or delayed (approximate, as SQS reports them)."""
        return sum(self._depths(self._url).values())

    def _depths(self, url: str) -> dict[str, int]:
        try:
            attrs = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_DEPTH_ATTRIBUTES)
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable(_UNAVAILABLE) from exc
        return {name: int(attrs["Attributes"].get(name, 0)) for name in _DEPTH_ATTRIBUTES}

    def dead_letters(self) -> list[str]:
        """Every event body in the dead-letter queue, which is left as it was.

        Each message is hidden while it is read, then shown again. Raises Unavailable when some
        cannot be read now (another reader holds them) or there are too many to read here.
        """
        if not self._dead_letter_url:
            return []
        depths = self._depths(self._dead_letter_url)
        if depths["ApproximateNumberOfMessagesNotVisible"] or depths["ApproximateNumberOfMessagesDelayed"]:
            raise Unavailable("the dead-letter queue is being read elsewhere; retry shortly")
        if depths["ApproximateNumberOfMessages"] > MAX_DEAD_LETTERS:
            raise Unavailable("the dead-letter queue holds too many events to count; redrive or drop it")
        bodies: list[str] = []
        handles: list[str] = []
        try:
            while len(bodies) <= MAX_DEAD_LETTERS:
                got = self._sqs.receive_message(
                    QueueUrl=self._dead_letter_url,
                    MaxNumberOfMessages=_BATCH,
                    VisibilityTimeout=_HIDDEN_SECONDS,
                ).get("Messages", [])
                if not got:
                    break
                bodies += [m["Body"] for m in got]
                handles += [m["ReceiptHandle"] for m in got]
        except (BotoCoreError, ClientError) as exc:
            raise Unavailable("the dead-letter queue is unavailable") from exc
        finally:
            self._show_again(handles)
        return bodies

    def _show_again(self, handles: list[str]) -> None:
        for i in range(0, len(handles), _BATCH):
            entries = [
                {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for j, h in enumerate(handles[i : i + _BATCH])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self._dead_letter_url, Entries=entries)
            except (BotoCoreError, ClientError):
                pass  # they show again by themselves after 30 s


def _refused_at_once(exc: ClientError) -> bool:
    """Whether SQS refused the one attempt made (a client error, not retried): nothing was queued."""
    meta = exc.response.get("ResponseMetadata", {})
    return bool(meta.get("RetryAttempts", 0) == 0 and meta.get("HTTPStatusCode", 500) < 500)
