"""Search at 1M messages: `Search.find` (the adapter the API calls) on one chat at a time.

The 1M messages of `chat_bench` (tests/bench/datagen.py) are indexed once into `bench-messages-1m`
with the product's mapping (trigrams) through `helpers.parallel_bulk`, and reused while the count
matches. Queries pick a random chat and a word (or two words) its messages may hold.

    .local/venvs/app/bin/python -m tests.bench.search_bench [--queries 300]
"""

import argparse
import json
import random
import time
from typing import Any

from elasticsearch import Elasticsearch, helpers

from chalicelib import search
from tests.bench import common

INDEX = "bench-messages-1m"
MESSAGES = 1_000_000


def ensure_data(progress) -> None:
    common.ensure_database(common.DATA_DB)
    with common.datagen.connect(common.DATA_DB) as conn:
        result = common.datagen.generate(conn, log=progress)
    if "seconds" in result:
        progress(f"generated {result['messages']} messages in {result['seconds']} s")


def _docs():
    with (
        common.datagen.connect(common.DATA_DB) as conn,
        conn.cursor(common.datagen.pymysql.cursors.SSCursor) as cur,
    ):
        cur.execute(
            "SELECT c.application_id, c.number, m.number, m.body FROM messages m "
            "JOIN chats c ON c.id = m.chat_id"
        )
        for app_id, chat, number, body in cur:
            yield {
                "_index": INDEX,
                "_id": search.doc_id(app_id, chat, number),
                "_source": {
                    "application_id": app_id,
                    "chat_number": chat,
                    "number": number,
                    "body": body,
                },
            }


def ensure_index(es: Elasticsearch, progress) -> dict:
    """Indexes the 1M messages unless the index already holds them; returns what it did."""
    if es.indices.exists(index=INDEX):
        es.indices.refresh(index=INDEX)
        if es.count(index=INDEX)["count"] == MESSAGES:
            progress(f"reusing {INDEX} ({MESSAGES} docs)")
            return {"reused": True}
        es.indices.delete(index=INDEX)
    settings = {**search.INDEX_BODY["settings"], "refresh_interval": "-1"}  # bulk load, then refresh
    es.indices.create(index=INDEX, settings=settings, mappings=search.INDEX_BODY["mappings"])
    started, done = time.monotonic(), 0
    for ok, item in helpers.parallel_bulk(es, _docs(), thread_count=2, chunk_size=2000, queue_size=4):
        if not ok:
            raise RuntimeError(f"indexing failed: {item}")
        done += 1
        if done % 100_000 == 0:
            progress(f"indexed {done} ({done / (time.monotonic() - started):.0f} docs/s)")
    es.indices.put_settings(index=INDEX, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=INDEX)
    es.options(request_timeout=600).indices.forcemerge(index=INDEX, max_num_segments=1)
    seconds = time.monotonic() - started
    progress(f"indexed {done} docs in {seconds:.0f} s")
    return {"reused": False, "seconds": round(seconds, 1), "docs_per_s": round(done / seconds)}


def run(queries: int = 300, progress=print) -> dict:
    ensure_data(progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    built = ensure_index(es, progress)
    finder = search.Search(es, INDEX)
    with common.datagen.connect(common.DATA_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT application_id, number FROM chats")
        chats = cur.fetchall()
    rng = random.Random(11)
    words = common.datagen.WORDS
    kinds = {
        "single word": lambda: rng.choice(words),
        "two words": lambda: f"{rng.choice(words)} {rng.choice(words)}",
        "partial word": lambda: rng.choice(words)[1:5],
    }
    for _ in range(20):  # warm the caches, as a running service has them
        app_id, chat = rng.choice(chats)
        finder.find(app_id, chat, kinds["single word"](), 20)
    out: dict[str, Any] = {"messages": MESSAGES, "index": INDEX, "index_build": built}
    for name, make in kinds.items():
        timings, hits = [], 0
        for _ in range(queries):
            app_id, chat = rng.choice(chats)
            q = make()
            started = time.perf_counter()
            hits += len(finder.find(app_id, chat, q, 20))
            timings.append((time.perf_counter() - started) * 1000)
        out[name] = {**common.latency(timings), "mean_hits": round(hits / queries, 1)}
        progress(
            f"{name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms "
            f"({out[name]['mean_hits']} hits on average)"
        )
    out["p99_ms"] = max(out[name]["p99_ms"] for name in kinds)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(run(args.queries, progress=common.Progress("search")), indent=2))
