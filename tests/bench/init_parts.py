"""Where each function's Init Duration goes, part by part, beside the tree of 3d063d5: started
the way the host executor starts an environment, without LocalStack.

The executor's Init Duration is the wall time of the runtime's `handler.load` (the handler
module's import) and nothing else: the interpreter's start, the runtime's own imports, its log
handler and the ready report come before or after it (local/lambda_executor, runtime/main.py).
Each function's import runs `stores.prepare()` when `_HANDLER` names it, as in Lambda: the
drivers and clients its requests read are built inside that import. This starts the Lambda
runtime's interpreter (`.local/venvs/lambda-runtime`, with boto3 as AWS provides it) with the
executor's flags (-P -s -u), clean environment, working directory and sys.path (task root, the
layer as `sam build` made it, the runtime last), imports what the runtime imports before the
handler, then times the handler module's import with `_HANDLER` unset (Powertools, chalice and,
in the tree before, each driver timed first on its own) and `stores.prepare()` after it, adapter
by adapter: together, what Init Duration counts. CPU time (`time.process_time()`, less moved by
the machine's load) and wall time. Both trees are compiled with bytecode checked by hash, as
functions/Makefile ships them; the trees alternate each round, and the figures are medians with
each round's ratio.

    .local/venvs/app/bin/python -m tests.bench.init_parts [--rounds 5]
"""

import argparse
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.bench import common
from tests.bench.coldstart_bench import BEFORE, handler_in, tree
from tests.bench.resources import LAYER_SOURCE

RUNTIME_PYTHON = common.STATE / "venvs" / "lambda-runtime" / "bin" / "python"
RUNTIME_DIR = common.ROOT / "local" / "lambda_executor" / "host_executor" / "runtime"
FUNCTIONS = {
    "api": "app.app",
    "writer": "handlers.writer.handle_creations",
    "counter": "handlers.counter.refresh_counts",
    "migrate": "handlers.schema.migrate_schema",
}
# Timed on their own before the handler's import, in this order (a module two of them import
# counts in the first): Powertools in every function, chalice in the API's; every driver in the
# tree before, whose handler module imported them all. The tree after builds its drivers' clients
# in stores.prepare(), timed adapter by adapter.
POWERTOOLS = ["aws_lambda_powertools.metrics"]
BEFORE_DRIVERS = ["boto3", "redis", "elasticsearch", "pymysql"]

# Run as the executor's BOOTSTRAP is (`-c`, the runtime dir and a JSON config as arguments).
PROBE = """
import json, os, sys, time
sys.path.append(sys.argv[1])
from lambda_host_runtime import handler, logs, main, server  # what main() imports before its clock
from lambda_host_runtime.api import RuntimeApi
config = json.loads(sys.argv[2])
main._set_sys_path(config["task_root"], [config["layer_root"]], sys.argv[1])
logs.install_root_handler()
spec = os.environ.pop("_HANDLER")
parts = {}
for package in config["packages"]:  # each timed on its own first, then what the handler adds
    cpu, wall = time.process_time(), time.perf_counter()
    __import__(package)
    parts[package] = [(time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000]
cpu, wall = time.process_time(), time.perf_counter()
handler.load(spec)
parts["import"] = [(time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000]
stores = sys.modules.get("chalicelib.wiring.stores")
if stores is not None and hasattr(stores, "ENTRY_POINTS"):
    os.environ["_HANDLER"] = spec
    reads, deps = stores.ENTRY_POINTS[spec]
    names = [n for p in reversed(reads.__mro__) for n, v in vars(p).items()
             if isinstance(v, property) and n in stores.BUILT and n not in stores.NOT_AT_INIT]
    for name in dict.fromkeys(names):
        cpu, wall = time.process_time(), time.perf_counter()
        getattr(deps(), name)
        parts[name] = [(time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000]
print(json.dumps(parts))
"""


def _compiled(functions: Path, out: Path) -> Path:
    """The function's code as functions/Makefile ships it: sources and hash-checked bytecode."""
    out.mkdir(parents=True)
    for name in ("app.py", "chalicelib", "handlers"):
        source = functions / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, out / name)
    for path in out.rglob("*.py"):
        py_compile.compile(
            str(path), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH
        )
    return out


def _env(task_root: Path, handler: str) -> dict[str, str]:
    env = {
        "PATH": f"{RUNTIME_PYTHON.parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": common.ENDPOINT,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "chat-bench-init-parts",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "TZ": ":UTC",
        **common.function_env(common.WRITE_DB, "bench-coldstart"),
        "CREATIONS_QUEUE_URL": f"{common.ENDPOINT}/queue/us-east-1/000000000000/chat-bench",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(RUNTIME_DIR),
    }
    return env


def measure(task_root: Path, handler: str, packages: list[str]) -> dict[str, list[float]]:
    config = json.dumps({"task_root": str(task_root), "layer_root": str(LAYER_SOURCE), "packages": packages})
    out = subprocess.run(
        [str(RUNTIME_PYTHON), "-P", "-s", "-u", "-c", PROBE, str(RUNTIME_DIR), config],
        cwd=task_root,
        env=_env(task_root, handler),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"{handler} in {task_root} failed: {out.stderr[-800:]}")
    parts: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return parts


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def run(rounds: int = 5, progress=print) -> dict[str, Any]:
    if not (LAYER_SOURCE / "python").is_dir():
        raise RuntimeError(f"{LAYER_SOURCE} is missing: run `make up` (sam build makes it)")
    runs: dict[tuple[str, str], list[dict[str, list[float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="init-parts-") as tmp:
        roots = {
            "after": _compiled(common.FUNCTIONS, Path(tmp) / "after"),
            "before": _compiled(tree(BEFORE), Path(tmp) / "before"),
        }
        load_averages = [os.getloadavg()[0]]
        for r in range(rounds):
            for function, handler in FUNCTIONS.items():
                for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                    spec = handler_in(roots[side], handler)
                    packages = POWERTOOLS + (["chalice"] if function == "api" else [])
                    if side == "before":  # its handler imported every driver: each one's share
                        packages += BEFORE_DRIVERS
                    runs.setdefault((function, side), []).append(measure(roots[side], spec, packages))
            load_averages.append(os.getloadavg()[0])
            progress(f"round {r + 1}/{rounds} done (load {load_averages[-1]:.1f})")
    out: dict[str, Any] = {"before_commit": BEFORE, "rounds": rounds, "functions": {}}
    for function in FUNCTIONS:
        row: dict[str, Any] = {}
        for side in ("after", "before"):
            measured = runs[(function, side)]
            parts = {name: [m[name] for m in measured] for name in measured[0]}
            row[side] = {
                "cpu_ms": {name: _median([v[0] for v in values]) for name, values in parts.items()},
                "wall_ms": {name: _median([v[1] for v in values]) for name, values in parts.items()},
                "total_cpu_ms": _median([sum(v[0] for v in m.values()) for m in measured]),
                "total_wall_ms": _median([sum(v[1] for v in m.values()) for m in measured]),
            }
        pairs = zip(runs[(function, "after")], runs[(function, "before")], strict=True)
        row["cpu_ratio"] = round(row["after"]["total_cpu_ms"] / row["before"]["total_cpu_ms"], 2)
        row["wall_ratio"] = round(row["after"]["total_wall_ms"] / row["before"]["total_wall_ms"], 2)
        row["cpu_ratio_per_round"] = [
            round(sum(v[0] for v in a.values()) / sum(v[0] for v in b.values()), 2) for a, b in pairs
        ]
        row["cpu_ratio_median_of_rounds"] = round(statistics.median(row["cpu_ratio_per_round"]), 2)
        out["functions"][function] = row
        progress(
            f"{function}: init CPU {row['after']['total_cpu_ms']} ms vs {row['before']['total_cpu_ms']} "
            f"(x{row['cpu_ratio']}; per round {row['cpu_ratio_per_round']}, median "
            f"{row['cpu_ratio_median_of_rounds']}), wall "
            f"{row['after']['total_wall_ms']} vs {row['before']['total_wall_ms']} (x{row['wall_ratio']}); "
            f"after, CPU ms by part: {row['after']['cpu_ms']}"
        )
    out["load_average"] = [round(min(load_averages), 1), round(max(load_averages), 1)]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, progress=common.Progress("init parts")), indent=2))
