"""Announces committed changes on an SNS topic: the push function and any other follower (a
webhooks queue) subscribe to it, one publish for all of them."""

import json
from collections.abc import Sequence
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ...domain.changes import ChatChanged
from .. import aws
from .payload import changes_payload

_CONFIG = Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1, "mode": "standard"})


def client() -> Any:
    return aws.client("sns", _CONFIG)


class TopicAnnouncer:
    def __init__(self, sns_client: Any, topic_arn: str, log: Any):
        self._client = sns_client
        self._topic = topic_arn
        self._log = log

    def announce(self, changes: Sequence[ChatChanged]) -> None:
        if not changes:
            return
        try:
            self._client.publish(TopicArn=self._topic, Message=json.dumps(changes_payload(changes)))
        except (ClientError, BotoCoreError) as exc:
            self._log.warning("announcement lost", changes=len(changes), error=repr(exc))
