"""Through LocalStack: the deployed API vs a no-op Lambda behind the same API Gateway.

The no-op (`chat-bench-noop`, a one-line handler behind a `{proxy+}` REST API of the bench's own)
is the ceiling: API Gateway and the Lambda service of the emulator with no work on top, called the
same way as each of ours (a GET for the read, a POST of the same JSON body for the create). Ours is the
deployed `chat` stack's API: reading a message (Redis token cache, one MySQL lookup) and creating
one (Redis reservation, one SQS send). Each contender runs for a few seconds in turn, twice, at
each concurrency, so the machine's other load falls on all alike.

    .local/venvs/app/bin/python -m tests.bench.gateway_bench
"""

import contextlib
import json
import statistics
import threading
import time
import uuid
from typing import Any

import requests

from tests.bench import common
from tests.bench.resources import Resources, run_alone
from tests.chaos import stack


def stack_outputs() -> dict:
    return json.loads((common.STATE / "stack-outputs.json").read_text())


def bench_application(api: str, name: str) -> str:
    """An application with one chat and one message in the deployed stack; returns its token."""
    s = requests.Session()
    token = s.post(f"{api}/applications", json={"name": name}, timeout=30).json()["token"]
    s.post(f"{api}/applications/{token}/chats", timeout=30).raise_for_status()
    s.post(
        f"{api}/applications/{token}/chats/1/messages", json={"body": "warm up"}, timeout=30
    ).raise_for_status()
    return token


def hammer(method: str, url: str, body, concurrency: int, seconds: float, expect: int) -> dict:
    timings, errors, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker():
        s = requests.Session()
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            r = s.request(method, url, json=body, timeout=60)
            mine.append((time.perf_counter() - started) * 1000)
            bad += r.status_code != expect
        with lock:
            timings.extend(mine)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"timings": timings, "errors": errors[0], "seconds": time.perf_counter() - started}


def run(res: Resources, levels=(1, 4), seconds: float = 4.0, rounds: int = 2, progress=print) -> dict:
    noop = res.function("noop", "noop.handler", {}, memory=128, noop=True)
    noop_url = res.proxy_api(noop) + "/ping"
    outputs = stack_outputs()
    api, lam = outputs["ApiUrl"], res.lam
    token = bench_application(api, f"bench-gateway-{uuid.uuid4().hex[:6]}")
    body = {"body": "gateway bench"}
    contenders: dict[str, tuple[str, str, dict[str, str] | None, int]] = {
        "no-op Lambda": ("GET", noop_url, None, 200),
        "no-op Lambda, POST": ("POST", noop_url, body, 200),
        "ours: read a message": ("GET", f"{api}/applications/{token}/chats/1/messages/1", None, 200),
        "ours: create a message": ("POST", f"{api}/applications/{token}/chats/1/messages", body, 201),
    }
    # The create again while the writer does not drain the queue: the share of the emulator's
    # time that goes to the writer's polling, invoking and deleting, in the same process.
    contenders["ours: create, writer paused"] = contenders["ours: create a message"]
    # Each of ours against the no-op called the same way (method and body).
    ceiling = {
        "ours: read a message": "no-op Lambda",
        "ours: create a message": "no-op Lambda, POST",
        "ours: create, writer paused": "no-op Lambda, POST",
    }
    for method, url, payload, _expect in contenders.values():  # start each environment
        for _ in range(max(levels)):
            requests.request(method, url, json=payload, timeout=60)
    out: dict[str, Any] = {"api": api, "token": token}
    # at c=1: name -> the (start, end) ms of its rounds, to find its REPORT lines
    windows: dict[str, list[tuple[int, int]]] = {}
    for n in levels:
        merged: dict[str, dict[str, Any]] = {
            name: {"timings": [], "errors": 0, "seconds": 0.0} for name in contenders
        }
        for _ in range(rounds):
            for name, (method, url, payload, expect) in contenders.items():
                with stack.writer_paused(lam, outputs) if "paused" in name else contextlib.nullcontext():
                    started_ms = int(time.time() * 1000)
                    part = hammer(method, url, payload, n, seconds, expect)
                    if n == 1 and name in ceiling:
                        windows.setdefault(name, []).append((started_ms, int(time.time() * 1000)))
                for key in ("timings", "errors", "seconds"):
                    merged[name][key] += part[key]
        level = {}
        for name, m in merged.items():
            level[name] = {
                **common.latency(m["timings"]),
                "req_per_s": round(len(m["timings"]) / m["seconds"], 1),
                "errors": m["errors"],
            }
        for name, noop_name in ceiling.items():
            level[name]["ratio_to_noop_req_per_s"] = common.ratio(
                level[name]["req_per_s"], level[noop_name]["req_per_s"]
            )
        out[f"c={n}"] = level
        progress(
            f"concurrency {n}: "
            + "; ".join(f"{name} p50 {v['p50_ms']} ms, {v['req_per_s']} req/s" for name, v in level.items())
        )
    # Time spent inside our API function (its REPORT lines) per request kind, at c=1: what the
    # emulator did around it is the rest of the client's time.
    time.sleep(3)  # CloudWatch Logs lag a little behind the invocations
    for name, spans in windows.items():
        durations = [
            r["duration"]
            for span in spans
            for r in res.reports(outputs["ApiFunctionName"], span)
            if "duration" in r
        ]
        out["c=1"][name]["handler_p50_ms"] = round(statistics.median(durations), 2) if durations else None
    progress(
        "our API function's handler at c=1, p50: "
        + "; ".join(f"{name} {out['c=1'][name]['handler_p50_ms']} ms" for name in windows)
    )
    return out


if __name__ == "__main__":
    run_alone(run, "gateway")
