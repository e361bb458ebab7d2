"""Cold start of each function, and the import time of the app module, beside an older tree's.

Each function of the template is created afresh in LocalStack (as `chat-bench-cold-*`, the same
layer as the stack's, pointed at the bench's stores) and invoked once: the first invocation's
REPORT line gives Init Duration (importing `app`), Duration and Max Memory Used, and the client
times the whole round trip. Each is created twice per round, from this tree and from the tree of
BEFORE (git archive of that commit: the code before each function built only what it uses), in
alternating order; the figures are medians over the rounds, with after/before ratios. A no-op
function without a layer is the floor. Import time: `python -X importtime -c "import app"` in
the app's venv, for both trees in turn.

    .local/venvs/app/bin/python -m tests.bench.coldstart_bench [--rounds 3]
    COLDSTART_BEFORE=<commit> ...   # another tree to compare with
"""

import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from tests.bench import common
from tests.bench.resources import Resources, run_alone

INDEX = "bench-coldstart"
# The tree to compare with: the last commit before the functions built only what they use.
BEFORE = os.environ.get("COLDSTART_BEFORE", "3d063d5")
ROUNDS = 3
# The dependencies whose import is most of the app's (cumulative, where first imported).
PACKAGES = [
    "boto3",
    "elasticsearch",
    "redis",
    "pymysql",
    "aws_lambda_powertools",
    "chalice",
    "chalicelib.usecases.service",
]


def api_event(token: str) -> dict:
    """What API Gateway hands the API function for GET /applications/{token} (a 404 here)."""
    path = f"/applications/{token}"
    return {
        "resource": "/applications/{token}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"token": token},
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {
            "resourcePath": "/applications/{token}",
            "httpMethod": "GET",
            "requestId": "bench-cold",
            "stage": "bench",
            "path": path,
        },
    }


def sqs_event(application_id: int) -> dict:
    body = json.dumps({"type": "chat", "application_id": application_id, "number": 1})
    return {
        "Records": [
            {
                "messageId": "cold-1",
                "receiptHandle": "cold-1",
                "body": body,
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:chat-bench",
            }
        ]
    }


def tree(commit: str) -> Path:
    """functions/ as of `commit`, extracted once under the bench's build directory."""
    out = common.OUT_DIR / "build" / f"functions-{commit}"
    if not out.exists():
        archive = subprocess.run(
            ["git", "-C", str(common.ROOT), "archive", commit, "functions"], capture_output=True, check=True
        ).stdout
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        (partial / "functions").rename(out)
        partial.rmdir()
    return out


def handler_in(functions: Path, handler: str) -> str:
    """`handler` as a tree of before the functions' own modules (handlers/) names it: app.<name>."""
    return handler if (functions / "handlers").is_dir() else "app." + handler.rsplit(".", 1)[1]


def import_time(functions: Path = common.FUNCTIONS, repeats: int = 5) -> dict:
    """`import app` in a fresh interpreter: -X importtime's cumulative figure and wall time."""
    env = {"PYTHONPATH": str(functions), "PATH": "/usr/bin:/bin"}
    cumulative: list[float] = []
    walls: list[float] = []
    heaviest: dict[str, Any] = {}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import app"],
            env=env,
            capture_output=True,
            text=True,
            cwd=functions,
            check=True,
        )
        per_module = {}
        for line in out.stderr.splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if m:
                per_module[m.group(4)] = (int(m.group(2)), len(m.group(3)))
        cumulative.append(per_module["app"][0] / 1000)
        for name in PACKAGES:
            if name in per_module:
                heaviest.setdefault(name, []).append(per_module[name][0] / 1000)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import app"], env=env, cwd=functions, check=True)
        app_wall = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        walls.append((app_wall - (time.perf_counter() - started)) * 1000)
    top = sorted(
        ((name, round(statistics.median(v), 1)) for name, v in heaviest.items()), key=lambda x: -x[1]
    )
    return {
        "importtime_cumulative_ms": round(statistics.median(cumulative), 1),
        "wall_minus_bare_interpreter_ms": round(statistics.median(walls), 1),
        "packages_ms": dict(top),
    }


def cold(res: Resources, name: str, payload: dict) -> dict:
    cold = res.invoke(name, payload)
    warm = [res.invoke(name, payload)["wall_ms"] for _ in range(5)]
    return {
        "first_invoke_ms": cold["wall_ms"],
        "init_duration_ms": cold.get("init_duration"),
        "duration_ms": cold.get("duration"),
        "max_memory_used_mb": cold.get("max_memory_used"),
        "warm_invoke_p50_ms": round(statistics.median(warm), 1),
        "error": cold["error"],
        "answer": cold["answer"],
    }


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 1) if values else None


def run(res: Resources, progress=print, rounds: int = ROUNDS) -> dict:
    common.ensure_database(common.WRITE_DB)
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO applications (token, name) VALUES (SHA2(%s, 256), 'cold start bench') "
            "ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)",
            ("bench-cold",),
        )
        application_id = cur.lastrowid
    env = common.function_env(common.WRITE_DB, INDEX)
    functions = [
        ("api", "app.app", 256, api_event("no-such-token")),
        ("writer", "handlers.writer.handle_creations", 512, sqs_event(application_id)),
        ("counter", "handlers.counter.refresh_counts", 256, {}),
        ("migrate", "handlers.schema.migrate_schema", 256, {}),
    ]
    trees = {"after": common.FUNCTIONS, "before": tree(BEFORE)}
    res.layer()  # uploaded once, before any clock starts
    noop = res.function("cold-noop", "noop.handler", env, memory=128, noop=True)
    out: dict[str, Any] = {"before_commit": BEFORE, "rounds": rounds, "noop": cold(res, noop, {})}
    runs: dict[tuple[str, str], list[dict]] = {}
    for r in range(rounds):
        for suffix, handler, memory, payload in functions:
            sides = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for side in sides:
                name = res.function(
                    f"cold-{suffix}-{side}-{r}",
                    handler_in(trees[side], handler),
                    env,
                    memory=memory,
                    code=trees[side],
                )
                figures = cold(res, name, payload)
                runs.setdefault((suffix, side), []).append(figures)
                progress(
                    f"{suffix} {side} (round {r + 1}): first invoke {figures['first_invoke_ms']} ms "
                    f"(init {figures['init_duration_ms']} ms, handler {figures['duration_ms']} ms, "
                    f"{figures['max_memory_used_mb']} MB), warm p50 {figures['warm_invoke_p50_ms']} ms"
                    + (f", ERROR {figures['answer']}" if figures["error"] else "")
                )
    keys = ("first_invoke_ms", "init_duration_ms", "duration_ms", "max_memory_used_mb", "warm_invoke_p50_ms")
    for suffix, _, memory, _ in functions:
        after, before = runs[(suffix, "after")], runs[(suffix, "before")]
        row: dict[str, Any] = {k: _median(after, k) for k in keys}
        row["memory_size_mb"] = memory
        row["error"] = next((r["error"] for r in after if r["error"]), None)
        row["before"] = {k: _median(before, k) for k in keys}
        for k in ("first_invoke_ms", "init_duration_ms"):
            if row[k] is not None and row["before"][k]:
                row[f"{k.removesuffix('_ms')}_ratio"] = round(row[k] / row["before"][k], 2)
        # Each round's pair ran back to back: its ratio is less moved by the load than the medians.
        row["init_ratio_per_round"] = [
            round(a["init_duration_ms"] / b["init_duration_ms"], 2)
            if a["init_duration_ms"] and b["init_duration_ms"]
            else None
            for a, b in zip(after, before, strict=True)
        ]
        out[suffix] = row
        progress(
            f"{suffix}: init {row['init_duration_ms']} ms vs {row['before']['init_duration_ms']} before "
            f"(x{row.get('init_duration_ratio')}; per round {row['init_ratio_per_round']}), first invoke "
            f"{row['first_invoke_ms']} ms vs {row['before']['first_invoke_ms']} "
            f"(x{row.get('first_invoke_ratio')})"
        )
    out["import"] = import_time()
    out["import_before"] = import_time(trees["before"])
    progress(
        f"import app: {out['import']['importtime_cumulative_ms']} ms (-X importtime) vs "
        f"{out['import_before']['importtime_cumulative_ms']} before; "
        f"{out['import']['wall_minus_bare_interpreter_ms']} ms wall over a bare interpreter vs "
        f"{out['import_before']['wall_minus_bare_interpreter_ms']}; "
        f"by package: {out['import']['packages_ms']}"
    )
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="pairs per function (default %(default)s)")
    run_alone(run, "cold start", rounds=parser.parse_args().rounds)
