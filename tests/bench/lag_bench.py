"""End-to-end lag through the deployed stack: from a 201 to the message in MySQL and in search.

A steady offered load of message creations goes through API Gateway to the deployed `chat` stack;
its writer (SQS event source, the template's batch size and window) persists them. A watcher polls
MySQL and the search index every 50 ms for the numbers still outstanding, and records when each
first appears. Lag = first seen - 201 received; "both" is the later of the two.

Afterwards `cleanup_main()` removes what the benchmarks put into the deployed stack's stores
(applications named bench-*, their chats, messages, documents and Redis keys).

    .local/venvs/app/bin/python -m tests.bench.lag_bench [--rate 10] [--seconds 30]
"""

import argparse
import json
import threading
import time
import uuid
from typing import Any

import pymysql
import redis
import requests
from elasticsearch import Elasticsearch

from tests.bench import common
from tests.bench.gateway_bench import stack_outputs

POLL_SECONDS = 0.05


def _main_db():
    return pymysql.connect(
        host="127.0.0.1",
        port=common.MYSQL_PORT,
        user="chat",
        password="chat",
        database="chat",
        autocommit=True,
    )


def mapping_config() -> dict:
    """The deployed writer's event source mapping, as LocalStack reports it."""
    import boto3

    outputs = json.loads((common.STATE / "stack-outputs.json").read_text())
    mappings = boto3.client("lambda").list_event_source_mappings(FunctionName=outputs["WriterFunctionName"])[
        "EventSourceMappings"
    ]
    return (
        {k: mappings[0].get(k) for k in ("BatchSize", "MaximumBatchingWindowInSeconds")} if mappings else {}
    )


def run(rate: float = 10.0, seconds: float = 30.0, progress=print) -> dict:
    api = stack_outputs()["ApiUrl"]
    s = requests.Session()
    token = s.post(
        f"{api}/applications", json={"name": f"bench-lag-{uuid.uuid4().hex[:6]}"}, timeout=30
    ).json()["token"]
    s.post(f"{api}/applications/{token}/chats", timeout=30).raise_for_status()
    with _main_db() as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM applications WHERE token = SHA2(%s, 256)", (token,))
        app_id = cur.fetchone()[0]
    es = Elasticsearch(common.ES_URL, request_timeout=30)
    accepted: dict[Any, float] = {}
    seen_db: dict[Any, float] = {}
    seen_es: dict[Any, float] = {}
    lock, sending_done = threading.Lock(), threading.Event()

    def watch():
        with _main_db() as conn, conn.cursor() as cur:
            while True:
                with lock:
                    outstanding_db = [n for n in accepted if n not in seen_db]
                    outstanding_es = [n for n in accepted if n not in seen_es]
                if not outstanding_db and not outstanding_es and sending_done.is_set():
                    return
                now = time.perf_counter()
                if outstanding_db:
                    marks = ", ".join(["%s"] * len(outstanding_db))
                    cur.execute(
                        f"SELECT m.number FROM messages m JOIN chats c ON c.id = m.chat_id "
                        f"WHERE c.application_id = %s AND c.number = 1 AND m.number IN ({marks})",
                        (app_id, *outstanding_db),
                    )
                    for (n,) in cur.fetchall():
                        seen_db.setdefault(n, now)
                if outstanding_es:
                    found = es.search(
                        index="messages",
                        size=len(outstanding_es),
                        source_includes=["number"],
                        query={
                            "bool": {
                                "filter": [
                                    {"term": {"application_id": app_id}},
                                    {"term": {"chat_number": 1}},
                                    {"terms": {"number": outstanding_es}},
                                ]
                            }
                        },
                    )
                    for hit in found["hits"]["hits"]:
                        seen_es.setdefault(hit["_source"]["number"], now)
                if time.perf_counter() > deadline + 60:
                    return  # whatever is still missing is reported as missing
                time.sleep(POLL_SECONDS)

    deadline = time.perf_counter() + seconds
    watcher = threading.Thread(target=watch)
    watcher.start()
    interval, next_at, sent, accept_ms = 1.0 / rate, time.perf_counter(), 0, []
    while next_at < deadline:
        time.sleep(max(0.0, next_at - time.perf_counter()))
        started = time.perf_counter()
        r = s.post(
            f"{api}/applications/{token}/chats/1/messages",
            json={"body": f"lag probe {sent} about the weekend"},
            timeout=30,
        )
        done = time.perf_counter()
        accept_ms.append((done - started) * 1000)
        if r.status_code == 201:
            with lock:
                accepted[r.json()["number"]] = done
        sent += 1
        next_at += interval
        if sent % max(1, int(rate * 10)) == 0:
            progress(f"sent {sent}, in MySQL {len(seen_db)}, in search {len(seen_es)}")
    sending_done.set()
    watcher.join()
    lag_db = [(seen_db[n] - t) * 1000 for n, t in accepted.items() if n in seen_db]
    lag_es = [(seen_es[n] - t) * 1000 for n, t in accepted.items() if n in seen_es]
    lag_both = [
        (max(seen_db[n], seen_es[n]) - t) * 1000 for n, t in accepted.items() if n in seen_db and n in seen_es
    ]
    out: dict[str, Any] = {
        "offered_per_s": rate,
        "seconds": seconds,
        "sent": sent,
        "accepted": len(accepted),
        "missing": len(accepted) - len(lag_both),
        "writer_mapping": mapping_config(),
        "accept_through_gateway": common.latency(accept_ms),
        "lag_mysql": common.latency(lag_db),
        "lag_search": common.latency(lag_es),
        "lag_both": common.latency(lag_both),
        "poll_ms": POLL_SECONDS * 1000,
    }
    progress(
        f"lag to MySQL p50 {out['lag_mysql']['p50_ms']} ms / p99 {out['lag_mysql']['p99_ms']} ms; "
        f"to search p50 {out['lag_search']['p50_ms']} / p99 {out['lag_search']['p99_ms']} ms; "
        f"{out['missing']} missing"
    )
    return out


def _delete_with_referring_rows(cur, table: str, where: str, params: list) -> None:
    """Deletes `table`'s rows matching `where`, after the rows that refer to them by foreign key,
    found in the schema (webhook endpoints, read positions, deletions: whatever a section made)."""
    cur.execute(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
        "WHERE REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = %s "
        "AND REFERENCED_COLUMN_NAME = 'id'",
        (table,),
    )
    for child, column in cur.fetchall():
        _delete_with_referring_rows(cur, child, f"{column} IN (SELECT id FROM {table} WHERE {where})", params)
    cur.execute(f"DELETE FROM {table} WHERE {where}", params)


def cleanup_main(progress=print, wait_seconds: float = 30.0) -> dict:
    """Removes the bench-* applications from the deployed stack's MySQL, index and Redis."""
    from chalicelib.adapters.redis import keys as redis_keys

    with _main_db() as conn, conn.cursor() as cur:
        cur.execute("SELECT id, token FROM applications WHERE name LIKE 'bench-%%'")
        apps = cur.fetchall()
        if not apps:
            return {"applications": 0}
        ids = [a[0] for a in apps]
        marks = ", ".join(["%s"] * len(ids))
        # Whatever is still queued for them lands within the writer's window: let it land first.
        deadline = time.monotonic() + wait_seconds
        last = None
        while time.monotonic() < deadline:
            cur.execute(
                f"SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id "
                f"WHERE c.application_id IN ({marks})",
                ids,
            )
            count = cur.fetchone()[0]
            if count == last:
                break
            last = count
            time.sleep(3)
        messages = last or 0
        _delete_with_referring_rows(cur, "applications", f"id IN ({marks})", ids)
    docs = delete_documents(ids)
    r = redis.Redis(port=common.REDIS_PORT, db=0)
    for app_id, token in apps:
        keys = [redis_keys.chats(app_id), redis_keys.token(token)]
        keys += [k for pattern in redis_keys.of_application(app_id) for k in r.scan_iter(pattern)]
        r.delete(*keys)
    progress(
        f"removed {len(apps)} bench applications ({messages} messages, {docs} documents) "
        f"from the deployed stack"
    )
    return {"applications": len(apps), "messages": messages, "documents": docs}


def delete_documents(application_ids: list) -> int:
    """Deletes the applications' documents from the deployed index (this node has no
    _delete_by_query: its reindex module is not on Maven Central)."""
    es = Elasticsearch(common.ES_URL, request_timeout=60)
    deleted = 0
    while True:
        es.indices.refresh(index="messages")
        hits = es.search(
            index="messages", size=5000, source=False, query={"terms": {"application_id": application_ids}}
        )["hits"]["hits"]
        if not hits:
            return deleted
        es.bulk(
            operations=[
                {
                    "delete": {
                        "_index": "messages",
                        "_id": h["_id"],
                        **{k[1:]: h[k] for k in ["_routing"] if k in h},
                    }
                }
                for h in hits
            ]
        )
        deleted += len(hits)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    try:
        print(json.dumps(run(args.rate, args.seconds, progress=common.Progress("lag")), indent=2))
    finally:
        cleanup_main()
