"""Numbering trusts Redis only on the server its epoch was opened on, and never reseeds a counter
it lost: against real redis-servers of the test's own (ports REDIS_PORT + 11 and + 12)."""

import dataclasses
import time

import pytest
import redis

from chalicelib.adapters.redis import keys as redis_keys
from chalicelib.adapters.redis import redis_server
from chalicelib.adapters.redis.epoch import Epoch
from chalicelib.adapters.redis.reservations import Reservations
from chalicelib.adapters.redis.sweep import IdleCounters
from chalicelib.domain.errors import Unavailable
from chalicelib.usecases import numbering
from tests.conftest import REDIS_PORT
from tests.helpers import RedisServer, eventually

# Ports of this stack's range (REDIS_PORT + 11..20), tried in turn.
PRIMARY, REPLICA = (
    range(int(REDIS_PORT) + 11, int(REDIS_PORT) + 16),
    range(int(REDIS_PORT) + 16, int(REDIS_PORT) + 21),
)


@dataclasses.dataclass
class Numbering:
    """The numbering adapters of one server, as the functions wire them."""

    reservations: Reservations
    sweep: IdleCounters
    epoch: Epoch


def numbers(port: int, wait_replicas: int = 0) -> Numbering:
    client = redis.Redis.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=2, redis_connect_func=redis_server.identify
    )
    return Numbering(
        Reservations(client, wait_replicas, wait_timeout_ms=200), IdleCounters(client), Epoch(client)
    )


@pytest.fixture
def primary(tmp_path):
    server = RedisServer(PRIMARY, tmp_path / "primary").start()
    yield server
    server.stop()


def test_a_restart_from_a_snapshot_is_not_trusted(primary, tmp_path):
    n = numbers(primary.port)
    n.epoch.open_epoch("first")
    assert [n.reservations.reserve_chat_number(1, seed=lambda: 0) for _ in range(3)] == [1, 2, 3]
    primary.client.save()  # the snapshot holds the epoch and the counter at 3
    assert (
        n.reservations.reserve_chat_number(1, seed=lambda: 0) == 4
    )  # handed out, then lost with the restart
    primary.stop()
    primary.start()
    with pytest.raises(Unavailable):
        n.reservations.reserve_chat_number(1, seed=lambda: 0)
    assert n.epoch.epoch_state().is_open is False


def test_a_promoted_replica_that_lagged_is_not_trusted(primary, tmp_path):
    replica = RedisServer(REPLICA, tmp_path / "replica", replica_of=primary.port).start()
    try:
        n = numbers(primary.port)
        n.epoch.open_epoch("first")
        n.reservations.reserve_message_number(1, 1, "hello", seed=lambda: 0)
        eventually(replica.in_sync, timeout=10)
        eventually(lambda: replica.client.exists(redis_keys.messages(1, 1)), timeout=10)
        time.sleep(2)  # the replica has run 2 s: its age must not count as time since the failover
        replica.client.replicaof("NO", "ONE")  # promoted; it has the epoch, and misses what follows
        assert n.reservations.reserve_message_number(1, 1, "lost", seed=lambda: 0) == 2
        with pytest.raises(Unavailable):
            numbers(replica.port).reservations.reserve_message_number(1, 1, "again", seed=lambda: 0)
        assert numbers(replica.port).epoch.epoch_state() in ((False, 0), (False, 1))  # waits from now
    finally:
        replica.stop()


def test_wait_refuses_a_reservation_no_replica_acknowledged(primary):
    n = numbers(primary.port, wait_replicas=1)
    n.epoch.open_epoch("first")
    with pytest.raises(Unavailable, match="0 of 1 replicas"):
        n.reservations.reserve_message_number(1, 1, "hello", seed=lambda: 0)
    assert primary.client.hgetall(redis_keys.pending(1, 1)) == {}  # the client was not told: no body kept


def test_a_counter_deleted_inside_its_epoch_closes_the_epoch(primary):
    n = numbers(primary.port)
    n.epoch.open_epoch("first")
    assert n.reservations.reserve_chat_number(7, seed=lambda: 0) == 1
    assert n.reservations.reserve_chat_number(8, seed=lambda: 0) == 1
    time.sleep(2)  # the server's age must not count as time since the loss
    primary.client.delete(redis_keys.chats(7))  # evicted or deleted: MySQL may not have chat 1 yet
    with pytest.raises(Unavailable):
        n.reservations.reserve_chat_number(7, seed=lambda: 0)
    with pytest.raises(Unavailable):
        n.reservations.reserve_chat_number(8, seed=lambda: 0)  # the whole epoch: another key may be gone too
    assert n.epoch.epoch_state() in ((False, 0), (False, 1))


def test_dead_lettered_numbers_are_floors_of_the_next_epoch(primary):
    from chalicelib.domain import events

    n = numbers(primary.port)
    dead = [events.message_created(3, 2, 41, "x"), events.chat_created(3, 5), "not json"]
    n.epoch.open_epoch("after-restart", numbering.dead_letter_floors(dead))
    assert n.reservations.reserve_message_number(3, 2, "next", seed=lambda: 40) == 42  # MySQL had up to 40
    assert n.reservations.reserve_chat_number(3, seed=lambda: 2) == 6
    assert n.reservations.reserve_message_number(3, 1, "new chat", seed=lambda: 0) == 1
    assert n.reservations.chats_reserved(3) == 6 and n.reservations.chats_reserved(4) is None


# -- the counter's sweep of idle counters (counter.sweep_idle_counters) -----------------------------


def idle(n: Numbering, seconds: int = 0) -> list:
    """Every counter idle `seconds`, from one whole SCAN pass."""
    found, cursor = [], 0
    while True:
        cursor, step = n.sweep.idle_counters(cursor, 100, seconds)
        found += step
        if cursor == 0:
            return found


def seeded_in_step(primary) -> bool:
    """The epoch's count of the counters it seeded agrees with their set (else it closes)."""
    return int(primary.client.hget(redis_keys.EPOCH, "seeded") or 0) == primary.client.scard(
        redis_keys.SEEDED
    )


def test_a_dropped_counter_is_seeded_again_from_mysql_and_the_epoch_stays_open(primary):
    n = numbers(primary.port)
    n.epoch.open_epoch("first")
    assert [n.reservations.reserve_message_number(1, 1, "x", seed=lambda: 0) for _ in range(3)] == [1, 2, 3]
    n.reservations.reserve_chat_number(1, seed=lambda: 0)
    (chat, counter) = sorted(idle(n), key=lambda c: c.chat_number or 0)
    assert (counter.chat_number, counter.highest, chat.chat_number, chat.highest) == (1, 3, None, 1)
    assert n.sweep.drop_counters([counter]) == 1
    assert not primary.client.exists(redis_keys.messages(1, 1)) and primary.client.exists(redis_keys.chats(1))
    assert seeded_in_step(primary)
    assert n.reservations.reserve_message_number(1, 1, "again", seed=lambda: 3) == 4  # MySQL held up to 3
    assert n.reservations.reserve_chat_number(1, seed=lambda: 0) == 2
    assert n.epoch.epoch_state().is_open is True and seeded_in_step(primary)


def one_idle_chat_counter(primary) -> tuple:
    """(Numbering in an open epoch, application 5's chat counter at 1, as the sweep read it)."""
    n = numbers(primary.port)
    n.epoch.open_epoch("first")
    n.reservations.reserve_chat_number(5, seed=lambda: 0)
    (counter,) = idle(n)
    return n, counter


def test_a_counter_used_after_it_was_read_idle_is_not_dropped(primary):
    n, counter = one_idle_chat_counter(primary)
    assert (
        n.reservations.reserve_chat_number(5, seed=lambda: 0) == 2
    )  # between the sweep's check and its delete
    assert n.sweep.drop_counters([counter]) == 0
    assert n.reservations.reserve_chat_number(5, seed=lambda: 0) == 3
    assert n.epoch.epoch_state().is_open is True and seeded_in_step(primary)


def test_no_counter_is_dropped_while_the_epoch_is_closed(primary):
    n, counter = one_idle_chat_counter(primary)
    primary.client.delete(redis_keys.EPOCH)
    assert n.sweep.drop_counters([counter]) is None
    assert primary.client.hget(redis_keys.chats(5), "n") == b"1"


def test_idle_time_is_read_without_resetting_it_and_counts_since_the_last_use(primary):
    n = numbers(primary.port)
    n.epoch.open_epoch("first")
    n.reservations.reserve_chat_number(1, seed=lambda: 0)
    n.reservations.reserve_chat_number(2, seed=lambda: 0)
    time.sleep(2.2)
    n.reservations.reserve_chat_number(2, seed=lambda: 0)  # used again: not idle
    assert [c.application_id for c in idle(n, seconds=2)] == [1]
    assert idle(n, seconds=2) == []  # read once: the sweep's own read counts as a use
