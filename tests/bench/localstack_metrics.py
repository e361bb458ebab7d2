"""Two LocalStack settings that bound our figures, tried on private LocalStacks side by side.

Not part of `make bench` (it starts four LocalStacks of its own for a few minutes): the evidence
for three lines of local/localstack/env.sh. Each instance runs the pinned LocalStack with env.sh's
environment on ports 4610-4613, overridden: as shipped; without SQS's per-message CloudWatch
metrics (SQS_DISABLE_CLOUDWATCH_METRICS=1); on top, with the SQS event source polling again 0.1 s
after a batch instead of 1 s (LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC); and the last again
on the hypercorn server instead of twisted (GATEWAY_SERVER).
The same loop of `send_message` calls runs against each in alternating blocks, then a drain of the
same queue contents through the bench's writer function on each.

    .local/venvs/app/bin/python -m tests.bench.localstack_metrics
"""

import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request
from typing import Any

from tests.bench import common

VARIANTS = {
    "as shipped": (
        4610,
        {"SQS_DISABLE_CLOUDWATCH_METRICS": "0", "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "1"},
    ),
    "no SQS metrics": (
        4611,
        {"SQS_DISABLE_CLOUDWATCH_METRICS": "1", "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "1"},
    ),
    "no SQS metrics, poll interval 0.1 s": (
        4612,
        {"SQS_DISABLE_CLOUDWATCH_METRICS": "1", "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.1"},
    ),
    "same on hypercorn, not twisted": (
        4613,
        {
            "SQS_DISABLE_CLOUDWATCH_METRICS": "1",
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.1",
            "GATEWAY_SERVER": "hypercorn",
        },
    ),
}
PORTS = {name: port for name, (port, _) in VARIANTS.items()}


def start(port: int, overrides: dict, state: str) -> subprocess.Popen:
    lines = subprocess.run(
        ["bash", str(common.ROOT / "local" / "localstack" / "env.sh"), state, str(port)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in lines.splitlines() if "=" in line)  # type: ignore[misc]
    env.pop("AWS_ENDPOINT_URL", None)
    env.update(overrides)
    with open(os.path.join(state, "localstack.log"), "w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [str(common.STATE / "venvs" / "localstack" / "bin" / "python"), "-m", "localstack.runtime.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=2) as r:
            return json.loads(r.read())["services"].get("lambda") in ("available", "running")
    except Exception:
        return False


def in_child(port: int, module: str, *args: str) -> dict:
    """Runs a bench module against the LocalStack on `port`; returns its JSON."""
    env = dict(os.environ, LOCALSTACK_PORT=str(port), AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    out = subprocess.run(
        [str(common.STATE / "venvs" / "app" / "bin" / "python"), "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=common.ROOT,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout[out.stdout.index("{") :])


SEND_LOOP = """
import json, sys, time, boto3
sqs = boto3.client("sqs")
url = sqs.create_queue(QueueName="chat-bench-metrics")["QueueUrl"]
t = []
for i in range(int(sys.argv[1]) + 10):
    s = time.perf_counter(); sqs.send_message(QueueUrl=url, MessageBody='{"type": "bench"}')
    if i >= 10: t.append((time.perf_counter() - s) * 1000)
sqs.delete_queue(QueueUrl=url)
print(json.dumps(t))
"""


def send_timings(port: int, count: int) -> list:
    env = dict(os.environ, AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}")
    out = subprocess.run(
        [str(common.STATE / "venvs" / "app" / "bin" / "python"), "-c", SEND_LOOP, str(count)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return json.loads(out.stdout)


def main() -> dict:
    progress = common.Progress("metrics")
    procs, states = {}, {}
    try:
        for name, port in PORTS.items():
            states[name] = tempfile.mkdtemp(prefix=f"chat-bench-ls-{port}-")
            procs[name] = start(port, VARIANTS[name][1], states[name])
        deadline = time.monotonic() + 90
        while not all(healthy(p) for p in PORTS.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the private LocalStacks did not become healthy")
            time.sleep(1)
        progress("the private LocalStacks are up")
        sends: dict[str, list[float]] = {name: [] for name in PORTS}
        for _ in range(4):  # alternating blocks, so the machine's other load falls on both alike
            for name, port in PORTS.items():
                sends[name] += send_timings(port, 100)
        out: dict[str, Any] = {name: {"send_message": common.latency(t)} for name, t in sends.items()}
        for name in PORTS:
            progress(
                f"{name}: send_message p50 {out[name]['send_message']['p50_ms']} ms, "
                f"p99 {out[name]['send_message']['p99_ms']} ms"
            )
        for name, port in PORTS.items():
            drain = in_child(port, "tests.bench.drain_bench", "--events", "3000")
            out[name]["drain"] = {
                k: drain[k] for k in ("messages_per_s", "seconds", "invocations", "handler_ms_p50", "cpu_s")
            }
            progress(
                f"{name}: drain of 3000 events {drain['messages_per_s']}/s, handler p50 "
                f"{drain['handler_ms_p50']} ms per batch of 100"
            )
        out["load_average"] = common.load_average()
        return out
    finally:
        for proc in procs.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for state in states.values():
            subprocess.run(["rm", "-rf", state])


if __name__ == "__main__":
    result = main()
    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    (common.OUT_DIR / "localstack-metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
