"""The writer's rate at 10M rows vs on an empty table (target: within 20 %), same run, interleaved.

"big": `chat_bench_big` (10M messages in 1M chats, tests/bench/datagen.py, made once and kept); the
events add messages to chats picked at random among its 1M, numbered on from each chat's last, so
the (chat_id, number) key takes them all over its range, as a busy product's does. "empty": the
writer bench's own database with no message yet, the same number of events over its 2,000 chats.
Slices of the events alternate between the two (batch 100, the template's), each into an index of
its own that starts empty, so what differs is MySQL's table size only. The big database's added
messages (number > 10) are deleted before and after.

    .local/venvs/app/bin/python -m tests.bench.writer_big_bench [--events 81000]
"""

import argparse
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.adapters.search import search_index
from chalicelib.domain import events
from tests.bench import common, counter_bench, datagen, writer_bench

BIG = counter_bench.BIG_DATABASE
BIG_INDEX = "bench-writer-big"
APPLICATIONS, CHATS_PER_APPLICATION, MESSAGES_PER_CHAT = 10_000, 100, 10


def prepare_big(progress) -> None:
    common.ensure_database(BIG)
    datagen.generate(datagen.connect(BIG), applications=APPLICATIONS, log=progress)
    remove_added()


def remove_added() -> None:
    with datagen.connect(BIG) as conn, conn.cursor() as cur:
        cur.execute(f"DELETE FROM messages WHERE number > {MESSAGES_PER_CHAT}")


def big_events(count: int, seed: int = 5) -> list[tuple[str, str]]:
    with datagen.connect(BIG) as conn, conn.cursor() as cur:
        cur.execute("SELECT MIN(id), MAX(id) FROM applications")
        low, high = cur.fetchone() or (1, 1)
    rng = random.Random(seed)
    next_number: dict[tuple[int, int], int] = {}
    out = []
    for i in range(count):
        chat = (rng.randint(low, high), rng.randint(1, CHATS_PER_APPLICATION))
        number = next_number[chat] = next_number.get(chat, MESSAGES_PER_CHAT) + 1
        body = " ".join(rng.choice(writer_bench.VOCABULARY) for _ in range(rng.randint(4, 12)))
        out.append((f"b-{i}", events.message_created(chat[0], chat[1], number, body)))
    return out


def run(events_count: int = 81_000, slice_size: int = 5_000, progress=print) -> dict[str, Any]:
    with counter_bench.buffer_pool(counter_bench.BIG_BUFFER_POOL):
        return _run(events_count, slice_size, progress)


def _run(events_count: int, slice_size: int, progress) -> dict[str, Any]:
    prepare_big(progress)
    common.ensure_database(common.WRITE_DB)
    empty_deps = common.deps(index=writer_bench.INDEX)
    ids = writer_bench.reset_stores(empty_deps)
    big_deps = common.deps(database=BIG, index=BIG_INDEX)
    es = big_deps.elasticsearch
    es.indices.delete(index=BIG_INDEX, ignore_unavailable=True)
    es.indices.create(index=BIG_INDEX, **search_index.index_body())
    contenders = {
        "empty": (empty_deps, writer_bench.make_events(events_count, sorted({a for a, _ in ids}))),
        "big": (big_deps, big_events(events_count)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    failures = dict.fromkeys(contenders, 0)
    for deps, records in contenders.values():  # connections, the index's first segment, caches
        writer_bench.writer_slice(deps, records[-1000:], 100)
        records[-1000:] = []
    measured = events_count - 1000
    for k, start in enumerate(range(0, measured, slice_size)):
        order = list(contenders) if k % 2 == 0 else list(contenders)[::-1]
        for name in order:
            deps, records = contenders[name]
            took, _, _, failed = writer_bench.writer_slice(deps, records[start : start + slice_size], 100)
            seconds[name].append(took)
            failures[name] += failed
    with datagen.connect(BIG) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM messages")
        big_rows = (cur.fetchone() or (0,))[0]
    remove_added()
    out: dict[str, Any] = {"events": events_count, "slice": slice_size, "big_table_rows": big_rows}
    for name in contenders:
        out[name] = {
            "messages_per_s": round(measured / sum(seconds[name])),
            "slice_messages_per_s_median": round(statistics.median(slice_size / s for s in seconds[name])),
            "slice_messages_per_s": [round(slice_size / s) for s in seconds[name]],
            "failures": failures[name],
        }
    out["big_to_empty"] = common.ratio(out["big"]["messages_per_s"], out["empty"]["messages_per_s"])
    out["big_to_empty_slice_medians"] = common.ratio(
        out["big"]["slice_messages_per_s_median"], out["empty"]["slice_messages_per_s_median"]
    )
    progress(
        f"writer at batch 100: empty table {out['empty']['messages_per_s']}/s, at {big_rows} rows "
        f"{out['big']['messages_per_s']}/s (ratio {out['big_to_empty']}; of the slices' medians "
        f"{out['big_to_empty_slice_medians']}); load {common.load_average()}"
    )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=81_000)
    args = parser.parse_args()
    print(json.dumps(run(args.events, progress=common.Progress("writer 10M")), indent=2))
