"""Hands a share of a big fan-out to another invocation of the push function (Lambda's async
`Event` invocation), so that the sends run in several environments at once."""

import json
from collections.abc import Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import aws

_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"})


def client() -> Any:
    return aws.client("lambda", _CONFIG)


def deliveries_payload(connection_ids: Sequence[str], frame: bytes) -> dict[str, Any]:
    return {"deliver": {"connections": list(connection_ids), "frame": frame.decode()}}


class FanOut:
    def __init__(self, lambda_client: Any, function_name: str, log: Any):
        self._client = lambda_client
        self._function = function_name
        self._log = log

    def deliver_later(self, connection_ids: Sequence[str], frame: bytes) -> None:
        """Best effort, as the announcement itself: a share lost is caught up from the feed."""
        try:
            self._client.invoke(
                FunctionName=self._function,
                InvocationType="Event",
                Payload=json.dumps(deliveries_payload(connection_ids, frame)).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            self._log.warning("fan-out share lost", sockets=len(connection_ids), error=repr(exc))
