"""Counter at scale: full recount vs recounting only the changed chats, on 1M messages.

.local/venvs/app/bin/python -m tests.bench.counter_bench [--changed 10000]
"""

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.count_store import CountStore
from chalicelib.mysql import MySQL
from chalicelib.schema import Schema
from tests.bench import datagen

DATABASE = "chat_bench"


def timed(action, repeat: int = 3) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return round(statistics.median(runs), 3)


def run(changed_chats: int = 10_000, log=lambda line: print(line, file=sys.stderr)) -> dict:
    with datagen.connect("mysql") as root, root.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    mysql = MySQL(lambda: datagen.connect(DATABASE))
    Schema(mysql).migrate()
    db = CountStore(mysql)
    datagen.generate(datagen.connect(DATABASE), log=log)
    with datagen.connect(DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT application_id, number FROM chats")
        chats = cur.fetchall()

        def reset():
            cur.execute("UPDATE chats SET messages_count = 0")
            cur.execute("UPDATE applications SET chats_count = 0")

        full_all_changed = []
        for _ in range(3):
            reset()
            started = time.perf_counter()
            db.refresh_counts()
            full_all_changed.append(time.perf_counter() - started)
    changed = random.Random(7).sample(chats, changed_chats)

    def incremental():
        for i in range(0, len(changed), 1000):
            db.refresh_chat_counts(changed[i : i + 1000])

    result = {
        "messages": 1_000_000,
        "chats": len(chats),
        "full_recount_all_rows_changed_s": round(statistics.median(full_all_changed), 3),
        "full_recount_nothing_changed_s": timed(db.refresh_counts),
        "changed_chats": changed_chats,
        "incremental_s": timed(incremental),
    }
    log(
        f"full recount {result['full_recount_all_rows_changed_s']} s (nothing changed: "
        f"{result['full_recount_nothing_changed_s']} s); incremental, {changed_chats} chats: "
        f"{result['incremental_s']} s"
    )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--changed", type=int, default=10_000)
    print(json.dumps(run(parser.parse_args().changed), indent=2))
