"""One writer measurement at the template's batch size (100), with its same-run ceilings, from the
tree it runs in: run it in two checkouts in turn to compare the writer before and after a change
against the same stack (docs/performance.md, "The writer with feed positions, times and authors").

    PYTHONPATH=functions:. .local/venvs/app/bin/python -m tests.bench.writer_ab 10000
"""

import json
import sys

from tests.bench import common
from tests.bench import writer_bench as w


def main(events: int) -> None:
    common.ensure_database(common.WRITE_DB)
    deps = common.deps(index=w.INDEX)
    ids = w.reset_stores(deps)
    records = w.make_events(events, sorted({a for a, _ in ids}))
    point = w.sweep_point(deps, records, 100, slices=10, naive_seconds=0, progress=lambda m: None)
    print(json.dumps(point))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
