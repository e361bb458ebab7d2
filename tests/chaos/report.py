"""`python -m tests.chaos.report [results.jsonl]`: the runs recorded so far, as reliability.md's table."""

import json
import sys

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


def main(path: str) -> None:
    with open(path) as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(str(v) for v in row(r)) + " |")
    for r in rows:
        print(f"\n{r['at']} {r['name']} on {r['machine']}: " + "; ".join(r["notes"]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(stack.target().state / "chaos" / "results.jsonl"))
