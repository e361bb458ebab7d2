"""The reindex's page query on wide rows: 10,000 messages of 64 KB bodies (~660 MB), page 2,000.

The query as it was (MariaDB read every chat first, joined every message after the cursor and
sorted them, bodies and all, before the LIMIT) against stored_messages' STRAIGHT_JOIN version,
interleaved, a first page and a middle one, on a database of its own (`chat_bench_bodies`, made
once in ~30 s and kept). Prints both plans (EXPLAIN) and the medians.

    .local/venvs/app/bin/python -m tests.bench.reindex_page_bench [--rounds 3]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.adapters.mysql.mysql import MySQL, first
from chalicelib.adapters.mysql.schema import Schema
from chalicelib.adapters.mysql.stored_messages import SELECT_PAGE
from tests.bench import common, datagen

DATABASE = "chat_bench_bodies"
BODY_BYTES = 65_000  # TEXT holds 65,535
PAGE = 2000
BEFORE = SELECT_PAGE.replace("SELECT STRAIGHT_JOIN ", "SELECT ")


def prepare(log) -> None:
    """`chat_bench` (1M messages of a line, made by the other benches) and `chat_bench_bodies`:
    100,000 messages in 10,000 chats, one in ten 64 KB long (~660 MB)."""
    datagen.generate(datagen.connect("chat_bench"), log=log)
    with datagen.connect("mysql") as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    Schema(MySQL(lambda: datagen.connect(DATABASE))).migrate()
    conn = datagen.connect(DATABASE)
    datagen.generate(conn, applications=100, chats_per_application=100, messages_per_chat=10, log=log)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM messages WHERE LENGTH(body) = %s", (BODY_BYTES,))
        if not first(cur):
            cur.execute(
                "UPDATE messages SET body = RPAD(body, %s, CONCAT(' lorem ', id)) WHERE MOD(id, 10) = 0",
                (BODY_BYTES,),
            )


def _size(cur, database: str) -> int:
    cur.execute(
        "SELECT data_length + index_length FROM information_schema.tables "
        "WHERE table_schema = %s AND table_name = 'messages'",
        (database,),
    )
    return int(first(cur))


def run(rounds: int = 3, log=lambda line: print(line, file=sys.stderr)) -> dict:
    prepare(log)
    out: dict = {"page": PAGE, "load_average": common.load_average()}
    queries = {"before": BEFORE, "STRAIGHT_JOIN": SELECT_PAGE}
    for database in ("chat_bench", DATABASE):
        with datagen.connect(database) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*), MAX(id) FROM messages")
            count, last = cur.fetchone() or (0, 0)
            part: dict = {"messages": count, "table_bytes": _size(cur, database), "plans": {}}
            for name, sql in queries.items():
                cur.execute("EXPLAIN " + sql, (0, PAGE))
                part["plans"][name] = [" ".join(str(v) for v in row) for row in cur.fetchall()]
            times: dict = {
                f"{name}, {where}": [] for name in queries for where in ("first page", "middle page")
            }
            for r in range(rounds):
                for name, sql in list(queries.items())[:: 1 if r % 2 == 0 else -1]:
                    for where, after in (("first page", 0), ("middle page", last // 2)):
                        cpu = common.Cpu(("mariadb",)).start()
                        started = time.perf_counter()
                        cur.execute(sql, (after, PAGE))
                        rows = cur.fetchall()
                        wall = time.perf_counter() - started
                        used = cpu.stop()
                        assert len(rows) == PAGE and rows[0][0] > after
                        times[f"{name}, {where}"].append((wall, used["mariadb"]))
                        log(
                            f"{database}, {name}, {where}: {wall:.2f} s, "
                            f"MariaDB CPU {used['mariadb']:.2f} s, load {common.load_average()}"
                        )
            part["median"] = {
                key: {
                    "wall_s": round(statistics.median(w for w, _ in runs), 3),
                    "mariadb_cpu_s": round(statistics.median(c for _, c in runs), 3),
                    "runs_wall_s": [round(w, 2) for w, _ in runs],
                }
                for key, runs in times.items()
            }
            out[database] = part
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    print(json.dumps(run(parser.parse_args().rounds), indent=2))
