"""Search at 1M messages, and what the search design costs (analysis, cost bounds, routing).

    .local/venvs/app/bin/python -m tests.bench.search_bench [--queries 300] [--only kinds,worst,writer]
        [--before COMMIT]

- **kinds**: the 1M messages of `chat_bench` (tests/bench/datagen.py), each with one of a few
  multilingual snippets appended (so CJK, codes and emoji have something to find), indexed once
  into `bench-messages-1m` with the product's mapping and routing, and into
  `bench-messages-1m-trigram` with the mapping of before (trigrams only, commit a3c4d9c) for the
  index size and bulk rate before and after; both are reused while their mapping is unchanged.
  `Finder.find` (what the API calls) on a random chat for each query kind.
- **worst**: one more chat in the same index holding 1,000 bodies of 64 KB made of a dozen words,
  so that every query matches every body or nearly does, and one of 1,000 bodies of 5 KB; queries
  chosen to be expensive, interleaved with the adapter of the last commit before search pages had
  a cost budget (`--before` to name another).
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

from chalicelib.adapters.search import search_index, search_pages
from chalicelib.adapters.search.finder import Finder
from chalicelib.domain import search_terms
from tests.bench import common, search_quality_before, writer_bench

BEFORE_COMMIT = "a3c4d9c"
# The last commit before search pages had a cost budget (search_pages.py): it reads the same index.
BUDGET_BEFORE_COMMIT = "cb71adf"
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
            # What the writer writes beside the body since (its size, times and author), as now:
            # the two indexes differ in the body's analysis only.
            **{field: search_index.MAPPINGS["properties"][field] for field in search_index.ADDED_FIELDS},
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
WORST_APP, WORST_CHAT, MEDIUM_CHAT, WORST_BODIES = 1_000_000_000, 1, 2, 1000
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


def _docs(index: str, fields: dict):
    """The 1M messages as documents of a mapping with these `fields` (the mapping of before has no
    `answer_bytes`)."""
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
                "_id": search_index.doc_id(app_id, chat, number),
                "_routing": search_index.routing(app_id, chat),
                "_source": {
                    k: v
                    for k, v in search_index.document(
                        app_id, chat, number, f"{body} {SNIPPETS[(number * 7 + chat) % len(SNIPPETS)]}"
                    ).items()
                    if k in fields
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
    for ok, item in helpers.parallel_bulk(
        es, _docs(index, body["mappings"]["properties"]), thread_count=2, chunk_size=2000, queue_size=4
    ):
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
    hits = len(finder.find(app_id, chat, words, limit).messages)
    return (time.perf_counter() - started) * 1000, hits


def _before_finder(es: Elasticsearch, commit: str):
    """`find(app_id, chat, q, limit)` -> list of the adapter of `commit`: a3c4d9c's on the index of
    before (it took the text of `q`), a later one's on today's index (it took the words)."""
    if commit == BEFORE_COMMIT:
        return search_quality_before.adapter_of(commit).Search(es, BEFORE_INDEX).find
    before = search_quality_before.adapter_of(commit).Search(es, INDEX)
    return lambda app_id, chat, q, limit: before.find(app_id, chat, search_terms.words(q), limit)


def query_kinds(es: Elasticsearch, queries: int, progress, before_commit: str = BEFORE_COMMIT) -> dict:
    """Each query kind on random chats, now and (interleaved, same chats and text) the adapter of
    `before_commit`: a3c4d9c's on the index of before, a later one's on today's index. The
    machine's load falls on both alike."""
    finder = Finder(es, INDEX)
    before_find = _before_finder(es, before_commit)
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
        before_find(app_id, chat, q, 20)
    out: dict[str, Any] = {"before_commit": before_commit}
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
                    before_hits += len(before_find(app_id, chat, q, 20))
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
    kinds_out = [v for v in out.values() if isinstance(v, dict) and "p99_ms" in v]
    out["p99_ms"] = max(v["p99_ms"] for v in kinds_out)
    out["before_p99_ms"] = max(v["before"]["p99_ms"] for v in kinds_out)
    return out


def _worst_body(rng: random.Random, size: int) -> str:
    out, length = [], 0
    while length < size:
        word = rng.choice(WORST_VOCABULARY)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def ensure_worst_chat(es: Elasticsearch, chat: int, body_chars: int, progress) -> dict:
    query = {"bool": {"filter": [{"term": {"application_id": WORST_APP}}, {"term": {"chat_number": chat}}]}}
    if es.count(index=INDEX, query=query)["count"] == WORST_BODIES:
        return {"reused": True}
    rng = random.Random(3 * chat)
    started = time.monotonic()
    helpers.bulk(
        es.options(request_timeout=300),
        (
            {
                "_index": INDEX,
                "_id": search_index.doc_id(WORST_APP, chat, n),
                "_routing": search_index.routing(WORST_APP, chat),
                "_source": search_index.document(WORST_APP, chat, n, _worst_body(rng, body_chars)),
            }
            for n in range(1, WORST_BODIES + 1)
        ),
        chunk_size=50,
    )
    es.indices.refresh(index=INDEX)
    progress(
        f"worst chat {chat}: {WORST_BODIES} bodies of {body_chars} characters "
        f"in {time.monotonic() - started:.0f} s"
    )
    return {"reused": False, "seconds": round(time.monotonic() - started, 1)}


def _second_page(finder, chat: int, words: list, limit: int):
    """Times the page after the first (its `after` taken from a first page found untimed)."""
    after = finder.find(WORST_APP, chat, words, limit).next
    started = time.perf_counter()
    hits = len(finder.find(WORST_APP, chat, words, limit, after).messages)
    return (time.perf_counter() - started) * 1000, hits


def worst_case(es: Elasticsearch, queries: int, progress, before_commit: str = BUDGET_BEFORE_COMMIT) -> dict:
    """Expensive queries on chats of 1,000 bodies of 64 KB (and of 5 KB) that all match, in the 1M
    index; interleaved query by query with the adapter of `before_commit` on the same index."""
    built = {
        "64 KB": ensure_worst_chat(es, WORST_CHAT, 65_535, progress),
        "5 KB": ensure_worst_chat(es, MEDIUM_CHAT, 5_000, progress),
    }
    finder = Finder(es, INDEX)
    before_find = _before_finder(es, before_commit)
    v = WORST_VOCABULARY
    joined = "".join(v)
    kinds = {
        "one word, limit 100": lambda rng: (WORST_CHAT, rng.choice(v), 100),
        "one word, limit 20": lambda rng: (WORST_CHAT, rng.choice(v), 20),
        "two characters, limit 100": lambda rng: (WORST_CHAT, rng.choice(v)[:2], 100),
        "part of a word, limit 100": lambda rng: (WORST_CHAT, rng.choice(v)[1:5], 100),
        "8 words, limit 100": lambda rng: (WORST_CHAT, " ".join(rng.sample(v, 8)), 100),
        # Every trigram of these is in every body, but not in a row: each phrase is walked to the end.
        "5 near-miss words of 48 characters": lambda rng: (
            WORST_CHAT,
            " ".join(joined[(i := rng.randrange(len(joined) - 48)) : i + 48] for _ in range(5)),
            20,
        ),
        "5 KB bodies: one word, limit 100": lambda rng: (MEDIUM_CHAT, rng.choice(v), 100),
        "5 KB bodies: 8 words, limit 100": lambda rng: (MEDIUM_CHAT, " ".join(rng.sample(v, 8)), 100),
        "one word, limit 100, second page": lambda rng: (WORST_CHAT, rng.choice(v), -100),
    }
    out: dict[str, Any] = {
        "bodies": WORST_BODIES,
        "chats_built": built,
        "before_commit": before_commit,
        "page_cost": search_pages.PAGE_COST,
        "hit_cost": search_pages.HIT_COST,
    }
    rng = random.Random(5)
    for name, make in kinds.items():
        timings, before_timings, hits, before_hits = [], [], 0, 0
        for i in range(queries):
            chat, q, limit = make(rng)
            words = search_terms.words(q)
            for side in ("now", "before") if i % 2 == 0 else ("before", "now"):
                if side == "now":
                    if limit < 0:
                        ms, n = _second_page(finder, chat, words, -limit)
                    else:
                        ms, n = _timed(finder, WORST_APP, chat, q, limit)
                    timings.append(ms)
                    hits += n
                elif limit > 0:  # before: no second page, it was not paged
                    started = time.perf_counter()
                    before_hits += len(before_find(WORST_APP, chat, q, limit))
                    before_timings.append((time.perf_counter() - started) * 1000)
        out[name] = {**common.latency(timings), "mean_hits": round(hits / queries, 1)}
        if before_timings:
            out[name]["before"] = {
                **common.latency(before_timings),
                "mean_hits": round(before_hits / queries, 1),
            }
        f, b = out[name], out[name].get("before", {})
        progress(
            f"worst, {name}: p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms ({f['mean_hits']} hits); "
            f"before p50 {b.get('p50_ms')}, p99 {b.get('p99_ms')} ms ({b.get('mean_hits')} hits)"
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
    es = after_deps.elasticsearch
    ratios: list[float] = []
    rates: dict[str, list[int]] = {"before": [], "after": []}
    es_cpu = {"before": 0.0, "after": 0.0}
    for r in range(rounds):
        ids = writer_bench.reset_stores(after_deps)
        for index, body in (
            ("bench-writer-after", search_index.index_body()),
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


def run(
    queries: int = 300,
    only: tuple = ("kinds", "worst", "writer"),
    progress=print,
    before: str | None = None,
) -> dict:
    """`before`: the commit the query kinds and the worst case are compared with (defaults:
    a3c4d9c for the kinds, BUDGET_BEFORE_COMMIT for the worst case)."""
    ensure_data(progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    out: dict = {"messages": MESSAGES, "index": INDEX}
    if "kinds" in only or "worst" in only:
        out["index_after"] = ensure_index(es, INDEX, search_index.index_body(), progress)
        if "kinds" in only and (before or BEFORE_COMMIT) == BEFORE_COMMIT:
            out["index_before"] = ensure_index(es, BEFORE_INDEX, BEFORE_INDEX_BODY, progress)
    if "kinds" in only:
        out["kinds"] = query_kinds(es, queries, progress, before or BEFORE_COMMIT)
        out["p99_ms"] = out["kinds"]["p99_ms"]
    if "worst" in only:
        out["worst"] = worst_case(es, max(20, queries // 6), progress, before or BUDGET_BEFORE_COMMIT)
    if "writer" in only:
        out["writer"] = writer_before_after(20_000, 5, progress)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--only", default="kinds,worst,writer")
    parser.add_argument("--before", help="the commit to compare with (a3c4d9c or later)")
    args = parser.parse_args()
    result = run(
        args.queries, tuple(args.only.split(",")), progress=common.Progress("search"), before=args.before
    )
    print(json.dumps(result, indent=2, ensure_ascii=False))
