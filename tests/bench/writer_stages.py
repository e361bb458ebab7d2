"""Where a writer batch's time goes, stage by stage, from the tree it runs in: `writer_trees
--stages` runs it in this tree and in the tree before, in turn, as it runs `writer_ab`.

The writer (`writer.persist_records`, batch 100) on the same events as `writer_ab`, with its
stages timed in the same process, wall and the CPU of the thread that ran each: the events'
parsing, the MySQL write (and in it each query's round trip, by its first word), the `_bulk`
(and in it the HTTP request), Redis' bookkeeping, and the batch in all; ms a batch (median and
mean over the batches). The timers wrap a few calls a batch, in each tree alike.

    PYTHONPATH=functions:. .local/venvs/app/bin/python -m tests.bench.writer_stages [EVENTS] [DATABASE]
"""

import collections
import json
import statistics
import sys
import time
from typing import Any

import elasticsearch
import pymysql.cursors

from chalicelib.domain import events
from chalicelib.usecases import writer
from tests.bench import common
from tests.bench import writer_bench as w
from tests.bench.writer_ab import bench_events


class Stages:
    """Wall seconds of each stage, per batch: {stage: [seconds of batch 1, batch 2, ...]}."""

    def __init__(self) -> None:
        self.batch: collections.defaultdict[str, float] = collections.defaultdict(float)
        self.batches: list[collections.defaultdict[str, float]] = []

    def add(self, stage: str, seconds: float) -> None:
        self.batch[stage] += seconds

    def wrap(self, owner: Any, name: str, stage: str | None = None, by_first_word: bool = False) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                label = stage or name
                if by_first_word:
                    sql = args[1] if len(args) > 1 else kwargs.get("query", "")
                    label = f"{stage}:{str(sql).split(None, 1)[0].upper() if sql else '?'}"
                self.add(label, time.perf_counter() - started)
                self.add(f"{label} (its thread's CPU)", time.thread_time() - cpu)

        setattr(owner, name, timed)

    def next_batch(self) -> None:
        self.batches.append(self.batch)
        self.batch = collections.defaultdict(float)

    def summary(self) -> dict[str, dict[str, float]]:
        names = sorted({k for b in self.batches for k in b})
        return {
            name: {
                "median_ms": round(1000 * statistics.median(b[name] for b in self.batches), 3),
                "mean_ms": round(1000 * statistics.fmean(b[name] for b in self.batches), 3),
            }
            for name in names
        }


def main(events_count: int, database: str) -> None:
    common.WRITE_DB = database
    common.ensure_database(database)
    deps = common.deps(database=database, index=w.INDEX)
    ids = w.reset_stores(deps)
    records = bench_events(events_count, sorted({a for a, _ in ids}))
    stages = Stages()
    search = getattr(deps, "indexer", None) or deps.search  # the tree before called it `search`
    stages.wrap(events, "parse")
    stages.wrap(deps.batches, "persist", "mysql")
    stages.wrap(search, "index", "es")
    stages.wrap(elasticsearch.Elasticsearch, "bulk", "es:http")
    stages.wrap(deps.changes, "record_persisted", "redis")
    stages.wrap(pymysql.cursors.Cursor, "execute", "sql", by_first_word=True)
    stages.wrap(pymysql.cursors.Cursor, "nextset", "sql:nextset")
    cpu = 0.0
    for batch in w.batches(records, 100):
        started, thread_started = time.perf_counter(), time.thread_time()
        failed = writer.persist_records(deps, batch)
        stages.add("batch", time.perf_counter() - started)
        cpu += time.thread_time() - thread_started
        assert not failed, failed
        stages.next_batch()
    out = stages.summary()
    out["writer_thread_cpu"] = {"mean_ms": round(1000 * cpu / len(stages.batches), 3)}
    print(json.dumps(out))


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
        sys.argv[2] if len(sys.argv) > 2 else common.WRITE_DB,
    )
