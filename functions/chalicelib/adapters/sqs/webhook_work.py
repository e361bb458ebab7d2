"""SQS adapter of webhook work: each message names a chat whose changes to deliver.

The fast lane's queue takes the change announcements (subscribed to the changes topic) and
the worker's own requests (a retry after a delay, the rest of a long feed, the sweep's
catch-up): all say {"application_id", "chat_number"} (edge/webhook_requests.work_items). The
slow lane's queue takes the requests of applications whose receivers answer slowly; its
messages say `"lane": "slow"` too, so the worker knows where it runs (without a slow queue
they go to the one queue, still marked).
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ...domain.errors import Unavailable

# SQS holds a message back at most 15 minutes; a longer retry waits in MySQL for the sweep.
MAX_DELAY_SECONDS = 900
_BATCH = 10


class WebhookWork:
    def __init__(self, sqs: Any, url: str, slow_url: str | None = None):
        self._sqs = sqs
        self._url = url
        self._slow_url = slow_url or url

    def request(self, chats: Sequence[tuple[int, int]], delay_seconds: float = 0, slow: bool = False) -> None:
        if delay_seconds > MAX_DELAY_SECONDS:
            return  # the retry's time is in MySQL: the sweep hands it out when due
        delay = int(round(delay_seconds))
        lane = {"lane": "slow"} if slow else {}
        for chunk in _chunks(dict.fromkeys(chats), _BATCH):
            entries = [
                {
                    "Id": str(i),
                    "MessageBody": json.dumps({"application_id": a, "chat_number": c, **lane}),
                    "DelaySeconds": delay,
                }
                for i, (a, c) in enumerate(chunk)
            ]
            try:
                url = self._slow_url if slow else self._url
                answer = self._sqs.send_message_batch(QueueUrl=url, Entries=entries)
            except (BotoCoreError, ClientError) as exc:
                raise Unavailable("the webhook work queue is unavailable") from exc
            if answer.get("Failed"):
                raise Unavailable("the webhook work queue refused some requests")


def _chunks(items: Iterable[tuple[int, int]], size: int) -> Iterable[list[tuple[int, int]]]:
    chunk: list[tuple[int, int]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
