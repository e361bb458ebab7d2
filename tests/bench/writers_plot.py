"""The plot of throughput vs writers (docs/writers.png) from the two benches' JSON output.

    PY=.local/venvs/app/bin/python
    $PY -m tests.bench.writers_bench > .local/bench/writers.json
    $PY -m tests.bench.drain_writers_bench > .local/bench/drain-writers.json
    $PY -m tests.bench.writers_plot .local/bench/writers.json .local/bench/drain-writers.json
"""

import argparse
import json
from pathlib import Path

from tests.bench import report

OUT = Path(__file__).resolve().parents[2] / "docs" / "writers.png"

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("in_process", type=Path)
    parser.add_argument("deployed", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    report.plot_writers(
        json.loads(args.in_process.read_text()), json.loads(args.deployed.read_text()), args.out
    )
    print(args.out)
