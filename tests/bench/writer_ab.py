"""One writer measurement at the template's batch size (100), with its same-run ceilings, from the
tree it runs in: `writer_trees` runs it in two trees in turn to compare the writer before and
after a change against the same stack (docs/performance.md, "The writer before and after").

    PYTHONPATH=functions:. .local/venvs/app/bin/python -m tests.bench.writer_ab [EVENTS] [DATABASE]

DATABASE (default `chat_bench_w`) is made with this tree's schema: a tree of before writes to a
database of its own, so each tree writes the table shape it knew.
"""

import json
import sys

from tests.bench import common
from tests.bench import writer_bench as w


def main(events: int, database: str) -> None:
    common.WRITE_DB = database  # the writer bench's helpers read it at each call
    common.ensure_database(database)
    deps = common.deps(database=database, index=w.INDEX)
    ids = w.reset_stores(deps)
    records = w.make_events(events, sorted({a for a, _ in ids}))
    point = w.sweep_point(deps, records, 100, slices=10, naive_seconds=0, progress=lambda m: None)
    print(json.dumps(point))


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
        sys.argv[2] if len(sys.argv) > 2 else common.WRITE_DB,
    )
