"""Redis adapter: which chats and applications changed since the counter's last run.

The writer marks them (and drops the pending bodies MySQL now holds) after each batch; the
counter pops them to recount only what changed. The marks live in Redis, so a Redis restart
loses them: the counter then recounts everything (`changes_complete`)."""

from collections.abc import Iterable, Sequence
from typing import cast

import redis

from ...domain.models import ChatKey, NewChat, NewMessage
from . import keys
from .numbering_calls import FORGET_AND_MARK, call, forget_and_mark


class ChangeMarks:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._forget_and_mark = client.register_script(FORGET_AND_MARK)

    def record_persisted(self, chats: Sequence[NewChat], messages: Sequence[NewMessage]) -> None:
        """After a write: drops the bodies now in MySQL, and notes whose counts changed."""
        forget_and_mark(
            self._forget_and_mark,
            forget=messages,
            chats={m.chat_key for m in messages},
            applications={c.application_id for c in chats} | {m.application_id for m in messages},
        )

    def pop_changed_chats(self, count: int) -> list[ChatKey]:
        """Up to `count` (application_id, chat_number) keys whose messages changed."""
        members = self._pop(keys.CHANGED_CHATS, count)
        return [keys.chat_of(m.decode()) for m in members]

    def pop_changed_applications(self, count: int) -> list[int]:
        return [int(m) for m in self._pop(keys.CHANGED_APPLICATIONS, count)]

    def _pop(self, key: str, count: int) -> list[bytes]:
        # SPOP with a count answers a list (empty when the set is missing).
        return cast(list[bytes], call(lambda: self._redis.spop(key, count)) or [])

    def restore_changes(self, chats: Iterable[ChatKey], applications: Iterable[int]) -> None:
        """Puts popped keys back when their recount failed."""
        forget_and_mark(self._forget_and_mark, chats=chats, applications=applications)

    def changes_complete(self) -> bool:
        """True while the marks cover every write since the last full recount: the epoch the last
        full recount saw must still be the current one."""
        epoch = call(lambda: self._redis.hget(keys.EPOCH, "id"))
        counted = call(lambda: self._redis.get(keys.COUNTED_EPOCH))
        return epoch is not None and epoch == counted

    def start_full_recount(self) -> None:
        """Empties the marks and records the epoch a full recount is about to cover."""
        epoch = call(lambda: self._redis.hget(keys.EPOCH, "id"))
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.CHANGED_CHATS, keys.CHANGED_APPLICATIONS)
            if epoch is not None:
                pipe.set(keys.COUNTED_EPOCH, epoch)
            call(pipe.execute)
