"""The invariant checker: what clients were told (201s) against MySQL rows, ES documents and the DLQ.

Used by every fault, load and soak run. It reads the stores directly (never through the API) so
that a bug in the read path cannot hide a bug in the write path.
"""

import json
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field

import pymysql
from elasticsearch import Elasticsearch, helpers

from chalicelib.domain.tokens import token_hash
from local.stack import services
from ops.sql import rows as sql_rows
from tests.chaos import stack
from tests.chaos.load import Ledger


@dataclass
class Report:
    name: str
    path: str
    offered: int = 0
    accepted: int = 0  # 201s: chats and messages
    refused: dict = field(default_factory=dict)  # status -> count
    persisted: int = 0  # accepted creates found in MySQL with what the client sent
    indexed: int = 0  # accepted messages found in ES with the body the client sent
    lost: int = 0  # accepted, and neither in MySQL nor in the dead-letter queue
    duplicated: int = 0  # a number told to two clients, or one body stored under two numbers
    dead_lettered: int = 0  # events of this run in the DLQ (poison offered on purpose included)
    dead_lettered_accepted: int = 0  # of those, creates a client was told 201 about
    not_indexed: int = 0
    unconfirmed_rows: int = 0  # rows no 201 told of (a client that got no answer, a redrive)
    gaps_untold: int = 0  # numbers skipped in MySQL that no client was told (503 after reserving)
    counts_wrong: int = 0  # chats/applications whose count differs from the rows after the counter
    clashes: int = 0  # creates the writer found clashing with another create's number (kept aside)
    recovery_seconds: float | None = None
    accept_p99_ratio: float | None = None  # noisy neighbour: B's p99 beside A over quiet
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.dead_lettered_accepted == 0
            and self.not_indexed == 0
            and self.counts_wrong == 0
        )

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok}


class Stores:
    """Direct readers of MySQL, Elasticsearch and the queues of one stack."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.outputs = stack.outputs(cfg)
        self.es = Elasticsearch(f"http://127.0.0.1:{cfg.es_port}", request_timeout=30)
        self.sqs = stack.sqs()

    def mysql(self):
        return pymysql.connect(
            host="127.0.0.1",
            port=self.cfg.mysql_port,
            user=services.MYSQL_USER,
            password=services.MYSQL_PASSWORD,
            database=services.MYSQL_DATABASE,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=3,
        )

    def rows(self, sql: str, args) -> list:
        return sql_rows(self.mysql, sql, args)

    def queue_depth(self, url_key: str = "QueueUrl") -> int:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attrs = self.sqs.get_queue_attributes(QueueUrl=self.outputs[url_key], AttributeNames=names)
        return sum(int(attrs["Attributes"].get(n, 0)) for n in names)

    def send(self, body: str) -> None:
        """Puts an event on the stack's creation queue (what `make audit REDRIVE=1` does)."""
        self.sqs.send_message(QueueUrl=self.outputs["QueueUrl"], MessageBody=body)

    def refresh(self) -> None:
        self.outputs = stack.outputs(self.cfg)  # a redeploy gives new queue URLs


# -- reading what the stores hold for a run's applications -------------------------------------------


def application_ids(stores: Stores, ledger: Ledger) -> dict:
    missing = [t for t, app_id in ledger.applications.items() if app_id is None]
    if missing:
        hashed = {token_hash(t): t for t in missing}  # MySQL keeps tokens as their SHA-256
        found = stores.rows("SELECT token, id FROM applications WHERE token IN %s", (list(hashed),))
        ledger.applications.update({hashed[h]: app_id for h, app_id in found})
    return dict(ledger.applications)


def _mysql_messages(stores: Stores, app_ids: list) -> list:
    return stores.rows(
        "SELECT c.application_id, c.number, m.number, m.body FROM messages m "
        "JOIN chats c ON c.id = m.chat_id WHERE c.application_id IN %s",
        (app_ids,),
    )


def _es_messages(stores: Stores, app_ids: list) -> list:
    query = {"query": {"terms": {"application_id": app_ids}}}
    return [
        (
            h["_source"]["application_id"],
            h["_source"]["chat_number"],
            h["_source"]["number"],
            h["_source"]["body"],
        )
        for h in helpers.scan(stores.es, index="messages", query=query)
    ]


def read_dead_letters(stores: Stores) -> list:
    """Every event body in the DLQ. Each is hidden while the DLQ is read, then shown again at
    once, so the next read sees them all too."""
    url, bodies, handles = stores.outputs["DeadLetterQueueUrl"], [], []
    for _ in range(1000):
        got = stores.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            break
        bodies += [m["Body"] for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    for i in range(0, len(handles), 10):
        entries = [
            {"Id": str(j), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for j, h in enumerate(handles[i : i + 10])
        ]
        stores.sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return bodies


def _event_key(body: str):
    try:
        event = json.loads(body)
        if event.get("type") == "message":
            return ("message", event["application_id"], event["chat_number"], event["number"])
        if event.get("type") == "chat":
            return ("chat", event["application_id"], event["number"])
    except (ValueError, KeyError, AttributeError):
        pass
    return ("malformed", body)


# -- waiting and checking ----------------------------------------------------------------------------


def settle(
    stores: Stores, ledger: Ledger, timeout: float, poll: float = 2.0, empty_queue: bool = True
) -> float:
    """Waits until every accepted message is in MySQL and ES (and, with `empty_queue`, the queue
    is empty), or the queue has stayed empty for 15 s; returns the seconds it took."""
    ids = application_ids(stores, ledger)
    app_ids = sorted(set(ids.values()))
    wanted = len(ledger.messages)
    started = time.monotonic()
    deadline = started + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        try:
            in_mysql = stores.rows(
                "SELECT COUNT(*) FROM messages m JOIN chats c ON c.id = m.chat_id "
                "WHERE c.application_id IN %s",
                (app_ids,),
            )[0][0]
            stores.es.indices.refresh(index="messages")
            in_es = stores.es.count(index="messages", query={"terms": {"application_id": app_ids}})["count"]
            depth = stores.queue_depth()
        except Exception:  # a store is still coming back
            time.sleep(poll)
            continue
        if in_mysql >= wanted and in_es >= wanted and (depth == 0 or not empty_queue):
            return time.monotonic() - started
        # An empty queue for a while means nothing more is coming (the rest is lost or dead-lettered).
        quiet_since = (quiet_since or time.monotonic()) if depth == 0 else None
        if quiet_since and time.monotonic() - quiet_since > 15:
            return time.monotonic() - started
        time.sleep(poll)
    return time.monotonic() - started


def run_counter(stores: Stores) -> dict:
    return stack.invoke(stores.cfg, "CounterFunctionName")


def check(
    stores: Stores,
    ledger: Ledger,
    name: str,
    path: str,
    counter: bool = True,
    dead_letters: list | None = None,
) -> Report:
    """Compares the ledger with the stores; `dead_letters` are DLQ bodies already read, if any."""
    report = Report(
        name=name, path=path, offered=ledger.offered, accepted=ledger.accepted, refused=dict(ledger.refused)
    )
    ids = application_ids(stores, ledger)
    token_of = {app_id: token for token, app_id in ids.items()}
    app_ids = sorted(token_of)

    told_messages = Counter((ids[t], c, n) for t, c, n, _ in ledger.messages)
    told_chats = Counter((ids[t], n) for t, n in ledger.chats)
    report.duplicated += sum(k - 1 for k in told_messages.values() if k > 1)
    report.duplicated += sum(k - 1 for k in told_chats.values() if k > 1)

    rows = {(a, c, n): body for a, c, n, body in _mysql_messages(stores, app_ids)}
    docs = defaultdict(list)
    for a, c, n, body in _es_messages(stores, app_ids):
        docs[(a, c, n)].append(body)
    chats = {
        (a, n)
        for a, n in stores.rows(
            "SELECT application_id, number FROM chats WHERE application_id IN %s", (app_ids,)
        )
    }
    # One body (unique per offered create) under two numbers is a duplicate the keys cannot catch.
    report.duplicated += sum(k - 1 for k in Counter(rows.values()).values() if k > 1)
    report.duplicated += sum(len(v) - 1 for v in docs.values() if len(v) > 1)

    if dead_letters is None:
        dead_letters = read_dead_letters(stores)
    run_keys = {_event_key(b) for b in dead_letters}
    mine = {
        k
        for k in run_keys
        if (k[0] == "malformed" and ledger.run in k[1]) or (k[0] != "malformed" and k[1] in token_of)
    }
    report.dead_lettered = len(mine)

    for token, chat_number, number, body in ledger.messages:
        key = (ids[token], chat_number, number)
        if rows.get(key) == body:
            report.persisted += 1
        elif key in rows:
            report.duplicated += 1  # the number went to someone else's body
            report.notes.append(f"message {key} holds another body")
        elif ("message", *key) in mine:
            report.dead_lettered_accepted += 1
        else:
            report.lost += 1
        if body in docs.get(key, []):
            report.indexed += 1
        elif key in rows:
            report.not_indexed += 1
    for token, number in ledger.chats:
        chat_key = (ids[token], number)
        if chat_key in chats:
            report.persisted += 1
        elif ("chat", *chat_key) in mine:
            report.dead_lettered_accepted += 1
        else:
            report.lost += 1

    report.clashes = stores.rows(
        "SELECT COUNT(*) FROM create_conflicts WHERE application_id IN %s", (app_ids,)
    )[0][0]

    told_keys = set(told_messages)
    report.unconfirmed_rows = len(set(rows) - told_keys) + len(chats - set(told_chats))
    per_chat = defaultdict(set)
    for a, c, n in rows:
        per_chat[(a, c)].add(n)
    for numbers in per_chat.values():
        report.gaps_untold += max(numbers) - len(numbers)
    if counter:
        report.counts_wrong = counts_wrong(stores, app_ids, run_counter(stores))
    return report


def counts_wrong(stores: Stores, app_ids: list, counter_result=None) -> int:
    """Chats and applications of the run whose count is not their number of rows."""
    chats = stores.rows(
        "SELECT c.id FROM chats c LEFT JOIN messages m ON m.chat_id = c.id "
        "WHERE c.application_id IN %s GROUP BY c.id, c.messages_count "
        "HAVING c.messages_count <> COUNT(m.id)",
        (app_ids,),
    )
    apps = stores.rows(
        "SELECT a.id FROM applications a LEFT JOIN chats c ON c.application_id = a.id "
        "WHERE a.id IN %s GROUP BY a.id, a.chats_count "
        "HAVING a.chats_count <> COUNT(c.id)",
        (app_ids,),
    )
    return len(chats) + len(apps)
