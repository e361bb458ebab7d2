"""The change marks after a write (and the pending bodies it drops), against the real Redis."""

import pytest

from chalicelib.adapters.redis import keys as redis_keys
from chalicelib.domain.models import NewChat, NewMessage

BIG = 2**32 - 1  # the largest id an event may carry, kept exact through the script's JSON
KEYS = [
    redis_keys.CHANGED_CHATS,
    redis_keys.CHANGED_APPLICATIONS,
    redis_keys.pending(BIG, 7),
    redis_keys.pending(5, 1),
]


@pytest.fixture
def r(deps):
    """The adapter's Redis, without the keys this module writes, before and after each test."""
    client = deps.redis
    client.delete(*KEYS)
    yield client
    client.delete(*KEYS)


def test_persisted_messages_leave_the_pending_hashes_and_mark_their_chats_and_applications(deps, r):
    changes, big = deps.changes, BIG
    r.hset(redis_keys.pending(big, 7), mapping={"1": "a", "2": "b", "3": "c"})
    r.hset(redis_keys.pending(5, 1), mapping={"10": "x"})
    changes.record_persisted(
        [NewChat(9, 1)], [NewMessage(big, 7, 1, "a"), NewMessage(big, 7, 3, "c"), NewMessage(5, 1, 10, "x")]
    )
    assert r.hgetall(redis_keys.pending(big, 7)) == {b"2": b"b"} and not r.exists(redis_keys.pending(5, 1))
    assert r.smembers(redis_keys.CHANGED_CHATS) == {f"{big}:7".encode(), b"5:1"}
    assert r.smembers(redis_keys.CHANGED_APPLICATIONS) == {str(big).encode(), b"9", b"5"}
    changes.record_persisted([], [])  # nothing to do is no error
