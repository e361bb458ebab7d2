"""The writer of this tree against the writer of an older commit, on the same stack, interleaved
slice by slice.

Each round starts `writer_ab --stepped` in each tree, in a process of its own (each makes its
database, index and events ready), then has them write their events a slice at a time, in turn:
after, before, before, after, ... (ABBA by slice, a slice of 500 events taking a fraction of a
second). The machine's load drifts from second to second on a shared box; two slices a second
apart meet nearly the same load, where two whole runs ten seconds apart did not. The older tree
is a `git archive` of BEFORE's functions/, local/ and tests/, with this tree's `writer_ab.py`; it
writes to a database of its own made with its own schema, and its events are its own (no accept
instant or author where it knew none).

The figures: each tree's messages/s per round (its events over the sum of its slices' seconds);
after/before per round and its median over the rounds (the headline); the same over all slices
of the run at once; the spread of the ratio of each pair of neighbouring slices (quartiles); and
CPU per message of the writer's process and of each store, which the load barely moves.

    .local/venvs/app/bin/python -m tests.bench.writer_trees [--before f8e77ff] [--rounds 6] \
        [--events 10000] [--slices 20]
    .local/venvs/app/bin/python -m tests.bench.writer_trees --stages   # where a batch's time goes, each tree
"""

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import common

# The last commit before messages carried times, authors, feed positions and deletions.
BEFORE = "f8e77ff"
AFTER_DB, BEFORE_DB = common.WRITE_DB, "chat_bench_wb"
TREES = ("after", "before")


def before_tree(commit: str) -> Path:
    """functions/, local/ and tests/ of `commit` under the bench's state folder (made once), with
    this tree's `writer_ab.py` and `writer_stages.py`."""
    out = common.STATE / "bench" / f"tree-{commit}"
    if not out.exists():
        archive = subprocess.run(
            ["git", "-C", str(common.ROOT), "archive", commit, "functions", "local", "tests"],
            capture_output=True,
            check=True,
        ).stdout
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(out)
    for name in ("writer_ab.py", "writer_stages.py"):
        shutil.copy(Path(__file__).with_name(name), out / "tests" / "bench" / name)
    return out


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{tree / 'functions'}:{tree}", "CHAT_STATE_DIR": str(common.STATE)}


class Side:
    """One tree's `writer_ab --stepped` process: a slice written for each line it is sent."""

    def __init__(self, tree: Path, database: str, events: int, slices: int):
        # Read if it fails; a pipe could fill. Closed with the process (`finish`).
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.writer_ab", str(events), database, "--stepped", str(slices)],
            cwd=tree,
            env=_env(tree),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._answer()  # {"ready": true}: its stores are made

    def _answer(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(f"writer_ab exited {self._proc.returncode}: {self._stderr.read()[-2000:]}")
        return dict(json.loads(line))

    def step(self) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write("go\n")
        self._proc.stdin.flush()
        return self._answer()

    def finish(self) -> dict[str, Any]:
        counts = self._answer()
        self._proc.wait()
        self._stderr.close()
        return counts


def _quartiles(values: list[float]) -> dict[str, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"p25": round(q1, 3), "median": round(q2, 3), "p75": round(q3, 3), "iqr": round(q3 - q1, 3)}


def _cpu_per_message(steps: list[dict[str, Any]]) -> dict[str, float]:
    n = sum(s["events"] for s in steps)
    names = sorted({k for s in steps for k in s["cpu"]})
    out = {name: round(1000 * sum(s["cpu"].get(name, 0.0) for s in steps) / n, 4) for name in names}
    out["total"] = round(sum(out.values()), 4)
    return out


def run(
    before: str = BEFORE, rounds: int = 6, events: int = 10_000, slices: int = 20, progress=print
) -> dict[str, Any]:
    trees = {"after": (common.ROOT, AFTER_DB), "before": (before_tree(before), BEFORE_DB)}
    runs: list[dict[str, Any]] = []
    for r in range(rounds):
        sides = {name: Side(tree, db, events, slices) for name, (tree, db) in trees.items()}
        steps: dict[str, list[dict[str, Any]]] = {"after": [], "before": []}
        for i in range(slices):
            for name in TREES if i % 2 == 0 else TREES[::-1]:
                point = sides[name].step()
                point["load"] = os.getloadavg()[0]
                steps[name].append(point)
        counts = {name: side.finish() for name, side in sides.items()}
        rate = {
            name: sum(s["events"] for s in ss) / sum(s["seconds"] for s in ss) for name, ss in steps.items()
        }
        one = {
            "steps": steps,
            "counts": counts,
            "messages_per_s": {name: round(v) for name, v in rate.items()},
            "after_over_before": round(rate["after"] / rate["before"], 3),
            "cpu_ms_per_message": {name: _cpu_per_message(ss) for name, ss in steps.items()},
            "load": [
                round(min(s["load"] for s in steps["after"]), 1),
                round(max(s["load"] for s in steps["after"]), 1),
            ],
        }
        runs.append(one)
        rates, cpu = one["messages_per_s"], one["cpu_ms_per_message"]
        progress(
            f"round {r + 1}: after {rates['after']}/s, before {rates['before']}/s, "
            f"after/before {one['after_over_before']}, CPU ms/message {cpu['after']['total']}"
            f" / {cpu['before']['total']}, load {one['load'][0]}-{one['load'][1]}"
        )
    return summarize(runs, before, events, slices)


def summarize(runs: list[dict[str, Any]], before: str, events: int, slices: int) -> dict[str, Any]:
    per_round = [r["after_over_before"] for r in runs]
    seconds = {name: sum(s["seconds"] for r in runs for s in r["steps"][name]) for name in TREES}
    pairs = [
        b["seconds"] / a["seconds"]
        for r in runs
        for a, b in zip(r["steps"]["after"], r["steps"]["before"], strict=True)
    ]
    cpu = {name: _cpu_per_message([s for r in runs for s in r["steps"][name]]) for name in TREES}
    summary: dict[str, Any] = {
        "before_commit": before,
        "rounds": len(runs),
        "events": events,
        "slices": slices,
        "after": {"messages_per_s": statistics.median(r["messages_per_s"]["after"] for r in runs)},
        "before": {"messages_per_s": statistics.median(r["messages_per_s"]["before"] for r in runs)},
        "after_over_before": round(statistics.median(per_round), 3),
        "after_over_before_per_round": per_round,
        "after_over_before_all_slices": round(seconds["before"] / seconds["after"], 3),
        "slice_pairs": _quartiles(pairs),
        "cpu_ms_per_message": cpu,
        "cpu_before_over_after": round(cpu["before"]["total"] / cpu["after"]["total"], 3),
        "load": [min(r["load"][0] for r in runs), max(r["load"][1] for r in runs)],
        "exactly_once": all(s["failures"] == 0 for r in runs for ss in r["steps"].values() for s in ss)
        and all(c["mysql_rows"] == c["es_docs"] == events for r in runs for c in r["counts"].values()),
        "runs": runs,
    }
    return summary


def stages(before: str = BEFORE, rounds: int = 2, events: int = 5_000, progress=print) -> dict[str, Any]:
    """`writer_stages` in each tree, after, before, before, after...: ms a batch, stage by stage."""
    trees = {"after": (common.ROOT, AFTER_DB), "before": (before_tree(before), BEFORE_DB)}
    out: dict[str, list[dict[str, Any]]] = {"after": [], "before": []}
    for r in range(rounds):
        for name in TREES if r % 2 == 0 else TREES[::-1]:
            tree, database = trees[name]
            done = subprocess.run(
                [sys.executable, "-m", "tests.bench.writer_stages", str(events), database],
                cwd=tree,
                env=_env(tree),
                capture_output=True,
                text=True,
                check=True,
            )
            point = json.loads(done.stdout.strip().splitlines()[-1])
            point["load"] = os.getloadavg()[0]
            out[name].append(point)
            median = point["batch"]["median_ms"]
            progress(f"round {r + 1}, {name}: batch {median} ms (median), load {point['load']:.1f}")
    names = sorted({k for ps in out.values() for p in ps for k in p if k != "load"})
    table = {
        name: {
            tree: round(statistics.median(p[name]["mean_ms"] for p in points if name in p), 3)
            for tree, points in out.items()
            if any(name in p for p in points)
        }
        for name in names
    }
    return {"before_commit": before, "mean_ms_per_batch": table, "runs": out}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--stages", action="store_true", help="time each stage of a batch instead")
    args = parser.parse_args()
    if args.stages:
        result = stages(args.before, args.rounds, args.events, progress=common.Progress("writer stages"))
        name = "writer-stages"
    else:
        result = run(
            args.before, args.rounds, args.events, args.slices, progress=common.Progress("writer trees")
        )
        name = "writer-trees"
    out = common.OUT_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"every run: {out}")
