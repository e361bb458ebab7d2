"""The accept path in-process: chat and message creation handlers against real Redis and SQS.

Concurrency N is N processes, each one a Lambda environment's worth: it imports `app`, builds its
own clients, and calls the Chalice app with API Gateway proxy events, one at a time. Events go to
a queue of the bench's own (LocalStack's SQS); numbers come from Redis database 7. In the same
run: a bare `send_message` to that queue, and a bare Redis round trip (the floor of each call the
handler makes), and the message handler with the queue replaced by a no-op, which is our code's
own cost.

    .local/venvs/app/bin/python -m tests.bench.accept_bench [--seconds 6] [--levels 1,4,16]
"""

import argparse
import json
import multiprocessing
import os
import time
import uuid
from typing import Any

import boto3

from tests.bench import common

DATABASE = common.WRITE_DB
CHATS = 16


def _prepare_env(queue_url: str) -> None:
    os.environ.update(common.function_env(DATABASE, "bench-accept", queue_url))
    from chalicelib import settings, wiring

    settings.get.cache_clear()
    wiring.deps.cache_clear()


def _worker(args) -> dict:
    """One environment: times `requests` handler calls (or as many as fit in `seconds`)."""
    kind, token, queue_url, seconds, warmup, worker_id, noop_queue = args
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Powertools prints each request's metrics to stdout, as on Lambda
    _prepare_env(queue_url)
    from chalice.local import LambdaEventConverter, RouteMatcher

    import app

    if noop_queue:
        from chalicelib import wiring

        wiring.deps().queue.send = lambda body: None  # type: ignore[method-assign]
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
    while True:
        event = events[i % len(events)]
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
    kind: str, token: str, queue_url: str, concurrency: int, seconds: float, noop_queue: bool = False
) -> dict:
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(concurrency) as pool:
        started = time.perf_counter()
        parts = pool.map(
            _worker, [(kind, token, queue_url, seconds, 20, w, noop_queue) for w in range(concurrency)]
        )
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


def run(levels=(1, 4, 16), seconds: float = 6.0, progress=print) -> dict:
    common.ensure_database(DATABASE)
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"chat-bench-accept-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    try:
        deps = common.deps(DATABASE, "bench-accept", queue_url)
        deps.numbers._redis.flushdb()
        deps.numbers.open_epoch("bench")
        from chalicelib import service

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
        for kind in ("chat", "message"):
            for n in levels:
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
