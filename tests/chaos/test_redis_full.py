"""One tenant drives the stack's Redis to its maxmemory; another tenant's creates all succeed.

The flooder writes everything a tenant may write to Redis (keyed chats, keyed 60 KB messages
whose bodies wait in Redis for the writer, keyed edits), without pause and without quotas, in
threads of its own, while `maxmemory` is set a few MB above what Redis holds and the deployed
writer is paused (its queue mapping disabled), so that the bodies wait in Redis. The other tenant
sends keyed message creates, each sent again with its key as a client that lost the answer
would. Nothing of the other tenant's may be refused, told twice or lost (docs/reliability.md).
"""

import json
import statistics
import threading
import time
import uuid
from collections import Counter

import boto3
import pytest

from local.stack.services import REDIS_MAXMEMORY_POLICY
from tests.chaos import stack
from tests.chaos.invariants import check, settle
from tests.chaos.load import Ledger

pytestmark = pytest.mark.chaos

HEADROOM = 24 * 2**20  # bytes above what Redis holds when the flood starts
BODY = "f" * 60_000
VICTIM_CREATES = 300


def flood(deps, token: str, stop: threading.Event, answers: Counter) -> None:
    from chalicelib.domain.errors import ChatError
    from chalicelib.domain.request_keys import RequestKey
    from chalicelib.usecases import service

    while not stop.is_set():
        try:
            chat = service.create_chat(deps, token, RequestKey(uuid.uuid4().hex, "chat"))
            service.create_message(deps, token, chat, BODY, RequestKey(uuid.uuid4().hex, "message"))
            service.edit_message(deps, token, chat, 1, BODY + "!", RequestKey(uuid.uuid4().hex, "edit"))
            answers["rounds"] += 1
        except ChatError as exc:
            answers[exc.code] += 1


def test_a_tenant_driving_redis_to_its_maxmemory_cannot_stop_another_tenants_creates(cfg, stores, deps):
    from chalicelib.domain.errors import ChatError
    from chalicelib.domain.request_keys import RequestKey
    from chalicelib.usecases import service

    r = stack.redis_client(cfg)
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == REDIS_MAXMEMORY_POLICY, "run make up"
    ledger = Ledger()
    victim = service.create_application(deps, f"chaos-{ledger.run}-victim").token
    ledger.applications[victim] = None
    chat = service.create_chat(deps, victim)
    ledger.record(201, 0.0, chat=(victim, chat))
    flooder = service.create_application(deps, f"chaos-{ledger.run}-flooder").token

    before = r.info("memory")["used_memory"]
    evicted_before = r.info("stats")["evicted_keys"]
    original = str(r.config_get("maxmemory")["maxmemory"])
    r.config_set("maxmemory", before + HEADROOM)
    stop, answers, threads = threading.Event(), Counter[str](), []
    seconds: list[float] = []
    peak = 0
    # The writer paused: Redis fills only while the flood outruns the writer, which it did not within
    # 120 s at load 20-28; a writer behind is how Redis fills in production too.
    with stack.writer_paused(boto3.client("lambda"), stores.outputs):
        try:
            threads = [threading.Thread(target=flood, args=(deps, flooder, stop, answers)) for _ in range(4)]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 120
            while r.info("stats")["evicted_keys"] == evicted_before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert r.info("stats")["evicted_keys"] > evicted_before, "the flood never filled Redis"
            for i in range(VICTIM_CREATES):  # Redis is full from here on, the flood still running
                body, key = f"victim {ledger.run} {i}", RequestKey(uuid.uuid4().hex, f"victim {i}")
                told = set()
                for _ in range(2):  # the create, and its retry with the same key
                    started = time.monotonic()
                    try:
                        told.add(service.create_message(deps, victim, chat, body, key))
                    except ChatError as exc:
                        ledger.record(exc.status, time.monotonic() - started)
                    seconds.append(time.monotonic() - started)
                    peak = max(peak, r.info("memory")["used_memory"]) if i % 50 == 0 else peak
                assert len(told) == 1, f"create {i} was told {told or 'nothing'}"
                ledger.record(201, seconds[-1], message=(victim, chat, told.pop(), body))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
            evicted = r.info("stats")["evicted_keys"] - evicted_before
            r.config_set("maxmemory", original)
    settle(stores, ledger, timeout=600)
    report = check(stores, ledger, "a tenant drives Redis to its maxmemory", "in-process", counter=False)
    figures = {
        "maxmemory_mb": round((before + HEADROOM) / 2**20, 1),
        "peak_used_mb": round(peak / 2**20, 1),
        "evicted_keys": evicted,
        "flood": dict(answers),
        "victim_creates": VICTIM_CREATES,
        "victim_p50_ms": round(statistics.median(seconds) * 1000, 1),
        "victim_p99_ms": round(statistics.quantiles(seconds, n=100)[98] * 1000, 1),
    }
    print(json.dumps({"report": report.to_json(), "figures": figures}))
    assert report.ok and report.persisted == report.accepted == VICTIM_CREATES + 1, (
        report.to_json()
    )  # + its chat
