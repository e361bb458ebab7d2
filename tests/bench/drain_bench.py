"""The writer as deployed: a pre-filled SQS queue drained by the writer function through
LocalStack's event source mapping, at the template's batch size (100) and window (1 s).

A bench queue is filled first (send_message_batch, 4 threads), then the mapping is created and
the clock runs until every message is in MySQL and in the index. The function is the same code and
layer as the stack's writer, with its MemorySize (512 MB); its REPORT lines give the peak memory.

    .local/venvs/app/bin/python -m tests.bench.drain_bench [--events 20000]
"""

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from elasticsearch import Elasticsearch

from tests.bench import common, writer_bench
from tests.bench.resources import Resources, run_alone

INDEX = "bench-drain"


def fill(queue_url: str, records: list) -> float:
    sqs = boto3.client("sqs")

    def send(chunk):
        for i in range(0, len(chunk), 10):
            entries = [{"Id": str(j), "MessageBody": body} for j, (_, body) in enumerate(chunk[i : i + 10])]
            failed = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"send_message_batch failed: {failed[:1]}")

    started = time.perf_counter()
    quarter = -(-len(records) // 4)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, [records[i : i + quarter] for i in range(0, len(records), quarter)]))
    return time.perf_counter() - started


def wait_drained(index: str, expected: int, started: float, timeout: float, poll=1.0, progress=None) -> tuple:
    """Waits until MySQL holds `expected` messages and `index` as many documents, or `timeout`
    seconds after `started`; returns (rows, documents)."""
    es = Elasticsearch(common.ES_URL, request_timeout=30)
    rows = docs = 0
    with common.datagen.connect(common.WRITE_DB) as conn, conn.cursor() as cur:
        while time.perf_counter() - started < timeout:
            time.sleep(poll)
            cur.execute("SELECT COUNT(*) FROM messages")
            rows = (cur.fetchone() or (0,))[0]
            es.indices.refresh(index=index)
            docs = es.count(index=index)["count"]
            if rows >= expected and docs >= expected:
                break
            if progress and int(time.perf_counter() - started) % 10 == 0:
                progress(f"draining: {rows} rows, {docs} docs")
    return rows, docs


def run(res: Resources, events: int = 20_000, timeout: float = 300.0, progress=print) -> dict:
    common.ensure_database(common.WRITE_DB)
    deps = common.deps(index=INDEX)
    ids = writer_bench.reset_stores(deps)
    es = Elasticsearch(common.ES_URL, request_timeout=30)
    es.indices.delete(index=INDEX, ignore_unavailable=True)
    from chalicelib.adapters.search import search_index

    es.indices.create(index=INDEX, **search_index.index_body())
    records = writer_bench.make_events(events, sorted({a for a, _ in ids}), seed=9)
    queue_url, queue_arn = res.queue("drain")
    name = res.function(
        "writer",
        "handlers.writer.handle_creations",
        common.function_env(common.WRITE_DB, INDEX, queue_url),
        memory=512,
        timeout=30,
    )
    fill_s = fill(queue_url, records)
    progress(f"queue filled with {events} events in {fill_s:.1f} s ({events / fill_s:.0f}/s)")
    meter = common.Cpu().start()
    started = time.perf_counter()
    res.sqs_mapping(name, queue_arn, batch_size=100, window=1)
    rows, docs = wait_drained(INDEX, events, started, timeout, progress=progress)
    seconds = time.perf_counter() - started
    cpu = meter.stop()
    reports = res.reports(name)
    out = {
        "driven": "deployed function, LocalStack SQS event source mapping",
        "events": events,
        "batch_size": 100,
        "window_s": 1,
        "fill_s": round(fill_s, 1),
        "seconds": round(seconds, 1),
        "mysql_rows": rows,
        "es_docs": docs,
        "messages_per_s": round(min(rows, docs) / seconds),
        "invocations": len(reports),
        "max_memory_used_mb": max((r.get("max_memory_used", 0) for r in reports), default=None),
        "memory_size_mb": 512,
        "handler_ms_p50": common.latency([r["duration"] for r in reports if "duration" in r])["p50_ms"],
        "cpu_s": cpu,
    }
    progress(
        f"drained {min(rows, docs)} in {seconds:.1f} s = {out['messages_per_s']}/s over "
        f"{len(reports)} invocations; writer peak {out['max_memory_used_mb']} MB of 512"
    )
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    run_alone(run, "drain", events=parser.parse_args().events)
