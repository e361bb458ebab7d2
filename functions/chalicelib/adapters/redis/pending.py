"""Redis adapter: messages queued and not yet in MySQL, as the API reads them (their records are
written as pending_record.py says).

A reservation stores the body (reservations.py), as does a keyed create's retry that sends its
event again (keep_pending); the writer drops it once MySQL holds the message (changes.py); the
API drops it when the client was never told the number."""

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

    def keep_pending(self, message: NewMessage) -> None:
        """Keeps a message readable again, as its reservation did: its create is sent again."""
        m, name = message, keys.pending(message.application_id, message.chat_number)
        record = pending_record.encode(m.body, m.created_at_ms, m.author)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(name, str(m.number), record)
        pipe.expire(name, pending_record.TTL_SECONDS)
        call(pipe.execute)
