"""The local API's ceiling, before and after: private LocalStacks side by side, same run.

Each variant is a LocalStack of its own (free port, state in a temporary folder) with a no-op
Lambda behind a `{proxy+}` REST API, the same as gateway_bench's ceiling. "before" runs the host
executor and LocalStack settings of the commit BEFORE (a `git archive` of its local/), the others
this tree's. Rounds alternate the variants (and their order) at each concurrency, so the machine's
other load falls on all alike; the figures are the medians over rounds of req/s, and LocalStack's
own CPU per request (/proc, its process only: the environments are other processes), which the
machine's load moves far less than req/s. With --profile N, py-spy samples the before and after
LocalStacks for N seconds each while it serves c=4, and the stacks are grouped by what they do
(raw samples under .local/bench/). --try-env KEY=VALUE adds a third variant: this tree with one
setting changed, to see what that setting is worth.

    .local/venvs/app/bin/python -m tests.bench.gateway_ab [--rounds 5] [--seconds 3] [--profile 8]
"""

import argparse
import collections
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.bench import common
from tests.bench.gateway_bench import hammer
from tests.bench.resources import Resources

# The last commit whose environments answered 202 and called back through the gateway
# (before the keep-alive executor; LocalStack 2026.3.0 on Python 3.13).
BEFORE = "21a808f"
LOCALSTACK_PYTHON = common.STATE / "venvs" / "localstack" / "bin" / "python"
PY_SPY = Path(sys.executable).parent / "py-spy"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class Variant:
    """A LocalStack started as the orchestrator starts it (env.sh), from the `local/` folder given."""

    def __init__(self, name: str, local_dir: Path, state_dir: Path, extra_env: dict[str, str]):
        self.name, self.local_dir, self.state_dir, self.extra_env = name, local_dir, state_dir, extra_env
        self.process: subprocess.Popen | None = None
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.url = ""

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lines = subprocess.run(
            [self.local_dir / "localstack/env.sh", self.state_dir, str(self.port)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        env = {"PATH": os.environ["PATH"], **dict(line.split("=", 1) for line in lines), **self.extra_env}
        # The installed executor's entry point imports `host_executor`: this copy comes first.
        env["PYTHONPATH"] = str(self.local_dir / "lambda_executor")
        with open(self.state_dir / "localstack.log", "wb") as log:
            self.process = subprocess.Popen(
                [LOCALSTACK_PYTHON, "-m", "localstack.runtime.main"],
                env=env,
                cwd=self.state_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 120
        while not _healthy(self.endpoint):
            assert self.process and self.process.poll() is None, f"{self.name}: LocalStack exited"
            assert time.monotonic() < deadline, f"{self.name}: LocalStack not healthy in 120 s"
            time.sleep(0.2)

    def deploy_noop(self) -> None:
        resources = Resources(endpoint=self.endpoint)
        self.url = resources.proxy_api(resources.function("noop", "noop.handler", {}, memory=128, noop=True))
        self.url += "/ping"

    def cpu_seconds(self) -> float:
        assert self.process
        return common.cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def variants(work: Path, before: str, trial_env: dict[str, str]) -> list[Variant]:
    before_local = work / "before"
    before_local.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(common.ROOT), "archive", before, "local/lambda_executor", "local/localstack"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(before_local)], input=archive, check=True)
    here = common.ROOT / "local"
    return [
        Variant("before", before_local / "local", work / "state-before", {}),
        Variant("after", here, work / "state-after", {}),
    ] + (
        [
            Variant(
                "after, " + ",".join(f"{k}={v}" for k, v in trial_env.items()),
                here,
                work / "state-trial",
                trial_env,
            )
        ]
        if trial_env
        else []
    )


def profile(variant: Variant, seconds: float, out: Path) -> dict[str, Any]:
    """py-spy's samples of the variant's LocalStack while it serves c=4, grouped by what they do. Only
    the thread holding the GIL is sampled (--gil): one Python process, so that is its CPU."""
    raw = out.with_suffix(".txt")
    assert variant.process
    spy = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(variant.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "250",
        ]
        + ["--gil", "--format", "raw", "--nonblocking", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    time.sleep(1)
    hammer("GET", variant.url, None, 4, seconds, 200)
    spy.wait(timeout=60)
    return group_samples(raw.read_text())


# A sample counts for the innermost frame that names one of these (a stack is read leaf first): the
# component doing the work, whoever called it. Waiting on the environment's socket is not CPU, but
# py-spy cannot tell that read from work, so it is a group of its own.
WAITING = "waiting for the environment (socket read, not CPU)"
GROUPS = [
    ("our executor (host_executor)", ("host_executor/",)),
    ("Lambda CloudWatch metrics", ("cloudwatch_util.py", "invocation/metrics.py", "/cloudwatch/")),
    ("CloudWatch Logs (Lambda log storage)", ("invocation/logs.py", "services/logs/")),
    ("Lambda service", ("services/lambda_/",)),
    ("API Gateway", ("services/apigateway/",)),
    (
        "AWS client and protocol (LocalStack's calls to itself)",
        ("aws/protocol/", "botocore/", "aws/client.py"),
    ),
    ("gateway handler chain", ("localstack/aws/", "localstack/http/", "rolo/")),
    ("HTTP server (twisted)", ("twisted/", "runtime/server/")),
]
OTHER = "threads, queues, other"


def group_samples(collapsed: str) -> dict[str, Any]:
    counts: collections.Counter[str] = collections.Counter()
    purposes: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        counts[_group(stack.split(";")[::-1])] += count
        purposes[_purpose(stack)] += count
    return {
        "samples": total,
        "share_pct": {name: round(100 * n / total, 1) for name, n in counts.most_common()} if total else {},
        "by_purpose_pct": {name: round(100 * n / total, 1) for name, n in purposes.most_common()}
        if total
        else {},
    }


def _purpose(stack: str) -> str:
    """What the sample's thread is for, whatever component it is in."""
    if "invocation/logs.py" in stack:
        return "storing each invocation's log lines (CloudWatch Logs put_log_events)"
    if "cloudwatch_util" in stack or "invocation/metrics.py" in stack:
        return "per-invocation CloudWatch metrics"
    if "call_lambda" in stack:
        return "API Gateway's Lambda invoke, to the answer"
    return "the rest of the request, and the rest of LocalStack"


def _group(frames: list[str]) -> str:
    """`frames` leaf first."""
    if frames and frames[0].startswith("SocketIO.readinto") and any("host_executor/" in f for f in frames):
        return WAITING
    for frame in frames:
        for name, markers in GROUPS:
            if any(marker in frame for marker in markers):
                return name
    return OTHER


def run(
    rounds: int = 5,
    seconds: float = 3.0,
    levels: tuple[int, ...] = (1, 4),
    before: str = BEFORE,
    profile_seconds: float = 0.0,
    trial_env: dict[str, str] | None = None,
    progress=print,
) -> dict[str, Any]:
    work = Path(
        tempfile.mkdtemp(
            prefix="gateway-ab-", dir=common.STATE / "tmp" if (common.STATE / "tmp").is_dir() else None
        )
    )
    chosen = variants(work, before, trial_env or {})
    out: dict[str, Any] = {"before": before, "variants": [v.name for v in chosen]}
    try:
        for v in chosen:
            v.start()
        for v in chosen:
            v.wait_healthy()
            v.deploy_noop()
            hammer("GET", v.url, None, max(levels), 4.0, 200)  # environments, lazy services, caches
        progress("stacks up: " + ", ".join(f"{v.name} {v.endpoint}" for v in chosen))
        per_round: dict[str, dict[str, list[dict]]] = {f"c={n}": {v.name: [] for v in chosen} for n in levels}
        for r in range(rounds):
            for n in levels:
                order = chosen if r % 2 == 0 else chosen[::-1]
                for v in order:
                    cpu_before = v.cpu_seconds()
                    part = hammer("GET", v.url, None, n, seconds, 200)
                    cpu = v.cpu_seconds() - cpu_before
                    done = len(part["timings"])
                    per_round[f"c={n}"][v.name].append(
                        {
                            "req_per_s": done / part["seconds"],
                            "p50_ms": common.percentile(part["timings"], 50),
                            "cpu_ms_per_req": 1000 * cpu / done if done else None,
                            "errors": part["errors"],
                        }
                    )
            progress(f"round {r + 1}/{rounds}, load average {common.load_average()}")
        for level, by_variant in per_round.items():
            summary: dict[str, Any] = {}
            for name, parts in by_variant.items():
                summary[name] = {
                    key: round(statistics.median(p[key] for p in parts), 2)
                    for key in ("req_per_s", "p50_ms", "cpu_ms_per_req")
                }
                summary[name]["errors"] = sum(p["errors"] for p in parts)
                summary[name]["req_per_s_rounds"] = [round(p["req_per_s"], 1) for p in parts]
            base = summary[chosen[0].name]
            for v in chosen[1:]:
                summary[v.name]["ratio_req_per_s"] = common.ratio(
                    summary[v.name]["req_per_s"], base["req_per_s"]
                )
                summary[v.name]["ratio_cpu_per_req"] = common.ratio(
                    summary[v.name]["cpu_ms_per_req"], base["cpu_ms_per_req"]
                )
            out[level] = summary
            progress(
                f"{level}: "
                + "; ".join(
                    f"{name} {s['req_per_s']} req/s, p50 {s['p50_ms']} ms, "
                    f"LocalStack {s['cpu_ms_per_req']} ms CPU/req"
                    for name, s in summary.items()
                )
            )
        if profile_seconds:
            for v in chosen[:2]:
                common.OUT_DIR.mkdir(parents=True, exist_ok=True)
                raw = common.OUT_DIR / f"gateway-ab-py-spy-{v.name}"
                out[f"profile {v.name}"] = profile(v, profile_seconds, raw)
                progress(f"py-spy, {v.name}: {out[f'profile {v.name}']}")
    finally:
        for v in chosen:
            v.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--before", default=BEFORE, help="commit whose local/ is the baseline")
    parser.add_argument("--try-env", action="append", default=[], help="KEY=VALUE: a third variant")
    parser.add_argument("--profile", type=float, default=0.0, help="seconds of py-spy per profiled variant")
    args = parser.parse_args()
    result = run(
        args.rounds,
        args.seconds,
        before=args.before,
        profile_seconds=args.profile,
        trial_env=dict(pair.split("=", 1) for pair in args.try_env),
        progress=common.Progress("gateway A/B"),
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
