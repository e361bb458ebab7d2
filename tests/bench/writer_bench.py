"""Writer throughput, in-process: `writer.handle` on SQS-shaped batches from 100k queued events.

The events stand in for a queue pre-filled with 100k message creations (the receive itself is
LocalStack's and is measured end to end in `drain_bench`). Against real MariaDB, Elasticsearch and
Redis, the same run measures, on the same rows:
  - the writer at several batch sizes (the template's is 100);
  - a naive per-message path: one INSERT and one ES index call per message;
  - the bare ceilings: a loop of plain multi-row INSERTs, a loop of bare `_bulk` calls, and the
    two loops at once (two threads), which bounds any writer of both stores on this machine.

    .local/venvs/app/bin/python -m tests.bench.writer_bench [--events 100000] [--sizes 10,100,1000]
"""

import argparse
import json
import random
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.adapters.search import search_index
from chalicelib.domain import events
from chalicelib.domain.models import Author
from chalicelib.usecases import writer
from tests.bench import common

INDEX = "bench-writer"
CEILING_INDEX = "bench-ceiling"
APPLICATIONS, CHATS_PER_APPLICATION = 20, 100
# datagen's words and more: bodies of several lengths and vocabulary.
VOCABULARY = [
    *common.datagen.WORDS,
    "schedule",
    "budget",
    "report",
    "design",
    "kitchen",
    "garden",
    "holiday",
    "ticket",
    "office",
    "morning",
    "evening",
    "update",
]


# Who sends: the application's backend and two users, in turn (each event carries its accept
# instant and author, as the API queues them).
AUTHORS = [None, Author("u-ana", "Ana"), Author("u-ben", "Ben Okafor")]
ACCEPTED_MS = 1_765_000_000_000


def make_events(count: int, application_ids: list, seed: int = 5) -> list:
    """Message creations spread at random over the chats, numbered in order within each chat."""
    rng = random.Random(seed)
    next_number: dict[Any, int] = {}
    out = []
    for i in range(count):
        chat = (rng.choice(application_ids), rng.randint(1, CHATS_PER_APPLICATION))
        number = next_number[chat] = next_number.get(chat, 0) + 1
        body = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(4, 12)))
        author = AUTHORS[i % len(AUTHORS)]
        created = events.message_created(chat[0], chat[1], number, body, None, ACCEPTED_MS + i, author)
        out.append((f"m-{i}", created))
    return out


def batches(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Timed:
    """Wraps an adapter and adds up the seconds spent in the named methods."""

    def __init__(self, inner, names):
        self._inner, self._names, self.seconds = inner, set(names), 0.0

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if name not in self._names:
            return attr

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


# -- set-up --------------------------------------------------------------------------------------

CEILING_TABLE = "messages_ceiling"
STORES = ("mariadb", "elasticsearch", "redis")  # whose CPU the writer's work costs


def reset_stores(deps) -> dict:
    """Empty tables holding the applications and chats the events name (chats exist before their
    messages, as in the API); fresh indexes. Returns {(application_id, chat_number): chat id}."""
    common.empty_tables(common.WRITE_DB)
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        # The ceiling's table: the messages table's columns, keys and foreign key, and nothing else.
        cur.execute(f"DROP TABLE IF EXISTS {CEILING_TABLE}")
        cur.execute(f"CREATE TABLE {CEILING_TABLE} LIKE messages")
        cur.execute(f"ALTER TABLE {CEILING_TABLE} ADD FOREIGN KEY (chat_id) REFERENCES chats (id)")
        cur.executemany(
            "INSERT INTO applications (token, name) VALUES (SHA2(%s, 256), %s)",
            [(f"bench-w-{i}", f"writer bench {i}") for i in range(APPLICATIONS)],
        )
        cur.execute(
            "INSERT INTO chats (application_id, number) SELECT a.id, s.i + 1 FROM applications a "
            f"CROSS JOIN {common.datagen.seq(CHATS_PER_APPLICATION)}"
        )
        cur.execute("SELECT application_id, number, id FROM chats")
        ids = {(a, n): i for a, n, i in cur.fetchall()}
    es = deps.elasticsearch
    for index in (INDEX, CEILING_INDEX):
        es.indices.delete(index=index, ignore_unavailable=True)
        es.indices.create(index=index, **search_index.index_body())
    deps.redis.flushdb()
    return ids


def counts(deps) -> tuple:
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM messages")
        rows = (cur.fetchone() or (0,))[0]
    deps.elasticsearch.indices.refresh(index=INDEX)
    return rows, deps.elasticsearch.count(index=INDEX)["count"]


def parsed_rows(records: list, ids: dict) -> list:
    """(chat id, number, body, version, doc id, document) of each event, for the baselines."""
    out = []
    for _, body in records:
        e = json.loads(body)
        out.append(
            (
                ids[(e["application_id"], e["chat_number"])],
                e["number"],
                e["body"],
                1,
                search_index.doc_id(e["application_id"], e["chat_number"], e["number"]),
                search_index.document(e["application_id"], e["chat_number"], e["number"], e["body"]),
            )
        )
    return out


# -- the contenders, each run on one slice of the events -------------------------------------------


def writer_slice(deps, records: list, size: int) -> tuple:
    """The writer on batches as the event source delivers them; returns (seconds, mysql s, es s, failures).
    The MySQL and ES seconds overlap: the writer makes both writes of a batch at once."""
    db, es = Timed(deps.batches, ["persist", "current_messages"]), Timed(deps.indexer, ["index"])
    timed_deps = deps.replace(batches=db, indexer=es)
    failures = 0
    started = time.perf_counter()
    for batch in batches(records, size):
        failures += len(writer.persist_records(timed_deps, batch))
    return time.perf_counter() - started, db.seconds, es.seconds, failures


def mysql_ceiling_slice(cur, rows: list, size: int) -> float:
    """A loop of plain multi-row INSERTs (pymysql makes executemany one statement), autocommit."""
    started = time.perf_counter()
    for batch in batches(rows, size):
        cur.executemany(
            f"INSERT INTO {CEILING_TABLE} (chat_id, number, body, version) VALUES (%s, %s, %s, %s)",
            [r[:4] for r in batch],
        )
    return time.perf_counter() - started


def _routing(row: tuple) -> str:
    return search_index.routing(row[5]["application_id"], row[5]["chat_number"])


def bulk_ceiling_slice(es, rows: list, size: int) -> float:
    """A loop of bare `_bulk` calls: index actions, no versions, no client helpers."""
    started = time.perf_counter()
    for batch in batches(rows, size):
        operations = []
        for r in batch:
            operations += [{"index": {"_index": CEILING_INDEX, "_id": r[4], "routing": _routing(r)}}, r[5]]
        if es.bulk(operations=operations)["errors"]:
            raise RuntimeError("the bare _bulk loop had errors")
    return time.perf_counter() - started


def both_ceilings_slice(cur, es, rows: list, size: int) -> float:
    """The two bare loops at once, one in a thread of its own: the most any writer of both stores
    could get from this machine, with none of its own work (parsing, Redis, failure handling)."""
    rows = _other_rows(rows, "both", 100_000_000)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        bulk = pool.submit(bulk_ceiling_slice, es, rows, size)
        mysql_ceiling_slice(cur, rows, size)
        bulk.result()
    return time.perf_counter() - started


def naive_slice(cur, es, rows: list, seconds_budget: float) -> tuple:
    """What a synchronous API would do per message: one INSERT, one ES index call."""
    done, started = 0, time.perf_counter()
    for r in rows:
        cur.execute(
            f"INSERT INTO {CEILING_TABLE} (chat_id, number, body, version) VALUES (%s, %s, %s, %s)", r[:4]
        )
        es.index(
            index=CEILING_INDEX,
            id=r[4],
            routing=_routing(r),
            document=r[5],
            version=1,
            version_type="external",
        )
        done += 1
        if time.perf_counter() - started > seconds_budget:
            break
    return time.perf_counter() - started, done


def sweep_point(deps, records: list, size: int, slices: int, naive_seconds: float, progress) -> dict:
    """Writer, both ceilings (and the naive path) on each slice of the events in turn, so that
    the machine's other load falls on all of them alike."""
    ids = reset_stores(deps)
    rows = parsed_rows(records, ids)
    per = -(-len(records) // slices)
    t = dict(
        writer=0.0,
        mysql=0.0,
        es=0.0,
        failures=0,
        ceiling_mysql=0.0,
        ceiling_bulk=0.0,
        ceiling_both=0.0,
        naive=0.0,
        naive_done=0,
    )
    cpu: dict[str, dict[str, Any]] = {"writer": {}, "ceiling_mysql": {}, "ceiling_bulk": {}}
    es_client = deps.elasticsearch
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        for i in range(slices):
            part, part_rows = records[i * per : (i + 1) * per], rows[i * per : (i + 1) * per]
            meter = common.Cpu(STORES).start()
            seconds, mysql_s, es_s, failures = writer_slice(deps, part, size)
            _add(cpu["writer"], meter.stop())
            slice_rate = len(part) / seconds
            t["writer"] += seconds
            t["mysql"] += mysql_s
            t["es"] += es_s
            t["failures"] += failures
            meter = common.Cpu(STORES).start()
            t["ceiling_mysql"] += mysql_ceiling_slice(cur, part_rows, size)
            _add(cpu["ceiling_mysql"], meter.stop())
            meter = common.Cpu(STORES).start()
            t["ceiling_bulk"] += bulk_ceiling_slice(es_client, part_rows, size)
            _add(cpu["ceiling_bulk"], meter.stop())
            t["ceiling_both"] += both_ceilings_slice(cur, es_client, part_rows, size)
            if naive_seconds:
                # The naive rows go to the ceiling's table and index, after their own ceiling ran.
                seconds, done = naive_slice(
                    cur,
                    es_client,
                    _other_rows(part_rows, "naive", 1_000_000 * (i + 1)),
                    naive_seconds / slices,
                )
                t["naive"] += seconds
                t["naive_done"] += done
            progress(f"batch {size}, slice {i + 1}/{slices}: writer {slice_rate:.0f}/s")
    rows_written, docs = counts(deps)
    n = len(records)
    point = {
        "batch_size": size,
        "events": n,
        "seconds": round(t["writer"], 2),
        "messages_per_s": round(n / t["writer"]),
        "failures": t["failures"],
        "mysql_rows": rows_written,
        "es_docs": docs,
        "mysql_s": round(t["mysql"], 2),
        "es_s": round(t["es"], 2),
        "ceiling_mysql_rows_per_s": round(n / t["ceiling_mysql"]),
        "ceiling_bulk_docs_per_s": round(n / t["ceiling_bulk"]),
        "ceiling_both_at_once_per_s": round(n / t["ceiling_both"]),
        "cpu_ms_per_message": {
            k: {name: round(1000 * s / n, 3) for name, s in v.items()} for k, v in cpu.items()
        },
    }
    point["ratio_to_slower_ceiling"] = common.ratio(
        point["messages_per_s"], min(point["ceiling_mysql_rows_per_s"], point["ceiling_bulk_docs_per_s"])
    )
    point["ratio_to_both_at_once"] = common.ratio(
        point["messages_per_s"], point["ceiling_both_at_once_per_s"]
    )
    point["both_at_once_to_slower_ceiling"] = common.ratio(
        point["ceiling_both_at_once_per_s"],
        min(point["ceiling_mysql_rows_per_s"], point["ceiling_bulk_docs_per_s"]),
    )
    if naive_seconds:
        point["naive"] = {
            "messages": t["naive_done"],
            "seconds": round(t["naive"], 2),
            "messages_per_s": round(t["naive_done"] / t["naive"]),
        }
    return point


def _other_rows(rows: list, tag: str, offset: int) -> list:
    # Other message numbers and document ids than the ceilings used: new rows and documents too.
    return [(r[0], r[1] + offset, r[2], r[3], f"{tag}:{r[4]}", r[5]) for r in rows]


def _add(total: dict, part: dict) -> None:
    for name, seconds in part.items():
        total[name] = total.get(name, 0.0) + seconds


def peak_memory(deps, records: list, sizes: list) -> dict:
    """tracemalloc's peak while the writer handles one batch of each size (input excluded)."""
    out = {}
    for size in sizes:
        batch = records[:size]
        tracemalloc.start()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        writer.persist_records(deps, batch)
        out[str(size)] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 2)
        tracemalloc.stop()
    return out


def run(
    events_count: int = 100_000,
    sizes=(10, 100, 1000),
    sweep_events: int = 20_000,
    naive_seconds: float = 10.0,
    progress=print,
) -> dict:
    common.ensure_database(common.WRITE_DB)
    deps = common.deps(index=INDEX)
    ids = reset_stores(deps)
    records = make_events(events_count, sorted({a for a, _ in ids}))
    progress(f"{len(records)} events over {len(ids)} chats; other batch sizes on the first {sweep_events}")
    points = []
    for size in sizes:
        template = size == 100
        part = records if template else records[:sweep_events]
        point = sweep_point(
            deps,
            part,
            size,
            slices=10 if template else 2,
            naive_seconds=naive_seconds if template else 0,
            progress=progress,
        )
        points.append(point)
        progress(
            f"batch {size}: writer {point['messages_per_s']}/s (MySQL {point['mysql_s']} s and "
            f"ES {point['es_s']} s at once; {point['mysql_rows']} rows, "
            f"{point['es_docs']} docs, {point['failures']} failed); ceilings: INSERT "
            f"{point['ceiling_mysql_rows_per_s']}/s, _bulk {point['ceiling_bulk_docs_per_s']}/s, "
            f"both at once {point['ceiling_both_at_once_per_s']}/s"
        )
    at_template = next(p for p in points if p["batch_size"] == 100)
    reset_stores(deps)
    memory = peak_memory(deps, records, [100, 1000, 10000])
    progress(f"tracemalloc peak per batch (MiB): {memory}")
    return {
        "events": events_count,
        "driven": "in-process: writer.handle on SQS-shaped batches",
        "points": points,
        "naive": at_template["naive"],
        "template_batch_size": 100,
        "messages_per_s": at_template["messages_per_s"],
        "ratio_to_naive": common.ratio(
            at_template["messages_per_s"], at_template["naive"]["messages_per_s"], 1
        ),
        "ratio_to_slower_ceiling": at_template["ratio_to_slower_ceiling"],
        "ratio_to_both_at_once": at_template["ratio_to_both_at_once"],
        "both_at_once_to_slower_ceiling": at_template["both_at_once_to_slower_ceiling"],
        "peak_traced_mib_per_batch": memory,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--sweep-events", type=int, default=20_000)
    args = parser.parse_args()
    result = run(
        args.events,
        [int(s) for s in args.sizes.split(",")],
        args.sweep_events,
        progress=common.Progress("writer"),
    )
    print(json.dumps(result, indent=2))
