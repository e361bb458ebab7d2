"""Tells a chat's followers of a message the moment the API accepted it: an async (`Event`)
invocation of the push function, which sends it as an `accepted` frame. Not through the
changes topic: its followers (webhooks) act on committed changes only."""

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ...domain.models import Message
from .payload import accepted_payload


class AcceptPush:
    def __init__(self, lambda_client: Any, function_name: str, log: Any):
        self._client = lambda_client
        self._function = function_name
        self._log = log

    def accepted(self, application_id: int, chat_number: int, message: Message) -> None:
        """Best effort: a follower that missed it sees the message when its change is pushed."""
        try:
            self._client.invoke(
                FunctionName=self._function,
                InvocationType="Event",
                Payload=json.dumps(accepted_payload(application_id, chat_number, message)).encode(),
            )
        except (ClientError, BotoCoreError) as exc:
            self._log.warning("accepted message not pushed", error=repr(exc))
