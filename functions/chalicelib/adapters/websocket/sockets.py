"""Sends frames to clients' sockets through the @connections API (botocore's apigatewaymanagementapi
client, at the endpoint the settings name: API Gateway on AWS, the local gateway locally).

A fan-out posts to every connection at once from a pool of threads: one POST is one frame, and
API Gateway has no batch call. A connection that is gone (410, GoneException) is reported, so
that its row is dropped; any other failure is counted and the others go on.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...domain.live import Delivery
from .. import aws

# Short: a frame that waits seconds is late anyway, and the next change brings the client back.
_TIMEOUTS = {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 2, "mode": "standard"}}


def client(endpoint_url: str, concurrency: int) -> Any:
    return aws.client(
        "apigatewaymanagementapi",
        Config(max_pool_connections=concurrency, **_TIMEOUTS),
        endpoint_url=endpoint_url,
    )


class Sockets:
    def __init__(self, management: Any, concurrency: int):
        self._client = management
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="send")

    def send(self, connection_ids: Sequence[str], data: bytes) -> Delivery:
        outcomes = list(self._pool.map(lambda cid: (cid, self._post(cid, data)), connection_ids))
        return Delivery(
            sent=sum(1 for _, outcome in outcomes if outcome == "sent"),
            gone=[cid for cid, outcome in outcomes if outcome == "gone"],
            failed=[cid for cid, outcome in outcomes if outcome == "failed"],
        )

    def close(self, connection_id: str) -> None:
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except (ClientError, BotoCoreError):
            pass  # gone already, or the gateway will close it at its lifetime's end

    def _post(self, connection_id: str, data: bytes) -> str:
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=data)
        except self._client.exceptions.GoneException:
            return "gone"
        except (ClientError, BotoCoreError):
            return "failed"
        return "sent"
