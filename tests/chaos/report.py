"""`python -m tests.chaos.report [results.jsonl] [--since "YYYY-MM-DD HH:MM:SS"]`: the runs recorded
(since that local time), as reliability.md's table."""

import argparse
import json

from tests.chaos import stack

COLUMNS = [
    "fault or test",
    "path",
    "N offered",
    "accepted",
    "refused",
    "persisted",
    "indexed",
    "lost",
    "told twice",
    "clashes detected",
    "dead-lettered",
    "recovery s",
    "ok",
]


def row(r: dict) -> list:
    refused = ", ".join(f"{n}×{status}" for status, n in r["refused"].items()) or "0"
    dead = f"{r['dead_lettered']}" + (
        f" ({r['dead_lettered_accepted']} accepted)" if r["dead_lettered_accepted"] else ""
    )
    return [
        r["name"],
        "HTTP" if r["path"].startswith("HTTP") else "in-process",
        r["offered"],
        r["accepted"],
        refused,
        r["persisted"],
        r["indexed"],
        r["lost"],
        r["duplicated"],
        r.get("clashes", ""),
        dead,
        r["recovery_seconds"] if r["recovery_seconds"] is not None else "",
        "yes" if r["ok"] else "NO",
    ]


def main(path: str, since: str = "") -> None:
    try:
        with open(path) as lines:
            rows = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        rows = []
    rows = [r for r in rows if r["at"] >= since]  # "YYYY-MM-DD HH:MM:SS" sorts as it reads
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(str(v) for v in row(r)) + " |")
    for r in rows:
        print(f"\n{r['at']} {r['name']} on {r['machine']}: " + "; ".join(r["notes"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.report")
    parser.add_argument("path", nargs="?", default="")
    parser.add_argument("--since", default="", help="only the runs recorded from this local time on")
    args = parser.parse_args()
    main(args.path or str(stack.target().state / "chaos" / "results.jsonl"), args.since)
