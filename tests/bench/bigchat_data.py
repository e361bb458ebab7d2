"""The big-chat tier's data: chats of 100 to 1M messages among 10M, built once.

- **Bodies** as people write them, not a template: words drawn from a vocabulary of 30,000
  made-up words with Zipf's frequencies (weight 1/rank; short words rank first, as in a real
  language), lengths log-normal (median 8 words, a long tail to 400), and one body in 50 ending in
  a multilingual snippet (CJK, Cyrillic, Arabic, emoji, codes). Generated from seeds, so the same
  chat gets the same bodies in MySQL and in the index.
- **MySQL** (`chat_bench_bigchat`): datagen's 10M rows (10,000 applications x 100 chats x 10
  messages) plus one application `bigchat` whose chats 1..5 hold 100, 1k, 10k, 100k and 1M
  messages (1,111,100 rows more). A database of its own: `chat_bench_big` (the 10M counter and writer) must
  keep its shape, and the writer bench deletes every message numbered past 10 there.
- **Elasticsearch**: the product's index (`search_index.IndexVersions`: versioned index behind an alias,
  the product's mapping, routing by chat), 10,000,000 documents: the five chats above and
  8,888,900 messages in chats of 10 with bodies of the same generator. Bulk-loaded with
  `helpers.parallel_bulk` (refresh off, no replicas), then refresh and the alias as the product's
  reindex leaves them. A `_meta` marker written last says the build is complete: a re-run reuses it.

    .local/venvs/app/bin/python -m tests.bench.bigchat_data [--shard-tier]
"""

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
from elasticsearch import Elasticsearch, helpers

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.adapters.search import search_index
from tests.bench import common, datagen, search_bench

DATABASE = "chat_bench_bigchat"
TOKEN = "bigchat"
ALIAS = "bench-bigchat"
TOTAL_DOCS = 10_000_000
# chat number -> messages; the plot's x axis
SIZES = {1: 100, 2: 1_000, 3: 10_000, 4: 100_000, 5: 1_000_000}
SMALL_CHAT = 10  # messages per chat in the rest of the index (datagen's shape)
VOCABULARY_SIZE = 30_000
GENERATOR_VERSION = 1  # bump when the bodies change: the marker then no longer matches
# search_bench's snippets (CJK, codes, emoji...) but its last: one-character words are its case
SNIPPETS = search_bench.SNIPPETS[:-1]

_ONSETS = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z"]
_ONSETS += ["bl", "br", "ch", "cr", "dr", "fl", "fr", "gr", "pl", "pr", "sh", "sl", "st", "th", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou"]
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng"]


def vocabulary(size: int = VOCABULARY_SIZE) -> list[str]:
    """`size` distinct made-up words, in rank order: words of fewer syllables first (the common
    words of a language are its short ones), in random order within a syllable count."""
    rng = np.random.default_rng(1)
    words: set[str] = set()
    ranked: list[str] = []
    syllables = 1
    while len(ranked) < size:
        batch = []
        for _ in range(size * 3):
            word = "".join(
                _ONSETS[rng.integers(len(_ONSETS))]
                + _VOWELS[rng.integers(len(_VOWELS))]
                + _CODAS[rng.integers(len(_CODAS))]
                for _ in range(syllables)
            )
            if len(word) >= 2 and word not in words:
                words.add(word)
                batch.append(word)
        ranked.extend(batch[: size - len(ranked)])
        syllables += 1
    return ranked


class Bodies:
    """Message bodies from seeds: Zipf-distributed words, log-normal lengths."""

    def __init__(self) -> None:
        self.words = np.array(vocabulary(), dtype=object)
        weights = 1.0 / np.arange(1, len(self.words) + 1)
        self._cumulative = np.cumsum(weights / weights.sum())

    def make(self, seed: int, count: int) -> list[str]:
        rng = np.random.default_rng(seed)
        lengths = np.clip(np.round(rng.lognormal(np.log(8), 0.8, count)), 1, 400).astype(np.int64)
        picks = np.searchsorted(self._cumulative, rng.random(int(lengths.sum())))
        picks = np.minimum(picks, len(self.words) - 1)
        snippets = rng.integers(0, 50 * len(SNIPPETS), count)
        out, start = [], 0
        for length, snippet in zip(lengths.tolist(), snippets.tolist(), strict=True):
            body = " ".join(self.words[picks[start : start + length]])
            if snippet < len(SNIPPETS):
                body = f"{body} {SNIPPETS[snippet]}"
            out.append(body)
            start += length
        return out

    def chat(self, application_id: int, chat_number: int, count: int) -> Iterator[tuple[int, str]]:
        """(number, body) of a chat's messages 1..count, 100,000 bodies per seed."""
        step = 100_000
        for first in range(0, count, step):
            seed = (application_id * 1_000 + chat_number) * 1_000 + first // step
            for i, body in enumerate(self.make(seed, min(step, count - first))):
                yield first + i + 1, body


def fingerprint(sizes: dict[int, int] = SIZES, total: int = TOTAL_DOCS) -> str:
    shape = [
        GENERATOR_VERSION,
        total,
        sizes,
        SMALL_CHAT,
        VOCABULARY_SIZE,
        SNIPPETS,
        search_index.index_body(),
    ]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


# -- MySQL ---------------------------------------------------------------------------------------


def ensure_mysql(bodies: Bodies, progress) -> int:
    """datagen's 10M rows plus the big chats; returns the big chats' application id."""
    common.ensure_database(DATABASE)
    with datagen.connect(DATABASE) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM applications WHERE token = SHA2(%s, 256)", (TOKEN,))
        row = cur.fetchone()
        if row is None:
            result = datagen.generate(conn, applications=10_000, log=progress)
            progress(f"datagen: {result}")
            cur.execute(
                "INSERT INTO applications (token, name) VALUES (SHA2(%s, 256), 'big chats')", (TOKEN,)
            )
            app_id = cur.lastrowid
        else:
            app_id = row[0]
        for chat, size in SIZES.items():
            cur.execute(
                "INSERT INTO chats (application_id, number, last_number) VALUES (%s, %s, NULL) "
                "ON DUPLICATE KEY UPDATE number = number",
                (app_id, chat),
            )
            cur.execute("SELECT id FROM chats WHERE application_id = %s AND number = %s", (app_id, chat))
            chat_id = (cur.fetchone() or (0,))[0]
            cur.execute("SELECT COUNT(*) FROM messages WHERE chat_id = %s", (chat_id,))
            if (cur.fetchone() or (0,))[0] == size:
                continue
            cur.execute("DELETE FROM messages WHERE chat_id = %s", (chat_id,))
            started, rows = time.monotonic(), []
            for number, body in bodies.chat(app_id, chat, size):
                rows.append((chat_id, number, body))
                if len(rows) == 5_000:
                    cur.executemany("INSERT INTO messages (chat_id, number, body) VALUES (%s, %s, %s)", rows)
                    rows = []
                    if number % 100_000 == 0:
                        progress(
                            f"mysql chat {chat}: {number} of {size} ({time.monotonic() - started:.0f} s)"
                        )
            if rows:
                cur.executemany("INSERT INTO messages (chat_id, number, body) VALUES (%s, %s, %s)", rows)
            cur.execute("UPDATE chats SET messages_count = %s WHERE id = %s", (size, chat_id))
            progress(f"mysql chat {chat}: {size} messages in {time.monotonic() - started:.0f} s")
    return app_id


# -- Elasticsearch -------------------------------------------------------------------------------


def _line(app_id: int, chat: int, number: int, body: str) -> tuple[str, str]:
    """A document's `_bulk` action and source, written out (the helpers pass strings through), as
    the writer writes it (search_index.document)."""
    escaped = json.dumps(body)
    return (
        f'{{"index":{{"_id":"{app_id}:{chat}:{number}","routing":"{app_id}:{chat}"}}}}',
        f'{{"application_id":{app_id},"chat_number":{chat},"number":{number},"body":{escaped},'
        f'"answer_bytes":{len(escaped)}}}',
    )


def documents(
    bodies: Bodies, big_app: int, sizes: dict[int, int] = SIZES, total: int = TOTAL_DOCS
) -> Iterator[tuple[str, str]]:
    """The big chats first, then chats of 10 over datagen's applications up to `total`."""
    for chat, size in sizes.items():
        for number, body in bodies.chat(big_app, chat, size):
            yield _line(big_app, chat, number, body)
    small = total - sum(sizes.values())
    per_seed = 10_000  # 1,000 chats of 10
    for first in range(0, small, per_seed):
        batch = bodies.make(first, min(per_seed, small - first))
        for i, body in enumerate(batch):
            n = first + i
            chat_index = n // SMALL_CHAT
            app_id, chat = 1 + chat_index // 100, 1 + chat_index % 100
            yield _line(app_id, chat, 1 + n % SMALL_CHAT, body)


def complete(es: Elasticsearch, alias: str, marker: str) -> str | None:
    """The index behind `alias` if its build finished with this generator and mapping."""
    if not es.indices.exists_alias(name=alias):
        return None
    index = next(iter(es.indices.get_alias(name=alias)))
    meta = es.indices.get_mapping(index=index)[index]["mappings"].get("_meta", {})
    return index if meta.get("bigchat") == marker else None


def ensure_index(
    es: Elasticsearch,
    bodies: Bodies,
    big_app: int,
    progress,
    alias: str = ALIAS,
    shards: int = 1,
    sizes: dict[int, int] = SIZES,
    total: int = TOTAL_DOCS,
) -> dict:
    """The index behind `alias`, built unless a complete build of the same shape is there."""
    marker = f"{fingerprint(sizes, total)}-{big_app}-{shards}"
    index = complete(es, alias, marker)
    if index:
        progress(f"reusing {alias} ({index})")
        return {"index": index, "reused": True, **_stats(es, index)}
    for stale in es.indices.get(index=f"{alias}-v*", expand_wildcards="all"):
        es.indices.delete(index=stale)  # an interrupted build: start over
    versions = search_index.IndexVersions(es, alias, shards)
    index = versions.create_next()  # the product's mapping, refresh off
    es.indices.put_settings(index=index, settings={"number_of_replicas": 0})
    started, done = time.monotonic(), 0
    for ok, item in helpers.parallel_bulk(
        es.options(request_timeout=300),
        # Actions and sources as text: the helpers send a str as it is (their annotations name
        # only dicts), which spares the client's JSON encoding of 10M documents.
        cast(Any, documents(bodies, big_app, sizes, total)),
        index=index,
        expand_action_callback=cast(Any, lambda pair: pair),
        thread_count=2,
        chunk_size=2_000,
        queue_size=4,
    ):
        if not ok:
            raise RuntimeError(f"indexing failed: {item}")
        done += 1
        if done % 250_000 == 0:
            rate = done / (time.monotonic() - started)
            progress(
                f"{index}: {done:,} of {total:,} ({rate:,.0f} docs/s, "
                f"{(total - done) / rate / 60:.0f} min left; load {common.load_average()})"
            )
    seconds = time.monotonic() - started
    versions.swap(index, None)  # refresh back on, refreshed, behind the alias
    es.indices.put_mapping(index=index, meta={"bigchat": marker})
    progress(f"{index}: {done:,} documents in {seconds:.0f} s ({done / seconds:,.0f}/s)")
    return {"index": index, "reused": False, "seconds": round(seconds), "docs_per_s": round(done / seconds)}


def _stats(es: Elasticsearch, index: str) -> dict:
    stats = es.indices.stats(index=index, metric="docs,store,segments")["indices"][index]["primaries"]
    return {
        "docs": stats["docs"]["count"],
        "size_mb": round(stats["store"]["size_in_bytes"] / 1e6),
        "segments": stats["segments"]["count"],
    }


# Four shards against one at the 1M tier: the chats of up to 100k among 1M messages, in one shard and in four.
SHARD_SIZES = {chat: size for chat, size in SIZES.items() if size <= 100_000}
SHARD_TOTAL = 1_000_000
SHARD_COUNTS = (1, 4)


def shard_alias(shards: int) -> str:
    return f"bench-shards-{shards}"


def ensure_shards(progress=print) -> dict:
    bodies = Bodies()
    big_app = ensure_mysql(bodies, progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    return {
        shard_alias(n): ensure_index(
            es, bodies, big_app, progress, shard_alias(n), n, SHARD_SIZES, SHARD_TOTAL
        )
        for n in SHARD_COUNTS
    }


def ensure(progress=print, shards: int = 1) -> dict:
    bodies = Bodies()
    big_app = ensure_mysql(bodies, progress)
    es = Elasticsearch(common.ES_URL, request_timeout=120)
    return {"application_id": big_app, **ensure_index(es, bodies, big_app, progress, shards=shards)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--shard-tier", action="store_true", help="the 1M indexes of 1 and 4 shards")
    args = parser.parse_args()
    if args.shard_tier:
        print(json.dumps(ensure_shards(common.Progress("shard tier data")), indent=2))
    else:
        print(json.dumps(ensure(common.Progress("bigchat data")), indent=2))
