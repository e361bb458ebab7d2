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


def load(path: Path) -> dict:
    """A bench's JSON, after the progress lines it printed first."""
    text = path.read_text()
    return json.loads(text[text.find("\n{") + 1 :] if not text.startswith("{") else text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("in_process", type=Path)
    parser.add_argument("deployed", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    report.plot_writers(load(args.in_process), load(args.deployed), args.out)
    print(args.out)
