"""One writer measurement at the template's batch size (100), from the tree it runs in:
`writer_trees` runs it in two trees to compare the writer before and after a change against the
same stack (docs/performance.md, "The writer before and after").

    PYTHONPATH=functions:. .local/venvs/app/bin/python -m tests.bench.writer_ab \
        [EVENTS] [DATABASE] [--stepped SLICES]

DATABASE (default `chat_bench_w`) is made with this tree's schema: a tree of before writes to a
database of its own, so each tree writes the table shape it knew.

Without `--stepped`: the writer on each slice of the events, each followed by the bare INSERT
and `_bulk` loops of the same slice (`writer_bench.sweep_point`); one JSON line at the end.

With `--stepped SLICES`: the stores are made ready (an index of the database's own name, so two
trees' processes can be alive at once), "ready" is printed, then each line read from stdin
writes the next of SLICES slices of the events and answers one JSON line: its wall seconds, its
failures and the CPU seconds of this process and of each store meanwhile. The process that
reads the lines decides whose slice runs when, so two trees' slices can alternate.
"""

import hashlib
import json
import sys
import time

from tests.bench import common
from tests.bench import writer_bench as w


def _setup(events: int, database: str) -> tuple:
    common.WRITE_DB = database  # the writer bench's helpers read it at each call
    common.ensure_database(database)
    deps = common.deps(database=database, index=w.INDEX)
    ids = w.reset_stores(deps)
    return deps, bench_events(events, sorted({a for a, _ in ids}))


def bench_events(count: int, application_ids: list) -> list:
    """The writer bench's events, each with a create id as the API gives every create: the same
    id for the same record in every tree. Without one (as the writer bench makes them) a row's
    create id is NULL, its index costs nothing, and a tree that reads back stored create ids
    skips the read."""
    out = []
    for record_id, body in w.make_events(count, application_ids):
        event = json.loads(body)
        event.setdefault("create_id", hashlib.sha256(record_id.encode()).hexdigest()[:32])
        out.append((record_id, json.dumps(event)))
    return out


def main(events: int, database: str) -> None:
    deps, records = _setup(events, database)
    point = w.sweep_point(deps, records, 100, slices=10, naive_seconds=0, progress=lambda m: None)
    print(json.dumps(point))


def stepped(events: int, database: str, slices: int) -> None:
    w.INDEX, w.CEILING_INDEX = f"bench-writer-{database}", f"bench-ceiling-{database}"
    deps, records = _setup(events, database)
    per = -(-len(records) // slices)
    print(json.dumps({"ready": True}), flush=True)
    for i in range(slices):
        if not sys.stdin.readline():
            return
        part = records[i * per : (i + 1) * per]
        meter = common.Cpu(w.STORES).start()
        started = time.perf_counter()
        seconds, _, _, failures = w.writer_slice(deps, part, 100)
        wall = time.perf_counter() - started
        cpu = meter.stop()
        print(
            json.dumps({"events": len(part), "seconds": wall, "failures": failures, "cpu": cpu}), flush=True
        )
    rows, docs = w.counts(deps)
    print(json.dumps({"mysql_rows": rows, "es_docs": docs}), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    steps = 0
    if "--stepped" in args:
        at = args.index("--stepped")
        steps = int(args[at + 1])
        del args[at : at + 2]
    count = int(args[0]) if args else 10_000
    db = args[1] if len(args) > 1 else common.WRITE_DB
    if steps:
        stepped(count, db, steps)
    else:
        main(count, db)
