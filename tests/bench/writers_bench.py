"""Writers in parallel, in-process: 1, 2 and 4 writer processes on the same MariaDB, ES and Redis.

Each writer process builds the product's adapters as a function does and runs
`writer.persist_records` on its share of the batches (batch 100, round-robin, as an event source
hands batches to concurrent environments); a record that fails is retried in a later batch, as SQS
redelivers it. Two shapes of load: events spread over 2,000 chats, and every event on one hot chat.
Each run reports throughput, InnoDB's row-lock waits and deadlocks over the run (global status and
`SHOW ENGINE INNODB STATUS`), and checks that every event is in MySQL and ES exactly once.

    .local/venvs/app/bin/python -m tests.bench.writers_bench [--events 20000] [--writers 1,2,4]
"""

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.domain import events
from chalicelib.usecases import writer
from tests.bench import common, writer_bench

BATCH = 100
WRITER_TIMEOUT_S = 300  # one writer's share took ~5 s; a writer that says nothing by then has hung


def hot_chat_events(count: int, application_id: int) -> list[tuple[str, str]]:
    return [
        (f"h-{i}", events.message_created(application_id, 1, i + 1, f"hot chat message {i}"))
        for i in range(count)
    ]


def _writer_process(records: list[tuple[str, str]], ready: Any, out: Any) -> None:
    deps = common.deps(index=writer_bench.INDEX)
    pending = list(writer_bench.batches(records, BATCH))
    retried = 0
    ready.wait(timeout=120)  # all writers start together, once each has imported and connected
    started = time.perf_counter()
    cpu = time.process_time()
    while pending:
        batch = pending.pop(0)
        failed = writer.persist_records(deps, batch)
        if failed:
            retried += len(failed)
            pending.append([r for r in batch if r[0] in failed])
    out.put(
        {"seconds": time.perf_counter() - started, "retried": retried, "cpu_s": time.process_time() - cpu}
    )


def innodb_counters() -> dict[str, int]:
    with common.datagen.connect("mysql") as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_%'")
        status = {name: int(value) for name, value in cur.fetchall() if str(value).isdigit()}
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")  # MariaDB
        row = cur.fetchone()
        if row:
            status["deadlocks"] = int(row[1])
        else:  # MySQL 8
            cur.execute("SELECT `count` FROM information_schema.INNODB_METRICS WHERE name = 'lock_deadlocks'")
            status["deadlocks"] = int((cur.fetchone() or (0,))[0])
    return status


def latest_deadlock() -> str:
    with common.datagen.connect("mysql") as conn, conn.cursor() as cur:
        cur.execute("SHOW ENGINE INNODB STATUS")
        text = str((cur.fetchone() or ("", "", ""))[2])
    start = text.find("LATEST DETECTED DEADLOCK")
    return text[start : text.find("TRANSACTIONS", start)].strip() if start >= 0 else ""


def exactly_once(deps, expected: int) -> dict[str, Any]:
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*), COUNT(DISTINCT chat_id, number) FROM messages")
        rows, distinct = cur.fetchone() or (0, 0)
    es = deps.elasticsearch
    es.indices.refresh(index=writer_bench.INDEX)
    docs = es.count(index=writer_bench.INDEX)["count"]
    return {
        "mysql_rows": rows,
        "mysql_distinct": distinct,
        "es_docs": docs,
        "ok": rows == distinct == docs == expected,
    }


def one_run(deps, records: list[tuple[str, str]], writers: int) -> dict[str, Any]:
    batches = list(writer_bench.batches(records, BATCH))
    shares = [[r for b in batches[i::writers] for r in b] for i in range(writers)]
    before, deadlock_before = innodb_counters(), latest_deadlock()
    stores = common.Cpu(writer_bench.STORES).start()
    # Spawned, not forked: a forked child inherits the parent's thread pools without their threads
    # and waits for ever on a future none of them runs. Each child builds its own clients.
    ctx = multiprocessing.get_context("spawn")
    results, ready = ctx.Queue(), ctx.Barrier(writers)
    processes = [ctx.Process(target=_writer_process, args=(share, ready, results)) for share in shares]
    try:
        for p in processes:
            p.start()
        parts = [results.get(timeout=WRITER_TIMEOUT_S) for _ in processes]
        for p in processes:
            p.join(timeout=30)
    finally:
        for p in processes:
            if p.is_alive():
                p.kill()
    store_cpu = stores.stop()
    after, deadlock_after = innodb_counters(), latest_deadlock()
    wall = max(part["seconds"] for part in parts)
    check = exactly_once(deps, len(records))
    writer_cpu = sum(part["cpu_s"] for part in parts)
    return {
        "writers": writers,
        "messages_per_s": round(len(records) / wall),
        "seconds": round(wall, 2),
        "retried_records": sum(part["retried"] for part in parts),
        "row_lock_waits": after.get("Innodb_row_lock_waits", 0) - before.get("Innodb_row_lock_waits", 0),
        "row_lock_wait_ms": after.get("Innodb_row_lock_time", 0) - before.get("Innodb_row_lock_time", 0),
        "deadlocks": after["deadlocks"] - before["deadlocks"],
        "new_deadlock_report": deadlock_after[:2000] if deadlock_after != deadlock_before else "",
        "cpu_ms_per_message": {
            "writers": round(1000 * writer_cpu / len(records), 3),
            **{name: round(1000 * s / len(records), 3) for name, s in store_cpu.items() if name != "bench"},
        },
        **check,
    }


def run(events_count: int = 20_000, levels=(1, 2, 4), rounds: int = 3, progress=print) -> dict[str, Any]:
    common.ensure_database(common.WRITE_DB)
    deps = common.deps(index=writer_bench.INDEX)
    ids = writer_bench.reset_stores(deps)
    applications = sorted({a for a, _ in ids})
    shapes = {
        f"spread over {len(ids)} chats": writer_bench.make_events(events_count, applications),
        "one hot chat": hot_chat_events(events_count, applications[0]),
    }
    out: dict[str, Any] = {"events": events_count, "batch": BATCH, "cores": os.cpu_count()}
    for shape, records in shapes.items():
        by_level: dict[int, list[dict[str, Any]]] = {n: [] for n in levels}
        # Each level `rounds` times, every other pass in reverse order: the machine's load drifts.
        for n in [n for r in range(rounds) for n in (reversed(levels) if r % 2 else levels)]:
            writer_bench.reset_stores(deps)
            result = one_run(deps, records, n)
            by_level[n].append(result)
            progress(
                f"{shape}, {n} writer(s): {result['messages_per_s']}/s, "
                f"lock waits {result['row_lock_waits']} "
                f"({result['row_lock_wait_ms']} ms), deadlocks {result['deadlocks']}, retried "
                f"{result['retried_records']}, exactly once: {result['ok']}, load {common.load_average()}"
            )
        runs = []
        for results in by_level.values():
            merged = dict(results[0])
            merged["messages_per_s_runs"] = [r["messages_per_s"] for r in results]
            merged["messages_per_s"] = round(statistics.median(merged["messages_per_s_runs"]))
            for key in ("retried_records", "row_lock_waits", "row_lock_wait_ms", "deadlocks"):
                merged[key] = sum(r[key] for r in results)
            merged["ok"] = all(r["ok"] for r in results)
            runs.append(merged)
        for result in runs:
            result["speedup"] = common.ratio(result["messages_per_s"], runs[0]["messages_per_s"])
        out[shape] = runs
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--writers", default="1,2,4")
    args = parser.parse_args()
    levels = tuple(int(n) for n in args.writers.split(","))
    print(json.dumps(run(args.events, levels, progress=common.Progress("writers")), indent=2))
