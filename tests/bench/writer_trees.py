"""The writer of this tree against the writer of an older commit, on the same stack, interleaved.

Each round runs `writer_ab` (the writer at batch 100 on the same events, with the bare INSERT and
`_bulk` loops of the same slices as ceilings) once in each tree, in a process of its own, in the
order after, before, then before, after (ABBA): the machine's load drifts, and both trees meet
it alike. The older tree is a `git archive` of BEFORE's functions/, local/ and tests/, with this
tree's `writer_ab.py`; it writes to a database of its own made with its own schema, and its
events are its own (no accept instant or author where it knew none). The figures are medians
over the rounds: messages/s, the writer against the two bare loops at once, and after/before.

    .local/venvs/app/bin/python -m tests.bench.writer_trees [--before f8e77ff] [--rounds 3] [--events 10000]
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
import time
from pathlib import Path
from typing import Any

from tests.bench import common

# The last commit before messages carried times, authors, feed positions and deletions.
BEFORE = "f8e77ff"
AFTER_DB, BEFORE_DB = common.WRITE_DB, "chat_bench_wb"


def before_tree(commit: str) -> Path:
    """functions/, local/ and tests/ of `commit` under the bench's state folder (made once)."""
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
    shutil.copy(Path(__file__).with_name("writer_ab.py"), out / "tests" / "bench" / "writer_ab.py")
    return out


def measure(tree: Path, events: int, database: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{tree / 'functions'}:{tree}", "CHAT_STATE_DIR": str(common.STATE)}
    load = common.load_average()
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.writer_ab", str(events), database],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise RuntimeError(f"writer_ab in {tree} exited {done.returncode}: {done.stderr[-2000:]}")
    point = json.loads(done.stdout.strip().splitlines()[-1])
    point["load_before"], point["load_after"] = load, common.load_average()
    return point


def run(before: str = BEFORE, rounds: int = 3, events: int = 10_000, progress=print) -> dict[str, Any]:
    trees = {"after": (common.ROOT, AFTER_DB), "before": (before_tree(before), BEFORE_DB)}
    runs: dict[str, list[dict[str, Any]]] = {"after": [], "before": []}
    for r in range(rounds):
        for name in ("after", "before") if r % 2 == 0 else ("before", "after"):
            point = measure(*trees[name][:1], events, trees[name][1])
            runs[name].append(point)
            progress(
                f"round {r + 1}, {name}: writer {point['messages_per_s']}/s, both loops at once "
                f"{point['ceiling_both_at_once_per_s']}/s, failures {point['failures']}, rows "
                f"{point['mysql_rows']}, docs {point['es_docs']}, load {point['load_after']}"
            )
    summary: dict[str, Any] = {"before_commit": before, "rounds": rounds, "events": events, "runs": runs}
    for name, points in runs.items():
        summary[name] = {
            "messages_per_s": statistics.median(p["messages_per_s"] for p in points),
            "to_both_at_once": statistics.median(p["ratio_to_both_at_once"] for p in points),
            "python_cpu_ms_per_message": statistics.median(
                p["cpu_ms_per_message"]["writer"].get("bench", 0.0) for p in points
            ),
        }
    summary["after_over_before"] = common.ratio(
        summary["after"]["messages_per_s"], summary["before"]["messages_per_s"]
    )
    summary["after_over_before_per_round"] = [
        common.ratio(a["messages_per_s"], b["messages_per_s"])
        for a, b in zip(runs["after"], runs["before"], strict=True)
    ]
    summary["after_over_before_to_ceiling"] = common.ratio(
        summary["after"]["to_both_at_once"], summary["before"]["to_both_at_once"]
    )
    summary["exactly_once"] = all(
        p["failures"] == 0 and p["mysql_rows"] == p["es_docs"] == events for ps in runs.values() for p in ps
    )
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    result = run(args.before, args.rounds, args.events, progress=common.Progress("writer trees"))
    out = common.OUT_DIR / f"writer-trees-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"every run: {out}")
