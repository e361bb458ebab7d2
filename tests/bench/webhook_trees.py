"""The webhook bench beside a slow neighbour, with the deployed delivery function of this tree and
of an older commit in turn, on the same stack: after, before, before, after in each round (ABBA),
so that the machine's drifting load meets both alike.

Each measurement puts a tree's functions/ into the stack's delivery function (update-function-code:
its next invocations start new environments), warms both lanes with a few seconds of creates
beside a neighbour answering in 1.5 s, then runs `webhook_bench` with a new neighbour whose
receiver answers after `--neighbour-delay` s. The neighbour is a new application each time, so
its first slow delivery starts in the fast lane, before any mark: the wait measured is that
one's. At the end the stack runs this tree's code again.

    .local/venvs/app/bin/python -m tests.bench.webhook_trees [--before 3aab66d] [--rounds 2]
        [--neighbour-delay 7]
"""

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import boto3

from tests.bench import common, webhook_bench
from tests.bench.coldstart_bench import tree
from tests.bench.gateway_bench import stack_outputs
from tests.bench.resources import code_zip

# The last commit whose fast lane sent with the sender's full timeouts (3 s + 5 s).
BEFORE = "3aab66d"
WARM_SECONDS = 8.0
WARM_NEIGHBOUR_DELAY = 1.5


def use(lam: Any, function: str, code: Path) -> None:
    lam.update_function_code(FunctionName=function, ZipFile=code_zip(code))
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=function, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240}
    )


def measure(lam: Any, function: str, code: Path, rate: float, seconds: float, delay: float, progress) -> dict:
    use(lam, function, code)
    webhook_bench.run(rate, WARM_SECONDS, lambda _: None, neighbour_delay=WARM_NEIGHBOUR_DELAY)
    load = common.load_average()
    started = time.strftime("%H:%M:%S", time.gmtime())
    out = webhook_bench.run(rate, seconds, progress, neighbour_delay=delay)
    return {"at": started, **out, "load": [load, common.load_average()]}


def run(before: str, rounds: int, rate: float, seconds: float, delay: float, progress=print) -> dict:
    lam = boto3.client("lambda")
    function = stack_outputs()["DeliveryFunctionName"]
    trees = {"after": common.FUNCTIONS, "before": tree(before)}
    runs: dict[str, list[dict]] = {"after": [], "before": []}
    try:
        for n in range(rounds):
            for label in ("after", "before", "before", "after"):
                progress(f"round {n + 1}: {label}")
                got = measure(lam, function, trees[label], rate, seconds, delay, lambda _: None)
                progress(json.dumps({"tree": label, **{k: v for k, v in got.items() if k != "lags"}}))
                runs[label].append(got)
    finally:
        use(lam, function, common.FUNCTIONS)

    def median(label: str, key: str) -> float:
        return round(statistics.median({**r, **r["lag_ms"]}[key] for r in runs[label]))

    summary: dict[str, Any] = {"before": before, "neighbour_delay_s": delay, "rounds": rounds}
    for key in ("p50_ms", "p99_ms", "mean_ms", "lag_max_ms", "lags_over_1s"):
        summary[key] = {label: median(label, key) for label in runs}
        summary[key]["after/before"] = common.ratio(summary[key]["after"], summary[key]["before"])
    summary["runs"] = runs
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--neighbour-delay", type=float, default=7.0)
    args = parser.parse_args()
    result = run(args.before, args.rounds, args.rate, args.seconds, args.neighbour_delay)
    out = common.OUT_DIR / "webhook-trees.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as lines:
        lines.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
