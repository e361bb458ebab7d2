"""Redis adapter: messages queued and not yet in MySQL, as the API reads them (their records are
written as pending_record.py says).

A reservation stores the body (reservations.py); the writer drops it once MySQL holds the
message (changes.py); the API drops it when the client was never told the number."""

from collections.abc import Sequence

import redis

from ...domain.models import Message, NewMessage
from . import keys, pending_record
from .numbering_calls import FORGET_AND_MARK, call, forget_and_mark


class PendingBodies:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._forget = client.register_script(FORGET_AND_MARK)

    def pending_message(self, application_id: int, chat_number: int, number: int) -> Message | None:
        value = call(lambda: self._redis.hget(keys.pending(application_id, chat_number), str(number)))
        if value is None:
            return None
        return pending_record.decode(number, value.decode() if isinstance(value, bytes) else value)

    def forget_pending(self, messages: Sequence[NewMessage]) -> None:
        """Drops the bodies of messages the client was never told about."""
        forget_and_mark(self._forget, forget=messages)
