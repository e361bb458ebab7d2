"""What the sweep's index costs MariaDB in the writer's chats `UPDATE` of a batch (~98 chats of
2,000 moved, as `message_rows.ADVANCE_CHATS` writes it, in its transaction), with the index on
`updated_at` itself, which every update moves, and on its minute (`ix_chats_updated_minute`),
which a chat written more than once a minute moves once a minute: each shape in turn on one
connection, rounds alternating, MariaDB's CPU (from /proc) and the wall time per batch. A run
lasts seconds, so this is the busy chat's case; a chat written less often than once a minute
moves either index on every write.

It works in a database of its own (`chat_bench_ix`, made with this tree's schema, dropped
after) and writes `.local/bench/writer-indexes-<time>.json`.

    PYTHONPATH=functions:. .local/venvs/app/bin/python -m tests.bench.writer_indexes [--rounds 3]
"""

import argparse
import json
import random
import statistics
import time

from chalicelib.adapters.mysql.message_rows import ADVANCE_CHATS
from tests.bench import common, datagen

DATABASE = "chat_bench_ix"
CHATS = 2_000
BATCHES = 300
CHAT_SHAPES = {
    "updated_at": "ALTER TABLE chats DROP KEY ix_chats_updated_minute, "
    "ADD KEY ix_chats_updated_at (updated_at)",
    "updated_minute": "ALTER TABLE chats DROP KEY ix_chats_updated_at, "
    "ADD KEY ix_chats_updated_minute (updated_minute)",
}


def _timed(cur, statements: list[str]) -> tuple[float, float]:
    """MariaDB's CPU ms and wall ms a statement (each in a transaction of its own)."""
    meter, wall = common.Cpu(("mariadb",)).start(), time.perf_counter()
    for sql in statements:
        cur.execute("BEGIN")
        cur.execute(sql)
        cur.execute("COMMIT")
    n = len(statements)
    return meter.stop()["mariadb"] * 1000 / n, (time.perf_counter() - wall) * 1000 / n


def _chat_updates(rng: random.Random, ids: list[int], state: dict[int, int]) -> list[str]:
    out = []
    for _ in range(BATCHES):
        chosen = sorted({rng.choice(ids) for _ in range(100)})
        for c in chosen:
            state[c] += 1
        values, listed = ", ".join(str(state[c]) for c in chosen), ", ".join(map(str, chosen))
        out.append(ADVANCE_CHATS.format(values, values, values, at=f"FIELD(id, {listed})", ids=listed))
    return out


def _ready(cur) -> list[int]:
    cur.execute("INSERT INTO applications (token, name) VALUES (SHA2(UUID(), 256), 'index bench')")
    cur.execute(
        "INSERT INTO chats (application_id, number) SELECT LAST_INSERT_ID(), s.i + 1 "
        f"FROM {datagen.seq(10_000)} WHERE s.i < {CHATS}"
    )
    cur.execute("SELECT id FROM chats")
    return [row[0] for row in cur.fetchall()]


def run(rounds: int = 3, progress=print) -> dict:
    common.root_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    common.ensure_database(DATABASE)
    rng = random.Random(7)
    out: dict = {"chats_update": {s: [] for s in CHAT_SHAPES}}
    try:
        with datagen.connect(DATABASE) as conn, conn.cursor() as cur:
            ids = _ready(cur)
            state = dict.fromkeys(ids, 0)
            current = "updated_minute"  # as the schema makes it
            for r in range(rounds):
                for shape in CHAT_SHAPES if r % 2 == 0 else reversed(CHAT_SHAPES):
                    if shape != current:
                        cur.execute(CHAT_SHAPES[shape])
                        current = shape
                    out["chats_update"][shape].append(_timed(cur, _chat_updates(rng, ids, state)))
                progress(f"round {r + 1}: {json.dumps(_medians(out))}")
    finally:
        common.root_sql(f"DROP DATABASE IF EXISTS {DATABASE}")
    result = {"rounds": rounds, "batches": BATCHES, "medians": _medians(out), "runs": out}
    common.OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = common.OUT_DIR / f"writer-indexes-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(result, indent=2))
    progress(f"every run: {path}")
    return result


def _medians(out: dict) -> dict:
    return {
        statement: {
            shape: {
                "mariadb_cpu_ms": round(statistics.median(c for c, _ in pairs), 2),
                "wall_ms": round(statistics.median(w for _, w in pairs), 2),
            }
            for shape, pairs in shapes.items()
            if pairs
        }
        for statement, shapes in out.items()
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(run(parser.parse_args().rounds)["medians"], indent=2))
