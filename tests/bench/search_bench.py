"""Search at 1M messages, and what the search design costs (issues 16, 11 item 4, 13 item 2).

    .local/venvs/app/bin/python -m tests.bench.search_bench [--queries 300] [--only kinds,worst,writer]

- **kinds**: the 1M messages of `chat_bench` (tests/bench/datagen.py), each with one of a few
  multilingual snippets appended (so CJK, codes and emoji have something to find), indexed once
  into `bench-messages-1m` with the product's mapping and routing, and into
  `bench-messages-1m-trigram` with the mapping of before (trigrams only, commit a3c4d9c) for the
  index size and bulk rate before and after; both are reused while their mapping is unchanged.
  `Search.find` (what the API calls) on a random chat for each query kind.
- **worst**: one more chat in the same index holding 1,000 bodies of 64 KB made of a dozen words,
  so that every query matches every body or nearly does; queries chosen to be expensive.
- **writer**: `writer.handle` on the same events alternately into an index of each mapping, in
  slices, so the machine's other load falls on both alike.
"""

import argparse
import hashlib
import json
import random
import statistics
import time
from typing import Any

from elasticsearch import Elasticsearch, helpers

from chalicelib import search, search_terms
from tests.bench import common, search_quality_before, writer_bench

BEFORE_COMMIT = "a3c4d9c"
INDEX = "bench-messages-1m"
BEFORE_INDEX = "bench-messages-1m-trigram"
MESSAGES = 1_000_000
# The mapping of before (a3c4d9c): trigrams of letters and digits, folded after the cut.
BEFORE_INDEX_BODY = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "tokenizer": {
                "trigram": {"type": "ngram", "min_gram": 3, "max_gram": 3, "token_chars": ["letter", "digit"]}
            },
            "analyzer": {
                "trigram": {"type": "custom", "tokenizer": "trigram", "filter": ["lowercase", "asciifolding"]}
            },
        },
    },
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "application_id": {"type": "long"},
            "chat_number": {"type": "integer"},
            "number": {"type": "integer"},
            "body": {"type": "text", "analyzer": "trigram"},
        },
    },
}
SNIPPETS = [
    "北京的天气很好",
    "東京駅で待ち合わせ",
    "서울에서 만나요",
    "see you at 10:30",
    "total 42.50 EUR",
    "order A7-99",
    "ok 👍",
    "Hauptstraße 5",
    "l'été à Nice",
    "привет как дела",
    "مرحبا بالعالم",
    "I am in",
]
WORST_APP, WORST_CHAT, WORST_BODIES = 1_000_000_000, 1, 1000
WORST_VOCABULARY = [
    "alphabet",
    "betamax",
    "gamma",
    "deltaforce",
    "epsilon",
    "zetajones",
    "etaoin",
    "thetaband",
    "iotaless",
    "kappacino",
    "lambdacalc",
    "muzzle",
]


def ensure_data(progress) -> None:
    common.ensure_database(common.DATA_DB)
    with common.datagen.connect(common.DATA_DB) as conn:
        result = common.datagen.generate(conn, log=progress)
    if "seconds" in result:
        progress(f"generated {result['messages']} messages in {result['seconds']} s")


def _docs(index: str):
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
                "_index": index,
                "_id": search.doc_id(app_id, chat, number),
                "_routing": search.routing(app_id, chat),
                "_source": {
                    "application_id": app_id,
                    "chat_number": chat,
                    "number": number,
                    "body": f"{body} {SNIPPETS[(number * 7 + chat) % len(SNIPPETS)]}",
                },
            }


def _fingerprint(body: dict) -> str:
    return hashlib.sha256(json.dumps([body, SNIPPETS], sort_keys=True).encode()).hexdigest()[:16]


def ensure_index(es: Elasticsearch, index: str, body: dict, progress) -> dict:
    """Indexes the 1M messages unless `index` holds them with this mapping; returns what it did."""
    fingerprint = _fingerprint(body)
    if es.indices.exists(index=index):
        meta = es.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
        es.indices.refresh(index=index)
        count = es.count(index=index, query={"range": {"application_id": {"lt": WORST_APP}}})["count"]
        if meta.get("fingerprint") == fingerprint and count == MESSAGES:
            progress(f"reusing {index} ({MESSAGES} docs)")
            return {"reused": True, **index_size(es, index)}
        es.indices.delete(index=index)
    settings = {**body["settings"], "refresh_interval": "-1"}  # bulk load, then refresh
    mappings = {**body["mappings"], "_meta": {"fingerprint": fingerprint}}
    es.indices.create(index=index, settings=settings, mappings=mappings)
    started, done = time.monotonic(), 0
    for ok, item in helpers.parallel_bulk(es, _docs(index), thread_count=2, chunk_size=2000, queue_size=4):
        if not ok:
            raise RuntimeError(f"indexing failed: {item}")
        done += 1
        if done % 200_000 == 0:
            progress(f"{index}: indexed {done} ({done / (time.monotonic() - started):.0f} docs/s)")
    seconds = time.monotonic() - started
    es.indices.put_settings(index=index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=index)
    es.options(request_timeout=1200).indices.forcemerge(index=index, max_num_segments=1)
    progress(f"{index}: indexed {done} docs in {seconds:.0f} s")
    return {
        "reused": False,
        "seconds": round(seconds, 1),
        "docs_per_s": round(done / seconds),
        **index_size(es, index),
    }


def index_size(es: Elasticsearch, index: str) -> dict:
    store = es.indices.stats(index=index, metric="store")["indices"][index]["primaries"]["store"]
    return {"size_mb": round(store["size_in_bytes"] / 1e6, 1)}


def _timed(finder, app_id: int, chat: int, q: str, limit: int) -> tuple:
    words = search_terms.words(q)
    started = time.perf_counter()
    hits = len(finder.find(app_id, chat, words, limit))
    return (time.perf_counter() - started) * 1000, hits


def query_kinds(es: Elasticsearch, queries: int, progress) -> dict:
    """Each query kind on random chats, now and (interleaved, same chats and text) the adapter of
    before on the index of before: the machine's load falls on both alike."""
    finder = search.Search(es, INDEX)
    before = search_quality_before.adapter_of(BEFORE_COMMIT).Search(es, BEFORE_INDEX)
    with common.datagen.connect(common.DATA_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT application_id, number FROM chats")
        chats = cur.fetchall()
    rng = random.Random(11)
    words = common.datagen.WORDS
    kinds = {
        "one word": lambda: rng.choice(words),
        "two words": lambda: f"{rng.choice(words)} {rng.choice(words)}",
        "part of a word": lambda: rng.choice(words)[1:5],
        "one character": lambda: rng.choice(["5", "I"]),
        "two characters": lambda: rng.choice(["ok", "he", "me", "wo"]),
        "CJK": lambda: rng.choice(["北京", "天气", "東京", "駅", "서울", "만나"]),
        "code": lambda: rng.choice(["10:30", "42.50", "A7-99"]),
        "emoji": lambda: "👍",
    }
    for _ in range(20):  # warm the caches, as a running service has them
        (app_id, chat), q = rng.choice(chats), kinds["one word"]()
        _timed(finder, app_id, chat, q, 20)
        before.find(app_id, chat, q, 20)
    out = {}
    for name, make in kinds.items():
        timings, before_timings, hits, before_hits = [], [], 0, 0
        for i in range(queries):
            (app_id, chat), q = rng.choice(chats), make()
            for side in ("now", "before") if i % 2 == 0 else ("before", "now"):
                if side == "now":
                    ms, n = _timed(finder, app_id, chat, q, 20)
                    timings.append(ms)
                    hits += n
                else:
                    started = time.perf_counter()
                    before_hits += len(before.find(app_id, chat, q, 20))
                    before_timings.append((time.perf_counter() - started) * 1000)
        out[name] = {
            **common.latency(timings),
            "mean_hits": round(hits / queries, 1),
            "before": {**common.latency(before_timings), "mean_hits": round(before_hits / queries, 1)},
        }
        f, b = out[name], out[name]["before"]
        progress(
            f"{name}: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms ({f['mean_hits']} hits); "
            f"before p50 {b['p50_ms']}, p99 {b['p99_ms']} ms ({b['mean_hits']} hits)"
        )
    kinds_out = [v for v in out.values() if isinstance(v, dict)]
    out["p99_ms"] = max(v["p99_ms"] for v in kinds_out)
    out["before_p99_ms"] = max(v["before"]["p99_ms"] for v in kinds_out)
    return out


def _worst_body(rng: random.Random) -> str:
    out, size = [], 0
    while size < 65_000:
        word = rng.choice(WORST_VOCABULARY)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:65_535]


def ensure_worst_chat(es: Elasticsearch, progress) -> dict:
    chat = {
        "bool": {"filter": [{"term": {"application_id": WORST_APP}}, {"term": {"chat_number": WORST_CHAT}}]}
    }
    if es.count(index=INDEX, query=chat)["count"] == WORST_BODIES:
        return {"reused": True}
    rng = random.Random(3)
    started = time.monotonic()
    helpers.bulk(
        es.options(request_timeout=300),
        (
            {
                "_index": INDEX,
                "_id": search.doc_id(WORST_APP, WORST_CHAT, n),
                "_routing": search.routing(WORST_APP, WORST_CHAT),
                "_source": {
                    "application_id": WORST_APP,
                    "chat_number": WORST_CHAT,
                    "number": n,
                    "body": _worst_body(rng),
                },
            }
            for n in range(1, WORST_BODIES + 1)
        ),
        chunk_size=50,
    )
    es.indices.refresh(index=INDEX)
    progress(f"worst chat: {WORST_BODIES} bodies of 64 KB indexed in {time.monotonic() - started:.0f} s")
    return {"reused": False, "seconds": round(time.monotonic() - started, 1)}


def worst_case(es: Elasticsearch, queries: int, progress) -> dict:
    """Expensive queries on a chat of 1,000 bodies of 64 KB that all match, in the 1M index."""
    built = ensure_worst_chat(es, progress)
    finder = search.Search(es, INDEX)
    v = WORST_VOCABULARY
    joined = "".join(v)
    kinds = {
        "one word, limit 100": lambda rng: (rng.choice(v), 100),
        "one word, limit 20": lambda rng: (rng.choice(v), 20),
        "two characters, limit 100": lambda rng: (rng.choice(v)[:2], 100),
        "part of a word, limit 100": lambda rng: (rng.choice(v)[1:5], 100),
        "8 words, limit 100": lambda rng: (" ".join(rng.sample(v, 8)), 100),
        # Every trigram of these is in every body, but not in a row: each phrase is walked to the end.
        "5 near-miss words of 48 characters": lambda rng: (
            " ".join(joined[(i := rng.randrange(len(joined) - 48)) : i + 48] for _ in range(5)),
            20,
        ),
    }
    out: dict[str, Any] = {"bodies": WORST_BODIES, "body_bytes": 65_535, "chat_built": built}
    rng = random.Random(5)
    for name, make in kinds.items():
        timings, hits = [], 0
        for _ in range(queries):
            q, limit = make(rng)
            ms, n = _timed(finder, WORST_APP, WORST_CHAT, q, limit)
            timings.append(ms)
            hits += n
        q, limit = make(rng)
        raw = es.search(
            index=INDEX,
            routing=search.routing(WORST_APP, WORST_CHAT),
            query=search.query(WORST_APP, WORST_CHAT, search_terms.words(q)),
            size=limit,
            highlight=search.HIGHLIGHT,
            track_total_hits=True,
            timeout="500ms",
        )
        out[name] = {
            **common.latency(timings),
            "mean_hits": round(hits / queries, 1),
            "es_took_ms": raw["took"],
            "timed_out": raw["timed_out"],
        }
        figures = out[name]
        progress(
            f"worst, {name}: p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, took {raw['took']} ms"
        )
    out["p99_ms"] = max(v["p99_ms"] for v in out.values() if isinstance(v, dict) and "p99_ms" in v)
    return out


def renumbered(records: list, offset: int) -> list:
    out = []
    for rid, body in records:
        event = json.loads(body)
        event["number"] += offset
        out.append((f"{rid}-{offset}", json.dumps(event)))
    return out


def writer_before_after(events: int, rounds: int, progress) -> dict:
    """The writer into an index of each mapping, alternating slices of the same events."""
    common.ensure_database(common.WRITE_DB)
    after_deps = common.deps(index="bench-writer-after")
    before_deps = common.deps(index="bench-writer-before")
    es = after_deps.search._es
    ratios: list[float] = []
    rates: dict[str, list[int]] = {"before": [], "after": []}
    es_cpu = {"before": 0.0, "after": 0.0}
    for r in range(rounds):
        ids = writer_bench.reset_stores(after_deps)
        for index, body in (
            ("bench-writer-after", search.index_body()),
            ("bench-writer-before", BEFORE_INDEX_BODY),
        ):
            es.indices.delete(index=index, ignore_unavailable=True)
            es.indices.create(index=index, **body)
        records = writer_bench.make_events(events, sorted({a for a, _ in ids}), seed=r)
        sides = {"after": (after_deps, records), "before": (before_deps, renumbered(records, 10_000_000))}
        seconds = {"after": 0.0, "before": 0.0}
        slices = 20
        per = -(-events // slices)
        for i in range(slices):
            order = ["after", "before"] if i % 2 == 0 else ["before", "after"]
            for side in order:
                deps, recs = sides[side]
                meter = common.Cpu(("elasticsearch",)).start()
                took, _, _, failures = writer_bench.writer_slice(deps, recs[i * per : (i + 1) * per], 100)
                es_cpu[side] += meter.stop()["elasticsearch"]
                if failures:
                    raise RuntimeError(f"{side}: {failures} records failed")
                seconds[side] += took
        for side in seconds:
            rates[side].append(round(events / seconds[side]))
        ratios.append(round(seconds["before"] / seconds["after"], 3))
        progress(f"writer round {r + 1}: after {rates['after'][-1]}/s, before {rates['before'][-1]}/s")
    for index in ("bench-writer-after", "bench-writer-before"):
        es.indices.delete(index=index, ignore_unavailable=True)
    return {
        "events_per_round": events,
        "batch_size": 100,
        "messages_per_s": rates,
        "ratio_after_to_before": ratios,
        "ratio_median": statistics.median(ratios),
        "es_cpu_ms_per_message": {k: round(1000 * v / (events * rounds), 3) for k, v in es_cpu.items()},
    }


def run(queries: int = 300, only: tuple = ("kinds", "worst", "writer"), progress=print) -> dict:
    ensure_data(progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    out: dict = {"messages": MESSAGES, "index": INDEX}
    if "kinds" in only or "worst" in only:
        out["index_after"] = ensure_index(es, INDEX, search.index_body(), progress)
        out["index_before"] = ensure_index(es, BEFORE_INDEX, BEFORE_INDEX_BODY, progress)
    if "kinds" in only:
        out["kinds"] = query_kinds(es, queries, progress)
        out["p99_ms"] = out["kinds"]["p99_ms"]
    if "worst" in only:
        out["worst"] = worst_case(es, max(20, queries // 6), progress)
    if "writer" in only:
        out["writer"] = writer_before_after(20_000, 5, progress)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--only", default="kinds,worst,writer")
    args = parser.parse_args()
    result = run(args.queries, tuple(args.only.split(",")), progress=common.Progress("search"))
    print(json.dumps(result, indent=2, ensure_ascii=False))
