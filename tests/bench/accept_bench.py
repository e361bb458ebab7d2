"""The accept path in-process: chat and message creation handlers against real Redis and SQS.

Concurrency N is N processes, each one a Lambda environment's worth: it imports `app`, builds its
own clients, and calls the Chalice app with API Gateway proxy events, one at a time. Events go to
a queue of the bench's own (LocalStack's SQS); numbers come from Redis database 7. In the same
run: a bare `send_message` to that queue, and a bare Redis round trip (the floor of each call the
handler makes), and the message handler with the queue replaced by a no-op, which is our code's
own cost. With the Redis failover checks: the message create with an `Idempotency-Key` (one claim
and one completion in Redis more), our idempotency records against Powertools' Redis
persistence layer doing the same job, and the cost of `WAIT 1` with a real replica (a second
redis-server on loopback, port REDIS_PORT + 2, following the stack's Redis for the bench only).
With the per-application quotas: the message handler with and without the quota check's own round trip.

    .local/venvs/app/bin/python -m tests.bench.accept_bench [--seconds 6] [--levels 1,4,16]
"""

import argparse
import json
import multiprocessing
import os
import statistics
import time
import uuid
from typing import Any

import boto3

from tests.bench import common

DATABASE = common.WRITE_DB
CHATS = 16


def _prepare_env(queue_url: str) -> None:
    os.environ.update(common.function_env(DATABASE, "bench-accept", queue_url))
    from chalicelib.wiring import settings, stores

    settings.api.cache_clear()
    stores.api_deps.cache_clear()


def _worker(args) -> dict:
    """One environment: times `requests` handler calls (or as many as fit in `seconds`)."""
    kind, token, queue_url, seconds, warmup, worker_id, noop_queue, env, quota = args
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Powertools prints each request's metrics to stdout, as on Lambda
    os.environ.update(env)
    _prepare_env(queue_url)
    from chalice.local import LambdaEventConverter, RouteMatcher

    import app

    if noop_queue:
        from chalicelib.wiring import stores

        stores.api_deps().queue.send = lambda body, deadline=None: None  # type: ignore[method-assign]
    if not quota:
        from chalicelib.wiring import stores

        api: Any = stores.api_deps()
        api.limits = None  # no quota check: one Redis round trip less
    convert = LambdaEventConverter(RouteMatcher(list(app.app.routes)))
    headers = {"content-type": "application/json"}
    if kind == "chat":
        events = [convert.create_lambda_event("POST", f"/applications/{token}/chats", headers, b"")]
    else:
        events = [
            convert.create_lambda_event(
                "POST",
                f"/applications/{token}/chats/{chat}/messages",
                headers,
                json.dumps({"body": f"hello from worker {worker_id}, see you at lunch"}).encode(),
            )
            for chat in range(1, CHATS + 1)
        ]
    context = _Context()
    timings, errors, i = [], 0, worker_id
    deadline = None
    keyed = kind == "message, keyed"
    while True:
        event = events[i % len(events)]
        if keyed:  # a new key per create, as every client request carries one
            event = {**event, "headers": {**event["headers"], "idempotency-key": f"{uuid.uuid4().hex}"}}
        i += 1
        started = time.perf_counter()
        response = app.app(event, context)
        elapsed = (time.perf_counter() - started) * 1000
        if response["statusCode"] != 201:
            errors += 1
        if warmup:
            warmup -= 1
            continue
        if deadline is None:
            deadline, first = time.perf_counter() + seconds, started
        timings.append(elapsed)
        if time.perf_counter() >= deadline:
            break
    return {"timings": timings, "errors": errors, "wall": time.perf_counter() - first}


class _Context:
    function_name = "chat-bench-api"
    memory_limit_in_mb = 256
    aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:chat-bench-api"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def level(
    kind: str,
    token: str,
    queue_url: str,
    concurrency: int,
    seconds: float,
    noop_queue: bool = False,
    env: dict | None = None,
    quota: bool = True,
) -> dict:
    # Spawned: a forked worker would inherit the bench's thread pools without their threads.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(concurrency) as pool:
        started = time.perf_counter()
        parts = pool.map_async(
            _worker,
            [
                (kind, token, queue_url, seconds, 20, w, noop_queue, env or {}, quota)
                for w in range(concurrency)
            ],
        ).get(timeout=seconds + 180)  # importing the app and warming up take seconds, not minutes
        wall = time.perf_counter() - started
    timings = [t for p in parts for t in p["timings"]]
    measured_wall = max(p["wall"] for p in parts)
    return {
        **common.latency(timings),
        "concurrency": concurrency,
        "req_per_s": round(len(timings) / measured_wall, 1),
        "errors": sum(p["errors"] for p in parts),
        "pool_s": round(wall, 1),
    }


def quota_cost(token: str, queue_url: str, seconds: float, rounds: int = 3) -> dict:
    """The per-application quota check's own Redis round trip on the accept path: the message
    handler with the send a no-op, with the check and without it, alternating; medians of rounds."""
    runs: dict[str, list[dict]] = {"quota check": [], "no quota check": []}
    for _ in range(rounds):
        for name in runs:
            runs[name].append(
                level("message", token, queue_url, 1, seconds, noop_queue=True, quota=name == "quota check")
            )
    out: dict[str, Any] = {
        name: {f"{p}_ms": statistics.median(r[f"{p}_ms"] for r in results) for p in ("p50", "p99", "mean")}
        | {"rounds_p50_ms": [r["p50_ms"] for r in results]}
        for name, results in runs.items()
    }
    on, off = out["quota check"], out["no quota check"]
    out["p50 difference ms"] = round(on["p50_ms"] - off["p50_ms"], 3)
    out["p50 ratio"] = common.ratio(on["p50_ms"], off["p50_ms"])
    return out


def bare_sqs(queue_url: str, count: int = 200) -> dict:
    sqs = boto3.client("sqs")
    timings = []
    for i in range(count + 10):
        started = time.perf_counter()
        sqs.send_message(QueueUrl=queue_url, MessageBody='{"type": "bench"}')
        if i >= 10:
            timings.append((time.perf_counter() - started) * 1000)
    return common.latency(timings)


def bare_redis(count: int = 2000) -> dict:
    import redis

    client = redis.Redis.from_url(common.REDIS_URL)
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        script(keys=["bench:incr"])
        timings.append((time.perf_counter() - started) * 1000)
    client.delete("bench:incr")
    return common.latency(timings)


def _commands(client) -> int:
    return int(client.info("stats")["total_commands_processed"])


def idempotency_layers(count: int = 2000) -> dict:
    """Our claim + completion against Powertools' idempotent_function on its Redis persistence
    layer, both around a no-op create with a new key each time, on the bench's Redis database."""
    import redis
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.persistence.cache import CachePersistenceLayer

    from chalicelib.adapters.redis import redis_server
    from chalicelib.adapters.redis.idempotency import Records
    from chalicelib.domain.request_keys import Done, RequestKey

    client = redis.Redis.from_url(common.REDIS_URL, redis_connect_func=redis_server.identify)
    records = Records(
        client, in_flight_seconds=12, budget_bytes=2**30, safe_age_seconds=600, total_bytes=2**30
    )

    def ours(i: int) -> None:
        key = RequestKey(f"bench-{uuid.uuid4().hex}", "digest")
        records.claim("bench", key)
        records.complete("bench", key, Done(i))

    layer = CachePersistenceLayer(client=client)  # type: ignore[arg-type]  # redis-py's own set()
    config = IdempotencyConfig(
        event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=86400
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=layer, config=config)
    def create(request: dict) -> dict:
        return {"number": 1}

    def powertools(i: int) -> None:
        create(request={"key": f"bench-{uuid.uuid4().hex}", "body": "hello there"})

    calls = {"ours (claim + complete)": ours, "powertools CachePersistenceLayer (Redis)": powertools}
    timings: dict = {name: [] for name in calls}
    commands = dict.fromkeys(calls, 0)
    for call in calls.values():
        for i in range(50):
            call(i)
    # Alternating blocks, so that both see the same moments of a shared machine.
    for block in range(20):
        for name, call in calls.items():
            before = _commands(client)
            for i in range(count // 20):
                started = time.perf_counter()
                call(block * count + i)
                timings[name].append((time.perf_counter() - started) * 1000)
            commands[name] += _commands(client) - before - 1  # less the INFO that counted them
    # Commands the server ran, a script's own calls included (ours: 2 scripts per call).
    out = {
        name: {**common.latency(timings[name]), "redis_commands_per_call": round(commands[name] / count, 1)}
        for name in calls
    }
    for pattern in ("idem:bench:*", "*bench-*"):
        for key in client.scan_iter(pattern, count=1000):
            client.delete(key)
    return out


def wait_cost(count: int = 2000) -> dict:
    """A message reservation without and with `WAIT 1` on a real replica, in alternating blocks."""
    import redis

    from chalicelib.adapters.redis import keys as redis_keys
    from chalicelib.adapters.redis import redis_server
    from chalicelib.adapters.redis.epoch import Epoch
    from chalicelib.adapters.redis.reservations import Reservations
    from chalicelib.domain.errors import Unavailable
    from tests.helpers import RedisServer

    replica = RedisServer(
        range(common.REDIS_PORT + 2, common.REDIS_PORT + 7),
        common.STATE / "bench" / "replica",
        replica_of=common.REDIS_PORT,
    ).start()
    try:
        deadline = time.monotonic() + 30
        while not replica.in_sync() and time.monotonic() < deadline:
            time.sleep(0.1)
        client = redis.Redis.from_url(common.REDIS_URL, redis_connect_func=redis_server.identify)
        # 1 s: on this shared machine a replica process may wait for a core longer than 100 ms.
        plain, waiting = Reservations(client), Reservations(client, wait_replicas=1, wait_timeout_ms=1000)
        epoch = Epoch(client)
        if not epoch.epoch_state().is_open:
            epoch.open_epoch(f"bench-{uuid.uuid4().hex}")
        timings: dict[str, list[float]] = {"no WAIT": [], "WAIT 1 (one replica on loopback)": []}
        refused = dict.fromkeys(timings, 0)
        for block in range(20):
            for name, reservations in zip(timings, (plain, waiting), strict=True):
                for _ in range(count // 20):
                    started = time.perf_counter()
                    try:
                        reservations.reserve_message_number(1, 1000 + block, "hello there", seed=lambda: 0)
                    except Unavailable:
                        refused[name] += 1  # not acknowledged in time: a 503
                    timings[name].append((time.perf_counter() - started) * 1000)
        for block in range(20):  # chat numbers no bench application uses: 1000 + block
            client.delete(redis_keys.messages(1, 1000 + block), redis_keys.pending(1, 1000 + block))
        return {name: {**common.latency(t), "refused": refused[name]} for name, t in timings.items()}
    finally:
        replica.stop()


def run(levels=(1, 4, 16), seconds: float = 6.0, progress=print) -> dict:
    common.ensure_database(DATABASE)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"chat-bench-accept-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    try:
        deps = common.deps(DATABASE, "bench-accept", queue_url)
        deps.redis.flushdb()
        deps.epoch.open_epoch(f"bench-{uuid.uuid4().hex}")
        from chalicelib.usecases import service

        token = service.create_application(deps, f"bench-accept-{uuid.uuid4().hex[:6]}").token
        for _ in range(CHATS):
            service.create_chat(deps, token)
        out: dict[str, Any] = {"queue": "LocalStack SQS (a bench queue)", "floor": {}}
        out["floor"]["sqs_send_message"] = bare_sqs(queue_url)
        out["floor"]["redis_script_call"] = bare_redis()
        progress(
            f"floors: SQS send p50 {out['floor']['sqs_send_message']['p50_ms']} ms, "
            f"Redis script call p50 {out['floor']['redis_script_call']['p50_ms']} ms"
        )
        out["message, queue send replaced by a no-op"] = level(
            "message", token, queue_url, 1, seconds, noop_queue=True
        )
        progress(
            f"message handler without SQS: p50 {out['message, queue send replaced by a no-op']['p50_ms']} ms"
        )
        out["quota check, message handler without SQS"] = quota_cost(token, queue_url, seconds)
        cost = out["quota check, message handler without SQS"]
        progress(
            f"without SQS, quota check vs none: p50 {cost['quota check']['p50_ms']} vs "
            f"{cost['no quota check']['p50_ms']} ms (medians of 3 alternating rounds)"
        )
        # Our code with the failover checks (a new Idempotency-Key per create), the same way.
        for rounds in range(2):  # alternating with the plain one, on a shared machine
            keyed = level("message, keyed", token, queue_url, 1, seconds, noop_queue=True)
            plain = level("message", token, queue_url, 1, seconds, noop_queue=True)
            out[f"keyed message, queue send replaced by a no-op, round {rounds + 1}"] = keyed
            out[f"message, queue send replaced by a no-op, round {rounds + 1}"] = plain
            progress(
                f"without SQS, keyed vs plain: p50 {keyed['p50_ms']} vs {plain['p50_ms']} ms, "
                f"p99 {keyed['p99_ms']} vs {plain['p99_ms']} ms"
            )
        out["idempotency records, per keyed create"] = idempotency_layers()
        for name, result in out["idempotency records, per keyed create"].items():
            progress(
                f"{name}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
                f"{result['redis_commands_per_call']} Redis commands"
            )
        out["reservation, WAIT"] = wait_cost()
        for name, result in out["reservation, WAIT"].items():
            progress(f"message reservation, {name}: p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
        replica = None
        try:
            from tests.helpers import RedisServer

            replica = RedisServer(
                range(common.REDIS_PORT + 2, common.REDIS_PORT + 7),
                common.STATE / "bench" / "replica",
                replica_of=common.REDIS_PORT,
            ).start()
            deadline = time.monotonic() + 30
            while not replica.in_sync() and time.monotonic() < deadline:
                time.sleep(0.1)
            wait_env = {"REDIS_WAIT_REPLICAS": "1", "REDIS_WAIT_TIMEOUT_MS": "1000"}
            result = level("message", token, queue_url, 1, seconds, env=wait_env)
            out["message c=1, WAIT 1 with a replica"] = result
            progress(
                f"message creation with WAIT 1, concurrency 1: p50 {result['p50_ms']} ms, "
                f"p99 {result['p99_ms']} ms, {result['errors']} errors"
            )
        finally:
            if replica is not None:
                replica.stop()
        for kind in ("chat", "message", "message, keyed"):
            for n in levels if kind != "message, keyed" else levels[:1]:
                result = level(kind, token, queue_url, n, seconds)
                out[f"{kind} c={n}"] = result
                progress(
                    f"{kind} creation, concurrency {n}: p50 {result['p50_ms']} ms, "
                    f"p99 {result['p99_ms']} ms, {result['req_per_s']} req/s, "
                    f"{result['errors']} errors"
                )
        return out
    finally:
        sqs.delete_queue(QueueUrl=queue_url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--levels", default="1,4,16")
    args = parser.parse_args()
    print(
        json.dumps(
            run([int(x) for x in args.levels.split(",")], args.seconds, progress=common.Progress("accept")),
            indent=2,
        )
    )
