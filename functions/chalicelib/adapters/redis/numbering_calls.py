"""What the numbering adapters share: driver errors as ours, the epoch's keys, and the one command
that drops pending bodies and marks changed counts (pending.py, changes.py)."""

import json
from collections.abc import Callable, Iterable

import redis

from ...domain.errors import Unavailable
from ...domain.models import ChatKey, NewMessage
from . import keys, lua

# Every numbering script takes these first: whether the epoch is open on this server, and which
# counters it seeded (reservations.py, epoch.py, sweep.py).
EPOCH_KEYS = [keys.EPOCH, keys.CLOSED, keys.SEEDED]

FORGET_AND_MARK = lua.script("numbering-forget-and-mark")


def call[T](action: Callable[[], T]) -> T:
    try:
        return action()
    except redis.RedisError as exc:
        raise Unavailable("the number service (Redis) is unavailable") from exc


def forget_and_mark(
    script: Callable[..., object],
    forget: Iterable[NewMessage] = (),
    chats: Iterable[ChatKey] = (),
    applications: Iterable[int] = (),
) -> None:
    """One command: drops pending bodies and marks chats and applications as changed."""
    bodies: dict[str, list[int]] = {}
    for m in forget:
        bodies.setdefault(keys.pending(m.application_id, m.chat_number), []).append(m.number)
    arg = json.dumps([list(map(keys.changed_chat, chats)), list(applications), list(bodies.values())])
    call(lambda: script(keys=[keys.CHANGED_CHATS, keys.CHANGED_APPLICATIONS, *bodies], args=[arg]))
