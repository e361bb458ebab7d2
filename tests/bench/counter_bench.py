"""Counter at scale: full recount vs recounting only the changed chats, on 1M messages (10M with
--big: 1M chats in a database of its own, `chat_bench_big`, generated once and kept).

.local/venvs/app/bin/python -m tests.bench.counter_bench [--changed 10000] [--big]
"""

import argparse
import contextlib
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.adapters.mysql.count_store import CountStore
from chalicelib.adapters.mysql.mysql import MySQL, placeholders
from chalicelib.adapters.mysql.schema import Schema
from tests.bench import common, datagen

DATABASE = "chat_bench"
BIG_DATABASE = "chat_bench_big"


def timed(action, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 3)


# The 10M tier's rows and indexes (~1.1 GB) in memory, as an Aurora instance of a size that carries
# such a table holds them; the stack's own 256 MB (local/stack/services.py) is for 1M. Measured:
# with 256 MB the writer ran at 0.53-0.59x its empty-table rate and the full recount took 26 s.
BIG_BUFFER_POOL = 2 << 30


@contextlib.contextmanager
def buffer_pool(size: int) -> Iterator[None]:
    """MariaDB's buffer pool at `size` meanwhile (resized online), then back."""
    with datagen.connect("mysql") as conn, conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        before = (cur.fetchone() or (0,))[0]
        cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {size}")
    try:
        yield
    finally:
        with datagen.connect("mysql") as conn, conn.cursor() as cur:
            cur.execute(f"SET GLOBAL innodb_buffer_pool_size = {before}")


def run(
    changed_chats: int = 10_000, big: bool = False, log=lambda line: print(line, file=sys.stderr)
) -> dict:
    if big:
        with buffer_pool(BIG_BUFFER_POOL):
            return _run(changed_chats, big, log)
    return _run(changed_chats, big, log)


# The full recount before the ranges (one statement per table), kept as the same-run baseline.
ONE_STATEMENT = (
    """UPDATE chats c
    LEFT JOIN (SELECT chat_id, COUNT(*) AS n FROM messages GROUP BY chat_id) m ON m.chat_id = c.id
    SET c.messages_count = COALESCE(m.n, 0)
    WHERE c.messages_count <> COALESCE(m.n, 0)""",
    """UPDATE applications a
    LEFT JOIN (SELECT application_id, COUNT(*) AS n FROM chats GROUP BY application_id) c
        ON c.application_id = a.id
    SET a.chats_count = COALESCE(c.n, 0)
    WHERE a.chats_count <> COALESCE(c.n, 0)""",
)


def _run(changed_chats: int, big: bool, log) -> dict:
    database = BIG_DATABASE if big else DATABASE
    with datagen.connect("mysql") as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    mysql = MySQL(lambda: datagen.connect(database))
    Schema(mysql).migrate()
    db = CountStore(mysql)
    generated = datagen.generate(datagen.connect(database), applications=10_000 if big else 1000, log=log)
    with datagen.connect(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, application_id, number FROM chats")
        chats = cur.fetchall()
        cur.execute("SELECT @@innodb_buffer_pool_size")
        buffer_pool_mib = (cur.fetchone() or (0,))[0] // 2**20
        changed = random.Random(7).sample(chats, changed_chats)

        def all_wrong():
            cur.execute("UPDATE chats SET messages_count = 0")
            cur.execute("UPDATE applications SET chats_count = 0")

        def some_wrong():
            for i in range(0, len(changed), 1000):
                ids = [c[0] for c in changed[i : i + 1000]]
                in_list = placeholders(len(ids), 1)
                cur.execute(
                    f"UPDATE chats SET messages_count = messages_count + 1 WHERE id IN ({in_list})", ids
                )

        def one_statement():
            return tuple(cur.execute(sql) for sql in ONE_STATEMENT)

        cases = {"all wrong": all_wrong, f"{changed_chats} wrong": some_wrong, "none wrong": lambda: None}
        recounts = {
            "ranges": db.refresh_counts,
            "ranges, 1 worker": lambda: db.refresh_counts(workers=1),
            "one statement (before)": one_statement,
        }
        runs: dict = {case: {name: [] for name in recounts} for case in cases}
        for rep in range(3):  # interleaved: the machine's load drifts
            for case, make_wrong in cases.items():
                for name, recount in recounts.items() if rep % 2 == 0 else reversed(recounts.items()):
                    db.refresh_counts()  # every count right, then the case's wrong ones
                    make_wrong()
                    cpu = common.Cpu(("mariadb",)).start()
                    started = time.perf_counter()
                    fixed = recount()
                    wall = time.perf_counter() - started
                    used = cpu.stop()
                    runs[case][name].append(
                        {
                            "wall_s": wall,
                            "mariadb_cpu_s": used["mariadb"],
                            "bench_cpu_s": used["bench"],
                            "fixed": fixed,
                        }
                    )
                    log(
                        f"{case}, {name}: {wall:.2f} s wall, MariaDB CPU {used['mariadb']:.2f} s, "
                        f"ours {used['bench']:.2f} s, fixed {fixed}, load {common.load_average()}"
                    )
        db.refresh_counts()

    keys = [(a, n) for _, a, n in changed]

    def incremental():
        for i in range(0, len(keys), 1000):
            db.refresh_chat_counts(keys[i : i + 1000])

    cpu = common.Cpu(("mariadb",)).start()
    incremental_s = timed(incremental)
    incremental_cpu = cpu.stop()["mariadb"] / 3
    full = {
        case: {
            name: {
                key: round(statistics.median(r[key] for r in results), 3)
                for key in ("wall_s", "mariadb_cpu_s", "bench_cpu_s")
            }
            | {"runs_wall_s": [round(r["wall_s"], 2) for r in results], "fixed": results[0]["fixed"]}
            for name, results in by_name.items()
        }
        for case, by_name in runs.items()
    }
    result = {
        "messages": generated["messages"],
        "chats": len(chats),
        "innodb_buffer_pool_mib": buffer_pool_mib,
        "load_average": common.load_average(),
        "full_recount": full,
        "full_recount_all_rows_changed_s": full["all wrong"]["ranges"]["wall_s"],
        "full_recount_mariadb_cpu_s": full["all wrong"]["ranges"]["mariadb_cpu_s"],
        "full_recount_nothing_changed_s": full["none wrong"]["ranges"]["wall_s"],
        "changed_chats": changed_chats,
        "incremental_s": incremental_s,
        "incremental_mariadb_cpu_s": round(incremental_cpu, 3),
    }
    log(
        f"full recount {result['full_recount_all_rows_changed_s']} s (nothing changed: "
        f"{result['full_recount_nothing_changed_s']} s; "
        f"MariaDB CPU {result['full_recount_mariadb_cpu_s']} s); incremental, {changed_chats} chats: "
        f"{result['incremental_s']} s (CPU {result['incremental_mariadb_cpu_s']} s); "
        f"buffer pool {buffer_pool_mib} MiB"
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--changed", type=int, default=10_000)
    parser.add_argument("--big", action="store_true", help="10M messages in 1M chats")
    args = parser.parse_args()
    print(json.dumps(run(args.changed, args.big), indent=2))
