"""`make bench`: every benchmark of docs/performance.md in one run; a table, JSON and plots.

    .local/venvs/app/bin/python -m tests.bench.run [--only writer,search] [--quick] [--big]
        [--section-timeout SECONDS]

Progress goes to the terminal as it runs; the figures go to .local/bench/bench-<time>.json (and
latest.json beside it), the plots of a full run to docs/ (of a quick or partial run to
.local/bench/). The machine is shared and often busy: each section records the load average
around it, and each figure with a baseline is compared with that baseline measured in the same
section. A section that raises or outlives its time limit is recorded as failed, the others run
on, and the run exits 1 after writing everything it has.
"""

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench import (
    accept_bench,
    bigchat_bench,
    bytecode_bench,
    coldstart_bench,
    common,
    counter_bench,
    drain_bench,
    drain_writers_bench,
    gateway_ab,
    gateway_bench,
    harness,
    idle_counters_bench,
    init_parts,
    lag_bench,
    live_bench,
    live_page_bench,
    mark_read_bench,
    reindex_bench,
    reindex_page_bench,
    report,
    search_bench,
    webhook_bench,
    writer_bench,
    writer_big_bench,
    writer_trees,
    writers_bench,
)
from tests.bench.resources import Resources

PLOTS = {"main": "performance.png", "writers": "writers.png", "big chat": "performance-bigchat.png"}
# Seconds a section may take before it is stopped and recorded as failed; the whole run took
# 25-40 min on 2 shared cores, its longest section ~8 min. The --big tier generates 10M rows once.
SECTION_TIMEOUT_S = {"full": 1200, "quick": 300}
BIG_SECTION_TIMEOUT_S = 3600
BIG_SECTIONS = {"counter 10M", "writer 10M", "big chat", "shards"}
# On a stack without them, search first builds its 1M-message index and its worst chat (1,000
# bodies of 64 KB), kept afterwards: at load ~20 that took it past 1,150 s (2026-12-07).
SLOW_SECTIONS = {"search": 2}  # times the limit


def sections(quick: bool, res_holder: list, big: bool = False) -> list:
    def res() -> Resources:
        if not res_holder:
            res_holder.append(Resources())
        return res_holder[0]

    q = quick
    return [
        (
            "writer",
            lambda p: writer_bench.run(
                20_000 if q else 100_000, (10, 100, 1000), 5_000 if q else 20_000, 3 if q else 10, progress=p
            ),
        ),
        ("drain", lambda p: drain_bench.run(res(), 2_000 if q else 5_000, progress=p)),
        ("accept", lambda p: accept_bench.run((1, 4, 16), 2 if q else 5, progress=p)),
        ("gateway", lambda p: gateway_bench.run(res(), (1, 4), 2 if q else 4, progress=p)),
        ("lag", lambda p: lag_bench.run(10, 10 if q else 30, progress=p)),
        ("webhooks", lambda p: webhook_bench.run(10, 10 if q else 30, progress=p)),
        # The same beside an application whose receiver times out on every delivery.
        ("webhooks slow neighbour", lambda p: webhook_bench.run(10, 10 if q else 30, p, neighbour_delay=7.0)),
        ("search", lambda p: search_bench.run(100 if q else 300, progress=p)),
        ("counter", lambda p: counter_bench.run(10_000, log=p)),
        ("mark read", lambda p: mark_read_bench.run(100_000 if q else 1_000_000, progress=p)),
        ("idle counters", lambda p: idle_counters_bench.run(10_000 if q else 100_000, progress=p)),
        ("cold start", lambda p: coldstart_bench.run(res(), progress=p)),
        # The same inits outside LocalStack, part by part, in CPU time (less moved by the load).
        ("init parts", lambda p: init_parts.run(3 if q else 5, progress=p)),
        ("bytecode", lambda p: bytecode_bench.run(3 if q else 9, progress=p)),
        (
            "gateway a/b",
            lambda p: gateway_ab.run(3 if q else 5, 2 if q else 3, profile_seconds=0 if q else 8, progress=p),
        ),
        # The writer against the tree before messages carried times, authors and feed positions:
        # twelve rounds pin the median of the rounds' ratios to about +-0.03 on the shared box.
        (
            "writer a/b",
            lambda p: writer_trees.run(rounds=2 if q else 12, events=5_000 if q else 10_000, progress=p),
        ),
        ("writers", lambda p: writers_bench.run(2_000 if q else 20_000, rounds=1 if q else 3, progress=p)),
        (
            "drain writers",
            lambda p: drain_writers_bench.run(res(), 1_000 if q else 3_000, rounds=1 if q else 3, progress=p),
        ),
        ("reindex page", lambda p: reindex_page_bench.run(1 if q else 3, log=p)),
        ("reindex", lambda p: reindex_bench.run(10 if q else 20, progress=p)),
        # Live delivery: announcement paths and the fan-out to 1,000 sockets; two Chromium pages.
        ("live", lambda p: live_bench.run(30 if q else 100, 200 if q else 1000, 3 if q else 5, progress=p)),
        ("live page", lambda p: live_page_bench.run(30 if q else 200, 1.0, 10 if q else 30, progress=p)),
    ] + (
        [
            # Ten times the tables: 10M messages in 1M chats, generated once (minutes) and kept.
            ("counter 10M", lambda p: counter_bench.run(10_000, big=True, log=p)),
            ("writer 10M", lambda p: writer_big_bench.run(progress=p)),
            # The big chat and the shards: chats of 100 to 1M in an index of 10M; 1 shard vs 4 at 1M.
            ("big chat", lambda p: bigchat_bench.run(30 if q else 100, 1 if q else 3, ("sizes", "mysql"), p)),
            (
                "shards",
                lambda p: bigchat_bench.run(30 if q else 100, 1 if q else 3, ("shards",), p)["shards"],
            ),
        ]
        if big
        else []
    )


def machine() -> dict:
    def run(*args):
        try:  # no shell: pgrep -f would count the shell whose command line names the pattern
            return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            return ""

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": run("git", "-C", str(common.ROOT), "rev-parse", "--short", "HEAD"),
        "load_average_start": common.load_average(),
        # Other engineers' stacks share the machine: count their big processes.
        "other_localstacks": int(run("pgrep", "-fc", "localstack.runtime.main") or 0) - 1,
        "other_elasticsearch_nodes": int(run("pgrep", "-fc", "local.chat.es.EsNode") or 0) - 1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--only", default="", help="comma-separated sections to run")
    parser.add_argument("--quick", action="store_true", help="smaller runs, to check the harness")
    parser.add_argument("--big", action="store_true", help="also the 10M-message tier (minutes)")
    parser.add_argument("--section-timeout", type=float, help="seconds a section may take (1200; quick 300)")
    args = parser.parse_args()
    holder: list[Any] = []
    chosen = [
        s for s in sections(args.quick, holder, args.big) if not args.only or s[0] in args.only.split(",")
    ]
    limit = args.section_timeout or SECTION_TIMEOUT_S["quick" if args.quick else "full"]
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    results: dict[str, Any] = {"started": started, "quick": args.quick, "machine": machine()}
    print(
        f"make bench: {len(chosen)} sections; load average {results['machine']['load_average_start']}",
        flush=True,
    )
    t0 = time.monotonic()
    try:
        for i, (name, action) in enumerate(chosen, 1):
            print(f"[{i}/{len(chosen)}] {name}", flush=True)
            load_before = common.load_average()
            seconds = BIG_SECTION_TIMEOUT_S if name in BIG_SECTIONS and not args.section_timeout else limit
            seconds *= SLOW_SECTIONS.get(name, 1)
            results[name] = harness.run_section(functools.partial(action, common.Progress(name)), seconds)
            results[name]["load_average_before_after"] = [load_before, common.load_average()]
    finally:
        if holder:
            holder[0].cleanup()
        if any(name in ("gateway", "lag") for name, _ in chosen):
            try:
                results["cleanup"] = lag_bench.cleanup_main(progress=common.Progress("cleanup"))
            except Exception as exc:
                results["cleanup"] = {"error": repr(exc)}
    results["total_s"] = round(time.monotonic() - t0, 1)
    results["failed_sections"] = [name for name, _ in chosen if results[name].get("failed")]
    results["targets"] = report.evaluate(results)
    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = common.OUT_DIR / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    (common.OUT_DIR / "latest.json").write_text(out.read_text())
    # The docs' figures come from full-size runs (the main one from a run of every section); a
    # quick run's plots, and a partial run's main plot, stay beside its JSON.
    docs = common.ROOT / "docs"
    drawn = draw_plots(
        results,
        {
            "main": common.OUT_DIR if args.quick or args.only else docs,
            **dict.fromkeys(("writers", "big chat"), common.OUT_DIR if args.quick else docs),
        },
        started,
    )
    print()
    print(report.table(results, results["targets"]))
    print(f"\n{results['total_s']} s in all; figures: {out}; plots: {', '.join(map(str, drawn)) or 'none'}")
    if results["failed_sections"]:
        print(f"FAILED sections: {', '.join(results['failed_sections'])}", flush=True)
    return 1 if results["failed_sections"] else 0


def draw_plots(results: dict[str, Any], directories: dict[str, Path], started: str) -> list[Path]:
    """Each plot from the sections that produced figures; a plot that cannot be drawn is skipped."""
    figures: dict[str, tuple[Callable[[Path], None], bool]] = {
        "main": (
            lambda path: report.plot(results, path),
            any(_measured(results, s) for s in ("writer", "accept", "gateway", "search", "lag")),
        ),
        "writers": (
            lambda path: report.plot_writers(
                _figures(results, "writers"), _figures(results, "drain writers"), path
            ),
            any(_measured(results, s) for s in ("writers", "drain writers")),
        ),
        "big chat": (
            lambda path: report.plot_sizes(
                results["big chat"],
                path,
                f"make bench --big, {started}, commit {results['machine']['commit']}, 2 cores, "
                f"load {results['big chat']['load_average_before_after']}",
            ),
            _measured(results, "big chat") and "sizes" in results["big chat"],
        ),
    }
    drawn = []
    for name, (draw, has_figures) in figures.items():
        if not has_figures:
            continue
        path = directories[name] / PLOTS[name]
        try:
            draw(path)
        except Exception:
            traceback.print_exc()
            continue
        drawn.append(path)
    return drawn


def _measured(results: dict[str, Any], section: str) -> bool:
    return section in results and not results[section].get("failed")


def _figures(results: dict[str, Any], section: str) -> dict[str, Any]:
    return results[section] if _measured(results, section) else {}


def exit_now_if_threads_hang(code: int) -> int:
    """A section stopped by its time limit may leave a thread blocked for good: the interpreter
    would wait for it at exit, so the run ends without waiting once everything is written."""
    hung = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if hung:
        print(f"threads still running: {', '.join(hung)}; exiting without waiting for them", flush=True)
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(exit_now_if_threads_hang(main()))
