"""Cold start of each function, and the import time of the app module.

Each function of the template is created afresh in LocalStack (as `chat-bench-cold-*`, the same
code and layer as the stack's, pointed at the bench's stores) and invoked once: the first
invocation's REPORT line gives Init Duration (importing `app`), Duration and Max Memory Used, and
the client times the whole round trip. A no-op function without a layer is the floor. Then a few
warm invocations of each. Import time: `python -X importtime -c "import app"` in the app's venv.

    .local/venvs/app/bin/python -m tests.bench.coldstart_bench
"""

import json
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from tests.bench import common
from tests.bench.resources import Resources, run_alone

INDEX = "bench-coldstart"
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


def import_time(repeats: int = 5) -> dict:
    """`import app` in a fresh interpreter: -X importtime's cumulative figure and wall time."""
    env = {"PYTHONPATH": str(common.FUNCTIONS), "PATH": "/usr/bin:/bin"}
    cumulative: list[float] = []
    walls: list[float] = []
    heaviest: dict[str, Any] = {}
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import app"],
            env=env,
            capture_output=True,
            text=True,
            cwd=common.FUNCTIONS,
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
        subprocess.run([sys.executable, "-c", "import app"], env=env, cwd=common.FUNCTIONS, check=True)
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


def run(res: Resources, progress=print) -> dict:
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
        ("noop", "noop.handler", 128, {}, True),
        ("api", "app.app", 256, api_event("no-such-token"), False),
        ("writer", "app.handle_creations", 512, sqs_event(application_id), False),
        ("counter", "app.refresh_counts", 256, {}, False),
        ("migrate", "app.migrate_schema", 256, {}, False),
    ]
    res.layer()  # uploaded once, before any clock starts
    out = {}
    for suffix, handler, memory, payload, noop in functions:
        started = time.perf_counter()
        name = res.function(f"cold-{suffix}", handler, env, memory=memory, noop=noop)
        created_s = time.perf_counter() - started
        cold = res.invoke(name, payload)
        warm = [res.invoke(name, payload)["wall_ms"] for _ in range(5)]
        out[suffix] = {
            "create_to_active_s": round(created_s, 2),
            "first_invoke_ms": cold["wall_ms"],
            "init_duration_ms": cold.get("init_duration"),
            "duration_ms": cold.get("duration"),
            "max_memory_used_mb": cold.get("max_memory_used"),
            "memory_size_mb": memory,
            "warm_invoke_p50_ms": round(statistics.median(warm), 1),
            "error": cold["error"],
        }
        progress(
            f"{suffix}: first invoke {cold['wall_ms']} ms (init {cold.get('init_duration')} ms, "
            f"handler {cold.get('duration')} ms, {cold.get('max_memory_used')} MB), warm p50 "
            f"{out[suffix]['warm_invoke_p50_ms']} ms{', ERROR ' + cold['answer'] if cold['error'] else ''}"
        )
    out["import"] = import_time()
    progress(
        f"import app: {out['import']['importtime_cumulative_ms']} ms (-X importtime), "
        f"{out['import']['wall_minus_bare_interpreter_ms']} ms wall over a bare interpreter; "
        f"by package: {out['import']['packages_ms']}"
    )
    return out


if __name__ == "__main__":
    run_alone(run, "cold start")
