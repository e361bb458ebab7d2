"""Deployed writers in parallel through LocalStack: 1-5 writer environments.

The template caps the writer's concurrent batches with the event source mapping's
`ScalingConfig.MaximumConcurrency` (`WriterMaxConcurrency`). Each run fills a bench queue, turns
on the mapping(s) and times the drain into MySQL and the index, two ways:

- `MaximumConcurrency`: one mapping with `ScalingConfig.MaximumConcurrency` = n (1: none), as the
  template deploys it;
- `mappings`: n copies of the writer, each mapped to the same queue with a poller of its own: n
  batches in flight, which is what AWS does with MaximumConcurrency n when the queue is deep.

Events are spread over the writer bench's 2,000 chats, or all on one hot chat. Each run reports
throughput, the most invocations in flight at once and the environments used (from the REPORT
lines), InnoDB's row-lock waits and deadlocks, LocalStack's CPU, and checks that every event is in
MySQL and the index exactly once.

    .local/venvs/app/bin/python -m tests.bench.drain_writers_bench [--events 5000] [--writers 1,2,3,4,5]
        [--rounds 3]
"""

import argparse
import statistics
import time
from typing import Any

from tests.bench import common, drain_bench, writer_bench, writers_bench
from tests.bench.resources import Resources, parse_report, run_alone

MODES = ("MaximumConcurrency", "mappings")


def _mappings(res: Resources, functions: list[str], queue_arn: str, mode: str, writers: int) -> list[str]:
    # A queue maps once to a function (AWS and LocalStack refuse a second mapping of the pair):
    # n mappings go to n copies of the writer, the first copy is MaximumConcurrency's.
    targets = functions[1 : writers + 1] if mode == "mappings" else functions[:1]
    extra = {"ScalingConfig": {"MaximumConcurrency": writers}} if mode != "mappings" and writers > 1 else {}
    return [
        res.lam.create_event_source_mapping(
            FunctionName=function,
            EventSourceArn=queue_arn,
            BatchSize=100,
            MaximumBatchingWindowInSeconds=1,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            Enabled=True,
            **extra,
        )["UUID"]
        for function in targets
    ]


def _remove(res: Resources, uuids: list[str]) -> None:
    for uuid in uuids:
        res.lam.delete_event_source_mapping(UUID=uuid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = {m["UUID"] for m in res.lam.list_event_source_mappings()["EventSourceMappings"]}
        if not left & set(uuids):
            return
        time.sleep(0.5)


def _in_flight(res: Resources, functions: list[str], window: tuple[int, int]) -> tuple[int, int, int]:
    """(invocations, most at once, log streams = environments) from the REPORT lines."""
    intervals, streams = [], set()
    for function in functions:
        kwargs: dict[str, Any] = {
            "logGroupName": f"/aws/lambda/{function}",
            "filterPattern": "REPORT",
            "startTime": window[0],
            "endTime": window[1],
        }
        while True:
            try:
                page = res.logs.filter_log_events(**kwargs)
            except res.logs.exceptions.ResourceNotFoundException:
                break
            for event in page["events"]:
                duration = parse_report(event["message"]).get("duration")
                if duration is not None:
                    intervals.append((event["timestamp"] - duration, event["timestamp"]))
                    streams.add((function, event["logStreamName"]))
            if "nextToken" not in page:
                break
            kwargs["nextToken"] = page["nextToken"]
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return len(intervals), most, len(streams)


def one_run(res, deps, functions, queue, records, mode: str, writers: int, timeout: float) -> dict:
    writer_bench.reset_stores(deps)
    queue_url, queue_arn = queue
    drain_bench.fill(queue_url, records)
    before, deadlock_before = writers_bench.innodb_counters(), writers_bench.latest_deadlock()
    meter = common.Cpu().start()
    window_start = int(time.time() * 1000)
    started = time.perf_counter()
    uuids = _mappings(res, functions, queue_arn, mode, writers)
    drain_bench.wait_drained(writer_bench.INDEX, len(records), started, timeout, poll=0.25)
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    _remove(res, uuids)
    after, deadlock_after = writers_bench.innodb_counters(), writers_bench.latest_deadlock()
    time.sleep(1.0)  # the last REPORT lines reach the log group
    invocations, most, environments = _in_flight(res, functions, (window_start, int(time.time() * 1000)))
    return {
        "mode": mode,
        "writers": writers,
        "messages_per_s": round(len(records) / seconds),
        "seconds": round(seconds, 2),
        "invocations": invocations,
        "most_in_flight": most,
        "environments": environments,
        "row_lock_waits": after.get("Innodb_row_lock_waits", 0) - before.get("Innodb_row_lock_waits", 0),
        "row_lock_wait_ms": after.get("Innodb_row_lock_time", 0) - before.get("Innodb_row_lock_time", 0),
        "deadlocks": after["deadlocks"] - before["deadlocks"],
        "new_deadlock_report": deadlock_after[:2000] if deadlock_after != deadlock_before else "",
        "localstack_cpu_s": cpu.get("localstack"),
        "mariadb_cpu_s": cpu.get("mariadb"),
        "load_average": common.load_average(),
        **writers_bench.exactly_once(deps, len(records)),
    }


def run(
    res: Resources,
    events: int = 5000,
    levels=(1, 2, 3, 4, 5),
    rounds: int = 3,
    timeout: float = 300.0,
    progress=print,
) -> dict:
    common.ensure_database(common.WRITE_DB)
    deps = common.deps(index=writer_bench.INDEX)
    ids = writer_bench.reset_stores(deps)
    applications = sorted({a for a, _ in ids})
    queue = res.queue("drain-writers")
    functions = [
        res.function(
            f"writers-{i}",
            "handlers.writer.handle_creations",
            common.function_env(common.WRITE_DB, writer_bench.INDEX, queue[0]),
            memory=512,
            timeout=30,
        )
        for i in range(max(levels) + 1)
    ]
    shapes = {
        f"spread over {len(ids)} chats": writer_bench.make_events(events, applications, seed=9),
        "one hot chat": writers_bench.hot_chat_events(events, applications[0]),
    }
    out: dict[str, Any] = {"events": events, "batch_size": 100, "window_s": 1, "cores": 2}
    for shape, records in shapes.items():
        results: dict[tuple[str, int], list[dict]] = {(m, n): [] for m in MODES for n in levels}
        for r in range(rounds):  # levels up, then down: the machine's load drifts
            order = [(m, n) for n in levels for m in MODES]
            for mode, n in order if r % 2 == 0 else list(reversed(order)):
                result = one_run(res, deps, functions, queue, records, mode, n, timeout)
                results[(mode, n)].append(result)
                progress(
                    f"{shape}, {mode} {n}: {result['messages_per_s']}/s, in flight at most "
                    f"{result['most_in_flight']}, environments {result['environments']}, lock waits "
                    f"{result['row_lock_waits']}, deadlocks {result['deadlocks']}, exactly once "
                    f"{result['ok']}, LocalStack CPU {result['localstack_cpu_s']} s, "
                    f"load {result['load_average']}"
                )
        summary = []
        for (mode, n), runs in results.items():
            rates = [r["messages_per_s"] for r in runs]
            summary.append(
                {
                    "mode": mode,
                    "writers": n,
                    "messages_per_s": round(statistics.median(rates)),
                    "messages_per_s_runs": rates,
                    "most_in_flight": max(r["most_in_flight"] for r in runs),
                    "environments": max(r["environments"] for r in runs),
                    "row_lock_waits": sum(r["row_lock_waits"] for r in runs),
                    "deadlocks": sum(r["deadlocks"] for r in runs),
                    "localstack_cpu_s_per_1000": round(
                        statistics.median(1000 * r["localstack_cpu_s"] / events for r in runs), 3
                    ),
                    "ok": all(r["ok"] for r in runs),
                    "deadlock_reports": [r["new_deadlock_report"] for r in runs if r["new_deadlock_report"]],
                }
            )
        out[shape] = summary
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--writers", default="1,2,3,4,5")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run_alone(
        run,
        "drain writers",
        events=args.events,
        levels=tuple(int(n) for n in args.writers.split(",")),
        rounds=args.rounds,
    )
