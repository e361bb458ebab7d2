"""The counter's sweep removes the numbering counters of idle chats and applications from Redis
(counter.sweep_idle_counters), and numbering goes on from MySQL without a 503 or a clash:
in-process handlers on the stack's MariaDB, Redis and SQS."""

import time

import redis

from chalicelib.adapters.redis import keys as redis_keys
from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.usecases import counter
from tests.integration.support import REDIS_URL, post

IDLE = 1  # second; the setting is at least an hour


def sweep(deps) -> counter.Swept | counter.SweepStopped:
    time.sleep(IDLE + 1.2)  # OBJECT IDLETIME counts whole seconds
    return counter.sweep_idle_counters(deps, IDLE, max_keys=10**7)


def epoch(r: redis.Redis) -> tuple:
    """The epoch's id, and whether its count of seeded counters agrees with their set."""
    return r.hget(redis_keys.EPOCH, "id"), int(r.hget(redis_keys.EPOCH, "seeded") or 0) == r.scard(
        redis_keys.SEEDED
    )


def test_an_idle_counter_whose_numbers_are_all_in_mysql_goes_and_creates_go_on(
    client, application, writer, deps
):
    r, token, app_id = (
        redis.Redis.from_url(REDIS_URL),
        application["token"],
        application_id(deps, application),
    )
    post(client, f"/applications/{token}/chats")
    for body in ("one", "two", "three"):
        post(client, f"/applications/{token}/chats/1/messages", {"body": body})
    writer.drain()
    before = epoch(r)
    assert before[1]
    sweep(deps)
    assert r.exists(redis_keys.messages(app_id, 1), redis_keys.chats(app_id)) == 0
    assert epoch(r) == before  # the same epoch, still open, its count in step
    assert post(client, f"/applications/{token}/chats/1/messages", {"body": "four"}) == (201, {"number": 4})
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 2})
    assert epoch(r) == before


def test_a_counter_whose_last_number_is_only_queued_stays(client, application, writer, deps):
    r, token, app_id = (
        redis.Redis.from_url(REDIS_URL),
        application["token"],
        application_id(deps, application),
    )
    post(client, f"/applications/{token}/chats")
    post(client, f"/applications/{token}/chats/1/messages", {"body": "stored"})
    writer.drain()
    post(client, f"/applications/{token}/chats/1/messages", {"body": "queued"})  # not drained
    sweep(deps)
    assert r.hget(redis_keys.messages(app_id, 1), "n") == b"2"
    assert not r.exists(redis_keys.chats(app_id))  # chat 1 is in MySQL: its application's counter went
    writer.drain()
    assert post(client, f"/applications/{token}/chats/1/messages", {"body": "next"}) == (201, {"number": 3})


def test_the_counters_of_many_idle_chats_leave_no_key_behind(application, deps):
    """N chats, each with a message, stored and their bodies forgotten as the writer does."""
    r, app_id, n = redis.Redis.from_url(REDIS_URL), application_id(deps, application), 500
    chats = [NewChat(app_id, c) for c in range(1, n + 1)]
    messages = [NewMessage(app_id, c, 1, "x") for c in range(1, n + 1)]
    for c in range(n):
        deps.reservations.reserve_chat_number(app_id, seed=lambda: 0)
        deps.reservations.reserve_message_number(app_id, c + 1, "x", seed=lambda: 0)
    deps.batches.persist(chats, messages)
    deps.changes.record_persisted(chats, messages)
    assert len(keys_of(r, app_id)) == n + 1  # a counter per chat and the application's
    before = epoch(r)
    result = sweep(deps)
    assert keys_of(r, app_id) == []
    assert result.counters_removed >= n + 1 and epoch(r) == before
    assert deps.reservations.reserve_message_number(app_id, 7, "back", seed=lambda: 1) == 2


def application_id(deps, application: dict) -> int:
    return deps.db.application(application["token"]).id


def keys_of(r: redis.Redis, app_id: int) -> list:
    """Every key that names the application: counters and pending bodies."""
    return [*r.scan_iter(f"*:{app_id}:*", count=1000), *r.scan_iter(redis_keys.chats(app_id))]
