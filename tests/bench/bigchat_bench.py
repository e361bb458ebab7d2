"""The big chat, and four shards against one: search, list pages and reads in chats of 10 to 1M messages.

    .local/venvs/app/bin/python -m tests.bench.bigchat_bench [--only sizes,mysql,shards] [--rounds 3]

Data: tests/bench/bigchat_data.py (built once, ~40 min, kept; a re-run reuses it).
- **sizes**: `Finder.find` (what the API calls) on chats of 10, 100, 1k, 10k, 100k and 1M messages
  in the 10M index, for each query kind, interleaved query by query with the adapter of
  BEFORE_COMMIT (one scored query, sorted by score then number) on the same index, same chat,
  same text. `rounds` rounds; each figure is the median of the rounds' p50s and p99s.
- **mysql**: `Database.messages` (first page, last page through the keyset `after`, a page in the
  middle) and `Database.message` on the same chats, in the 11.1M-row messages table.
- **shards**: the same query kinds on the 1M tier's index of one shard and of four,
  interleaved; then the writer (`writer.persist_records`, batch 100) and its `_bulk` alone
  (`Indexer.index`), alternating slices of the same events into a new index of each shard count.
"""

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from elasticsearch import Elasticsearch

from chalicelib.adapters.mysql.db import Database
from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.search import search_index, search_query
from chalicelib.adapters.search.finder import Finder
from chalicelib.domain import events, search_terms
from tests.bench import bigchat_data, common, counter_bench, search_bench, search_quality_before, writer_bench

# integration's head before the tiers (one query scored and sorted by score, then number)
BEFORE_COMMIT = "f8260a0"
LIMIT = 20  # the API's default page of hits
SMALL = 10  # a chat of the rest of the index: SMALL_CHAT messages


class Words:
    """Query words by their rank in the bodies' vocabulary (Zipf: rank 1 is the most common)."""

    def __init__(self, rng: random.Random):
        self.words = bigchat_data.vocabulary()
        self.rng = rng

    def ranked(self, first: int, last: int) -> str:
        return self.words[self.rng.randint(first, last) - 1]

    def kinds(self) -> dict[str, Callable[[], str]]:
        def part() -> str:
            word = ""
            while len(word) < 6:
                word = self.ranked(6, 2_000)
            return word[1:5]

        return {
            # ranks 10k-30k: ~30-90 messages of the 1M chat, none in most small chats
            "rare word": lambda: self.ranked(10_000, 30_000),
            # ranks 1-5: each in 18-65 % of messages (counted in `common_share`)
            "common word": lambda: self.ranked(1, 5),
            "two words": lambda: f"{self.ranked(1, 5)} {self.ranked(6, 200)}",
            "two common words": lambda: f"{self.ranked(1, 5)} {self.ranked(1, 5)}",
            "part of a word": part,
        }


# A side of a comparison: find(application, chat, words, the chat's size) -> a page or a list.
Find = Callable[[int, int, list[str], int], Any]


def told_size(finder: Finder) -> Find:
    """The product's adapter as the API calls it: told the chat's size, read first."""
    return lambda app_id, chat, words, size: finder.find(app_id, chat, words, LIMIT, chat_size=size)


def unsized(finder: Any) -> Find:
    """An adapter not told the size: the tiers at every size, or the adapter of before."""
    return lambda app_id, chat, words, size: finder.find(app_id, chat, words, LIMIT)


def _timed(find: Find, app_id: int, chat: int, q: str, size: int) -> tuple[float, int]:
    words = search_terms.words(q)
    started = time.perf_counter()
    found = find(app_id, chat, words, size)
    hits = len(found.messages if hasattr(found, "messages") else found)  # a page; a list before
    return (time.perf_counter() - started) * 1000, hits


def _chats(
    big_app: int, sizes: dict[int, int], rng: random.Random, small_apps: int
) -> dict[int, Callable[[], tuple[int, int]]]:
    """size -> a chooser of (application, chat): the big chats, and any chat of ten messages (of
    the first `small_apps` applications, which hold 100 each)."""

    def one(chat: int) -> Callable[[], tuple[int, int]]:
        return lambda: (big_app, chat)

    out: dict[int, Callable[[], tuple[int, int]]] = {
        SMALL: lambda: (rng.randint(1, small_apps), rng.randint(1, 100))
    }
    out.update({size: one(chat) for chat, size in sizes.items()})
    return out


def compare(
    sides: dict[str, Any],
    chats: dict[int, Callable[[], tuple[int, int]]],
    queries: int,
    rounds: int,
    progress,
) -> dict:
    """Each (chat size, query kind): `queries` queries per round on every side, interleaved (the
    side that goes first alternates), same chat and text; medians over the rounds."""
    rng = random.Random(11)
    words = Words(rng)
    kinds = words.kinds()
    names = list(sides)
    for _ in range(10):  # warm the caches, as a running service has them
        for size, choose in chats.items():
            app_id, chat = choose()
            for side in sides.values():
                _timed(side, app_id, chat, kinds["common word"](), size)
    per: dict[tuple[int, str], dict[str, list]] = {}
    for r in range(rounds):
        load = common.load_average()
        for size, choose in chats.items():
            for kind, make in kinds.items():
                timings: dict[str, list[float]] = {name: [] for name in names}
                hits = dict.fromkeys(names, 0)
                for i in range(queries):
                    (app_id, chat), q = choose(), make()
                    for name in names if i % 2 == 0 else names[::-1]:
                        ms, n = _timed(sides[name], app_id, chat, q, size)
                        timings[name].append(ms)
                        hits[name] += n
                cell = per.setdefault((size, kind), {name: [] for name in names})
                for name in names:
                    cell[name].append(
                        {**common.latency(timings[name]), "mean_hits": round(hits[name] / queries, 1)}
                    )
            progress(
                f"round {r + 1}, chat of {size:,}: " + _line(per, size, kinds, names, r) + f" (load {load})"
            )
    out: dict[str, Any] = {"queries_per_round": queries, "rounds": rounds, "limit": LIMIT, "by_size": {}}
    for (size, kind), cell in per.items():
        out["by_size"].setdefault(str(size), {})[kind] = {
            name: {
                "p50_ms": statistics.median(x["p50_ms"] for x in runs),
                "p99_ms": statistics.median(x["p99_ms"] for x in runs),
                "p99_ms_rounds": [x["p99_ms"] for x in runs],
                "mean_hits": runs[-1]["mean_hits"],
            }
            for name, runs in cell.items()
        }
    return out


def _line(per: dict, size: int, kinds: dict, names: list, r: int) -> str:
    return (
        "; ".join(
            f"{kind} " + " vs ".join(f"{per[(size, kind)][n][r]['p99_ms']}" for n in names) for kind in kinds
        )
        + f" ms p99 ({' vs '.join(names)})"
    )


def common_share(es: Elasticsearch, index: str, big_app: int, chat: int, size: int) -> dict[str, float]:
    """The share of a chat's messages each 'common word' (ranks 1-5) is in, as a whole word."""
    out = {}
    for word in bigchat_data.vocabulary()[:5]:
        found = es.count(
            index=index,
            routing=search_index.routing(big_app, chat),
            query={"bool": {"filter": [*search_query.chat_filter(big_app, chat), {"match": {"body": word}}]}},
        )["count"]
        out[word] = round(found / size, 3)
    return out


def sizes(es: Elasticsearch, built: dict, queries: int, rounds: int, progress) -> dict:
    big_app = built["application_id"]
    before = search_quality_before.adapter_of(BEFORE_COMMIT).Search(es, bigchat_data.ALIAS)
    product = Finder(es, bigchat_data.ALIAS)
    # "tiers": the same adapter not told the size (the tiers at every size, as at 59d6262).
    sides = {"now": told_size(product), "tiers": unsized(product), "before": unsized(before)}
    chats = _chats(big_app, bigchat_data.SIZES, random.Random(3), 8_000)
    out = compare(sides, chats, queries, rounds, progress)
    out["common_share_1m"] = common_share(es, bigchat_data.ALIAS, big_app, 5, bigchat_data.SIZES[5])
    now = [k["now"]["p99_ms"] for k in out["by_size"][str(1_000_000)].values()]
    out["p99_ms_1m"] = max(now)
    out["p99_ms_1m_before"] = max(k["before"]["p99_ms"] for k in out["by_size"][str(1_000_000)].values())
    return out


def mysql_reads(big_app: int, reads: int, rounds: int, progress) -> dict:
    """List pages and single reads through the product's adapter (Database), per chat size."""
    db = Database(MySQL(lambda: common.datagen.connect(bigchat_data.DATABASE)))
    rng = random.Random(7)
    chats = _chats(big_app, bigchat_data.SIZES, rng, 8_000)
    sized = {SMALL: SMALL, **{size: size for size in bigchat_data.SIZES.values()}}
    actions: dict[str, Callable[[int, int, int], Any]] = {
        "first page": lambda a, c, n: db.messages(a, c, 0, LIMIT),
        "last page": lambda a, c, n: db.messages(a, c, max(0, n - LIMIT), LIMIT),
        "middle page": lambda a, c, n: db.messages(a, c, rng.randint(0, max(0, n - LIMIT)), LIMIT),
        "one message": lambda a, c, n: db.message(a, c, rng.randint(1, n)),
    }
    for choose in chats.values():  # warm: a running service has the index pages cached
        app_id, chat = choose()
        db.messages(app_id, chat, 0, LIMIT)
    per: dict[tuple[int, str], list[dict]] = {}
    for _ in range(rounds):
        for size, choose in chats.items():
            for name, action in actions.items():
                timings = []
                for _ in range(reads):
                    app_id, chat = choose()
                    started = time.perf_counter()
                    found = action(app_id, chat, sized[size])
                    timings.append((time.perf_counter() - started) * 1000)
                    assert found, f"{name} of a chat of {size} found nothing"
                per.setdefault((size, name), []).append(common.latency(timings))
    out: dict[str, Any] = {"reads_per_round": reads, "rounds": rounds, "by_size": {}}
    for (size, name), runs in per.items():
        out["by_size"].setdefault(str(size), {})[name] = {
            "p50_ms": statistics.median(x["p50_ms"] for x in runs),
            "p99_ms": statistics.median(x["p99_ms"] for x in runs),
            "p99_ms_rounds": [x["p99_ms"] for x in runs],
        }
    progress(
        "mysql, chat of 1M: "
        + "; ".join(
            f"{k} p50 {v['p50_ms']} p99 {v['p99_ms']} ms" for k, v in out["by_size"]["1000000"].items()
        )
    )
    # the target's reads: the first and the last page (keyset `after`) and one message
    out["p99_ms_1m"] = max(
        v["p99_ms"]
        for k, v in out["by_size"]["1000000"].items()
        if k in ("first page", "last page", "one message")
    )
    return out


def shard_search(es: Elasticsearch, big_app: int, queries: int, rounds: int, progress) -> dict:
    sides = {
        f"{n} shard{'s' if n > 1 else ''}": told_size(Finder(es, bigchat_data.shard_alias(n))) for n in (1, 4)
    }
    chats = _chats(big_app, bigchat_data.SHARD_SIZES, random.Random(5), 800)
    out = compare(sides, chats, queries, rounds, progress)
    one, four = sides
    ratios = {
        f"{size} {kind}": round(cell[four]["p99_ms"] / cell[one]["p99_ms"], 3)
        for size, kinds in out["by_size"].items()
        for kind, cell in kinds.items()
    }
    out["p99_ratio_4_to_1"] = ratios
    out["p99_ratio_median"] = statistics.median(ratios.values())
    return out


def unsorted_body() -> dict:
    """The product's index without its sort (as before the tiers): what the sort costs the writer."""
    body = search_index.index_body()
    body["settings"] = {k: v for k, v in body["settings"].items() if k != "index"}
    return body


def writer_ab(sides: dict[str, dict], count: int, rounds: int, progress) -> dict:
    """The writer, and its `_bulk` alone, into a new index of each body in `sides` (first: the
    baseline): the same events in alternating slices, so the machine's other load falls on both."""
    common.ensure_database(common.WRITE_DB)
    (base, base_body), (other, other_body) = sides.items()
    names = {side: f"bench-writer-{side.replace(' ', '-')}" for side in sides}
    deps = {side: common.deps(index=name) for side, name in names.items()}
    es = deps[base].elasticsearch
    writer_rates: dict[str, list[int]] = {base: [], other: []}
    bulk_rates: dict[str, list[int]] = {base: [], other: []}
    for r in range(rounds):
        ids = writer_bench.reset_stores(deps[base])
        for side, name in names.items():
            es.indices.delete(index=name, ignore_unavailable=True)
            es.indices.create(index=name, **sides[side])
        records = writer_bench.make_events(count, sorted({a for a, _ in ids}), seed=r)
        side_records = {base: records, other: search_bench.renumbered(records, 10_000_000)}
        # the _bulk alone indexes documents of its own (numbers further on), as new ones
        messages = {
            side: [events.parse(body) for _, body in search_bench.renumbered(recs, 20_000_000)]
            for side, recs in side_records.items()
        }
        seconds = dict.fromkeys(names, 0.0)
        bulk_seconds = dict.fromkeys(names, 0.0)
        slices = 20
        per = -(-count // slices)
        for i in range(slices):
            order = (base, other) if i % 2 == 0 else (other, base)
            for side in order:
                took, _, _, failures = writer_bench.writer_slice(
                    deps[side], side_records[side][i * per : (i + 1) * per], 100
                )
                if failures:
                    raise RuntimeError(f"{side}: {failures} records failed")
                seconds[side] += took
            for side in order[::-1]:
                started = time.perf_counter()
                for batch in writer_bench.batches(messages[side][i * per : (i + 1) * per], 100):
                    if deps[side].indexer.index(batch):
                        raise RuntimeError(f"{side}: _bulk failed")
                bulk_seconds[side] += time.perf_counter() - started
        for side in names:
            writer_rates[side].append(round(count / seconds[side]))
            bulk_rates[side].append(round(count / bulk_seconds[side]))
        progress(
            f"writer round {r + 1}: "
            + ", ".join(f"{side} {writer_rates[side][-1]}/s" for side in names)
            + "; _bulk alone: "
            + ", ".join(f"{side} {bulk_rates[side][-1]}/s" for side in names)
        )
    for name in names.values():
        es.indices.delete(index=name, ignore_unavailable=True)
    ratios = [round(b / a, 3) for a, b in zip(writer_rates[base], writer_rates[other], strict=True)]
    bulk_ratios = [round(b / a, 3) for a, b in zip(bulk_rates[base], bulk_rates[other], strict=True)]
    return {
        "events_per_round": count,
        "batch_size": 100,
        "writer_per_s": writer_rates,
        "bulk_per_s": bulk_rates,
        f"writer_ratio_{other}_to_{base}": ratios,
        "writer_ratio_median": statistics.median(ratios),
        f"bulk_ratio_{other}_to_{base}": bulk_ratios,
        "bulk_ratio_median": statistics.median(bulk_ratios),
    }


def run(
    queries: int = 100, rounds: int = 3, only: tuple = ("sizes", "mysql", "shards"), progress=print
) -> dict:
    built = bigchat_data.ensure(progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    out: dict[str, Any] = {"data": built, "before_commit": BEFORE_COMMIT}
    if "sizes" in only:
        out["sizes"] = sizes(es, built, queries, rounds, progress)
    if "mysql" in only:  # with the 2 GB buffer pool of the other --big benches (counter_bench)
        with counter_bench.buffer_pool(counter_bench.BIG_BUFFER_POOL):
            out["mysql"] = mysql_reads(built["application_id"], 10 * queries, rounds, progress)
    if "shards" in only:
        data = bigchat_data.ensure_shards(progress)
        out["shards"] = shard_search(es, built["application_id"], queries, rounds, progress)
        out["shards"]["data"] = data
        four = {"1 shard": search_index.index_body(1), "4 shards": search_index.index_body(4)}
        out["shards"]["writer"] = writer_ab(four, 20_000, rounds, progress)
        # what the index's sort (the tiers' early stop) costs the writer, beside it
        out["shards"]["sort_writer"] = writer_ab(
            {"unsorted": unsorted_body(), "sorted": search_index.index_body(1)}, 20_000, rounds, progress
        )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=100, help="per chat size, query kind and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="sizes,mysql,shards")
    args = parser.parse_args()
    result = run(args.queries, args.rounds, tuple(args.only.split(",")), progress=common.Progress("big chat"))
    print(json.dumps(result, indent=2, ensure_ascii=False))
