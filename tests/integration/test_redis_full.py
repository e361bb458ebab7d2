"""A Redis at its maxmemory, filled by one tenant, still numbers another tenant's creates.

The Redis here is the test's own (a unix socket, 6 MB), run with the policy the stack and
ElastiCache run (local/stack/services.py): one tenant writes everything it may (keyed chats,
keyed messages of 60 KB, keyed edits) until Redis evicts; another tenant's keyed creates, each
retried, must then all succeed, each told one number, and all reach MySQL.
"""

import dataclasses
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from chalicelib.adapters.redis import keys
from chalicelib.domain.errors import ChatError
from chalicelib.domain.request_keys import RequestKey
from chalicelib.usecases import service
from local.stack.services import REDIS_MAXMEMORY_POLICY

MAXMEMORY = 6 * 2**20
BODY = "x" * 60_000


@dataclasses.dataclass
class FullRedis:
    url: str
    client: redis.Redis


def start_redis(directory: Path, policy: str) -> Iterator[FullRedis]:
    socket = directory / "redis.sock"
    argv = ["redis-server", "--port", "0", "--unixsocket", str(socket), "--save", "", "--appendonly", "no"]
    argv += ["--maxmemory", str(MAXMEMORY), "--maxmemory-policy", policy, "--dir", str(directory)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(unix_socket_path=str(socket))
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield FullRedis(f"unix://{socket}", client)
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def full_redis(tmp_path) -> Iterator[FullRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (make up installs it)")
    yield from start_redis(tmp_path, REDIS_MAXMEMORY_POLICY)


def flood_and_create(deps, full: FullRedis, sqs, victim_creates: int = 100) -> dict:
    """The flooding tenant writes until Redis evicts or refuses; then the other one creates,
    sending each create twice with its key. Returns what each was told. The flooder's events go
    to a queue of their own, dropped after: only the other tenant's reach the writer."""
    from chalicelib.adapters.sqs import queue
    from chalicelib.wiring import settings, stores

    s = dataclasses.replace(settings.get(), redis_url=full.url, idempotency_budget_bytes=256 * 1024)
    ours = stores.build(s).replace(db=deps.db, queue=deps.queue)
    ours.epoch.open_epoch(uuid.uuid4().hex)
    victim = service.create_application(ours, "victim").token
    service.create_chat(ours, victim)  # a tenant in business before the flood
    sink = sqs.create_queue(QueueName=f"it-flood-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    try:
        flood = _flood(ours.replace(queue=queue.Queue(sqs, sink)), full)
    finally:
        sqs.delete_queue(QueueUrl=sink)
    told: dict[int, set[int]] = {}
    failed = []
    for i in range(victim_creates):
        key = RequestKey(uuid.uuid4().hex, f"victim {i}")
        for _ in range(2):  # the create, and its retry
            try:
                told.setdefault(i, set()).add(service.create_message(ours, victim, 1, f"victim {i}", key))
            except ChatError as exc:
                failed.append(exc.code)
    memory = full.client.info("memory")
    return {
        "flood": flood,
        "told": told,
        "failed": failed,
        "evicted": full.client.info("stats")["evicted_keys"],
        "used_memory": memory["used_memory"],
        "victim_id": ours.db.application(victim).id,
    }


def _flood(ours, full: FullRedis) -> dict:
    """Keyed chats, keyed 60 KB messages and keyed edits, at the quotas, until Redis evicts."""
    flooder = service.create_application(ours, "flooder").token
    flood = {"sent": 0, "refused": 0}
    for i in range(2000):
        if full.client.info("stats")["evicted_keys"] > 0 and flood["sent"] > 100:
            break
        flood["sent"] += 1
        try:
            chat = service.create_chat(ours, flooder, RequestKey(uuid.uuid4().hex, "chat"))
            service.create_message(ours, flooder, chat, BODY, RequestKey(uuid.uuid4().hex, f"m{i}"))
            service.edit_message(ours, flooder, chat, 1, BODY + "!", RequestKey(uuid.uuid4().hex, f"e{i}"))
        except ChatError:
            flood["refused"] += 1
    return flood


def test_a_tenant_filling_redis_cannot_stop_another_tenants_creates(deps, writer, sqs, full_redis):
    outcome = flood_and_create(deps, full_redis, sqs)
    assert outcome["evicted"] > 0 and outcome["used_memory"] > 0.9 * MAXMEMORY  # it was full
    assert outcome["failed"] == [], outcome["failed"][:5]
    told = outcome["told"]
    assert all(len(numbers) == 1 for numbers in told.values())  # a retry is told the same number
    numbers = sorted(n for (n,) in told.values())
    assert numbers == list(range(1, len(told) + 1))  # each told once, none skipped
    writer.drain()
    with deps.mysql.cursor() as cur:
        cur.execute(
            "SELECT m.number, m.body FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.application_id = %s AND c.number = 1",
            (outcome["victim_id"],),
        )
        stored = dict(cur.fetchall())
    assert stored == {n: f"victim {i}" for i, (n,) in told.items()}  # none lost


def test_only_caches_carry_a_ttl_so_eviction_never_takes_numbering_or_records(client, application, deps):
    token = application["token"]
    headers = {"content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    assert client.http.post(f"/applications/{token}/chats", headers=headers).status_code == 201
    assert deps.epoch.begin_reopening(30) is not None  # the reopening lock, as a recovery holds it
    r = deps.redis
    with_ttl = {keys.family(k.decode()) for k in r.scan_iter(count=1000) if r.ttl(k) >= 0}
    without = {keys.family(k.decode()) for k in r.scan_iter(count=1000) if r.ttl(k) == -1}
    assert with_ttl <= set(keys.CACHES), with_ttl
    must_stay = {keys.family(keys.EPOCH), keys.family(keys.IDEMPOTENCY_TOTAL)}  # numbering, records
    assert must_stay <= without and not without & set(keys.CACHES), without
    r.delete(keys.REOPENING)


def test_many_applications_each_within_its_key_budget_cannot_stop_numbering(full_redis):
    """Records are never evicted and each application keeps to its budget, but applications keep
    coming: all of them together hold at most the total, so numbering keeps its memory."""
    from chalicelib.domain.request_keys import Done, New, OverBudget
    from chalicelib.wiring import settings, stores

    s = dataclasses.replace(
        settings.get(),
        redis_url=full_redis.url,
        idempotency_budget_bytes=256 * 1024,
        idempotency_total_bytes=2 * 2**20,
    )
    ours = stores.build(s)
    ours.epoch.open_epoch(uuid.uuid4().hex)
    claims: dict[type, int] = {}
    for app_id in range(1000, 1040):  # 40 applications of 256 KiB: 10 MB of records, if let in
        for i in range(256 * 1024 // 340):
            key = RequestKey(uuid.uuid4().hex, f"chat {i}")
            claim = ours.keys.claim(str(app_id), key)
            claims[type(claim)] = claims.get(type(claim), 0) + 1
            if not isinstance(claim, New):
                break  # this application is refused: on to the next one
            ours.keys.complete(str(app_id), key, Done(i + 1))
    assert claims.get(OverBudget, 0) > 0  # the total refused records, not Redis
    assert full_redis.client.info("memory")["used_memory"] < 0.9 * MAXMEMORY
    assert ours.reservations.reserve_chat_number(1, lambda: 0) == 1  # another tenant still numbers
