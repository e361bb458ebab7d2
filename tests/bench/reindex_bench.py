"""Rebuilding the index from MySQL at 1M messages while edits and searches go on through the alias.

    .local/venvs/app/bin/python -m tests.bench.reindex_bench [--edits-per-s 20]

The data is `chat_bench` (tests/bench/datagen.py); the alias `bench-reindex` and its versions are
the bench's own (the first run fills one, unmeasured, so that each measured run replaces a full
index). A thread plays the writer (an edit in MySQL, then indexed through the alias at
its version) and a reader (a search through the alias) during the whole rebuild; afterwards every
edited message must be in the new index at its MySQL version.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "functions"))

from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.mysql.stored_messages import StoredMessages
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import IndexVersions, doc_id, routing
from chalicelib.usecases import reindex
from chalicelib.wiring import clients, settings, stores
from tests.bench import common, search_bench

ALIAS = "bench-reindex"


class Traffic(threading.Thread):
    """Edits at a fixed rate, each followed by a search, until stopped; remembers what it edited."""

    def __init__(self, deps, keys: list, per_second: float):
        super().__init__(daemon=True)
        self.deps, self.keys, self.pause = deps, keys, 1 / per_second
        self.stop = threading.Event()
        self.edited: set = set()
        self.phase = "before"
        self.search_ms: dict = {"before": [], "during": []}
        self.rng = random.Random(5)

    def run(self) -> None:
        while not self.stop.is_set():
            key = self.rng.choice(self.keys)
            self.deps.db.edit_message(*key, f"reindex bench edit {self.rng.random()}")
            assert not self.deps.indexer.index(self.deps.batches.current_messages([key]))
            self.edited.add(key)
            started = time.perf_counter()
            self.deps.finder.find(key[0], key[1], ["hello"], 20)
            self.search_ms[self.phase].append((time.perf_counter() - started) * 1000)
            self.stop.wait(self.pause)


def run(edits_per_s: float = 20, progress=print) -> dict:
    search_bench.ensure_data(progress)
    s = settings.from_env({**os.environ, **common.function_env(common.DATA_DB, ALIAS)})
    deps = stores.build(s)
    es = clients.elasticsearch_client(s)
    versions = IndexVersions(es, ALIAS)
    source = StoredMessages(MySQL(clients.mysql_connect(s)))
    deps.index_schema.ensure_index()
    es.indices.refresh(index=ALIAS)
    if es.count(index=ALIAS)["count"] < source.count():
        # The measured rebuild replaces a full index, as it would in service: fill one first.
        progress("filling the serving index first (not measured)")
        reindex.rebuild(source, versions, lambda name: Indexer(es, name), settle=0, drop_old=True)
    with common.datagen.connect(common.DATA_DB) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT c.application_id, c.number, m.number FROM messages m JOIN chats c ON c.id = m.chat_id "
            "ORDER BY RAND(3) LIMIT 5000"
        )
        keys = list(cur.fetchall())

    started = time.perf_counter()
    read = sum(len(p) for p in source.pages(2000))
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    changed = sum(len(p) for p in source.pages(2000, changed_since=source.now()))
    empty_pass_s = time.perf_counter() - started

    traffic = Traffic(deps, keys, edits_per_s)
    phases: dict = {}

    def tick(p: reindex.Progress) -> None:
        if p.phase not in phases:
            phases[p.phase] = time.perf_counter()
            progress(f"{p.phase} ({p.done}/{p.total})")
        elif p.phase == "copy" and p.done % 200_000 < 2000:
            progress(f"copy {p.done}/{p.total}")

    # The same traffic before the rebuild gives search's same-run baseline; lasting longer than
    # the catch-up's clock margin, it also keeps freshly generated rows out of the first catch-up.
    traffic.start()
    time.sleep(reindex.CLOCK_MARGIN.total_seconds() + 5)
    traffic.phase = "during"
    result = reindex.rebuild(
        source, versions, lambda name: Indexer(es, name), page=2000, settle=2, drop_old=True, progress=tick
    )
    traffic.stop.set()
    traffic.join()
    es.indices.refresh(index=ALIAS)
    stored = {m.key: m.version for m in deps.batches.current_messages(sorted(traffic.edited))}
    found = {}
    for key in traffic.edited:
        doc = es.get(index=ALIAS, id=doc_id(*key), routing=routing(*key[:2]))
        found[key] = doc["_version"]
    lost = sum(1 for key, version in stored.items() if found.get(key) != version)
    copy_s = phases.get("catch-up", phases["swapped"]) - phases["copy"]
    out = {
        "messages": result.copied,
        "seconds": round(result.seconds, 1),
        "copy_s": round(copy_s, 1),
        "copy_docs_per_s": round(result.copied / copy_s),
        "caught_up": result.caught_up,
        # The same pages read from MySQL alone, just before: what the copy would take without ES.
        "mysql_read_only_s": round(read_s, 1),
        "mysql_read_only_per_s": round(read / read_s),
        "empty_catch_up_pass_s": round(empty_pass_s, 2),
        "changed_in_empty_pass": changed,
        "edits": len(traffic.edited),
        "edits_lost": lost,
        "search_before": common.latency(traffic.search_ms["before"]),
        "search_during_rebuild": common.latency(traffic.search_ms["during"]),
        "search_p50_during_over_before": common.ratio(
            common.percentile(traffic.search_ms["during"], 50),
            common.percentile(traffic.search_ms["before"], 50),
        ),
        "load_average": common.load_average(),
        "old": result.old,
        "new": result.new,
    }
    progress(
        f"{out['messages']} messages copied in {out['copy_s']} s ({out['copy_docs_per_s']}/s; MySQL "
        f"alone {out['mysql_read_only_s']} s), {out['seconds']} s in all; {out['edits']} edits meanwhile, "
        f"{lost} lost; search p50/p99 before {out['search_before']['p50_ms']}/"
        f"{out['search_before']['p99_ms']} ms, during {out['search_during_rebuild']['p50_ms']}/"
        f"{out['search_during_rebuild']['p99_ms']} ms"
    )
    return out  # the new version stays behind the alias, for the next run to replace


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("--edits-per-s", type=float, default=20)
    print(json.dumps(run(parser.parse_args().edits_per_s), indent=2))
