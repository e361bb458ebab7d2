"""Integration fixtures: the Chalice handlers in-process, against real MariaDB, Redis, ES and SQS.

Each session gets its own queue, search index and Redis database, so these tests never touch
the deployed stack's data (MySQL rows are kept apart by each test's own application).
"""

import json
import os
import uuid

import boto3
import pytest
from chalice.test import Client

from handlers import writer as writer_function
from tests.helpers import invoke
from tests.integration.support import JSON, REDIS_URL, post
from tests.leaks import check_errors

QUOTA_KINDS = ("CREATES", "EDITS", "SEARCHES", "READS", "APPLICATIONS_PER_ADDRESS", "APPLICATIONS")


WEBHOOK_EVENTS = ["message.created", "message.edited", "message.deleted", "chat.created"]


@pytest.fixture(scope="session")
def sqs():
    return boto3.client("sqs")


@pytest.fixture(scope="session")
def queue_url(sqs):
    url = sqs.create_queue(QueueName=f"it-creations-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="session")
def webhook_work_url(sqs):
    url = sqs.create_queue(QueueName=f"it-webhook-work-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="session")
def webhook_slow_work_url(sqs):
    url = sqs.create_queue(QueueName=f"it-webhook-slow-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(scope="session")
def chat_app(queue_url, webhook_work_url, webhook_slow_work_url):
    index = f"messages-it-{uuid.uuid4().hex[:8]}"
    # A short request time (above queue.SEND_BOUND_SECONDS): numbering reopens 10 s after Redis
    # was found without its epoch.
    os.environ.update(
        CREATIONS_QUEUE_URL=queue_url, MESSAGES_INDEX=index, REDIS_URL=REDIS_URL, API_TIMEOUT_SECONDS="8"
    )
    # Webhook receivers inside the tests listen on loopback; announcements go to a queue of ours.
    os.environ.update(
        WEBHOOK_ALLOW_LOOPBACK="true",
        WEBHOOK_WORK_QUEUE_URL=webhook_work_url,
        WEBHOOK_SLOW_WORK_QUEUE_URL=webhook_slow_work_url,
    )
    # Every test creates its applications from one address and reads a lot: quotas that only
    # tests/integration/test_rate_limits.py lowers.
    os.environ.update({f"RATE_LIMIT_{kind}": "1000000" for kind in QUOTA_KINDS})
    from chalicelib.edge import migrate
    from chalicelib.wiring import settings, stores

    settings.get.cache_clear()
    settings.api.cache_clear()
    stores.deps.cache_clear()
    import app
    from handlers import counter, delivery, push, socket, writer

    # The routes and functions run in-process on the tests' stores (every setting), so a test can
    # put an adapter of its own in place; each function's own settings: tests/unit/test_settings_views.py.
    for entry_points, function_deps in (
        (app, "api_deps"),
        (socket, "socket_deps"),
        (push, "push_deps"),
        (writer, "writer_deps"),
        (counter, "counter_deps"),
        (delivery, "delivery_deps"),
    ):
        setattr(entry_points, function_deps, stores.deps)

    migrate.migrate(stores.deps())
    yield app
    # The index is an alias of versions (search.py); the reindex test adds one.
    es = stores.deps().elasticsearch
    es.indices.delete(index=",".join(es.indices.get(index=f"{index}-v*")) or index, ignore_unavailable=True)


@pytest.fixture(scope="session")
def deps(chat_app):
    from chalicelib.wiring import stores

    return stores.deps()


@pytest.fixture(autouse=True)
def numbering_open(deps):
    """A Redis database without an epoch (new, or flushed by an earlier test) makes creates wait
    out a request's time before numbering opens (test_recovery shows it). Each test has its own
    application, so numbering may open at once."""
    if not deps.epoch.epoch_state().is_open:
        deps.epoch.open_epoch(uuid.uuid4().hex)


@pytest.fixture
def client(chat_app):
    """The handlers in-process; every error answer a test gets is checked for internals."""
    with Client(chat_app.app) as c:
        answers = []
        request = c.http.request

        def recording(method, path, headers=None, body=b""):
            response = request(method, path, headers=headers, body=body)
            text = (
                response.body.decode("utf-8", "replace")
                if isinstance(response.body, bytes)
                else response.body
            )
            answers.append((method, path[:200], response.status_code, text))
            return response

        c.http.request = recording
        yield c
        check_errors(answers)


class Writer:
    """Plays the SQS event source: takes what is queued and hands it to the writer in batches."""

    def __init__(self, client, sqs, queue_url, deps):
        self.client, self.sqs, self.queue_url, self.deps = client, sqs, queue_url, deps

    def receive(self, limit: int = 10) -> list:
        out = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(limit, 10),
            WaitTimeSeconds=0,
            VisibilityTimeout=30,
        )
        return out.get("Messages", [])

    def deliver(self, messages: list) -> list:
        """Invokes the writer with `messages` as one batch; deletes what it took; returns failures."""
        event = {"Records": [_record(m) for m in messages]}
        response = invoke(writer_function.handle_creations, event)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        done = [m for m in messages if m["MessageId"] not in failed]
        for m in done:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
        return sorted(failed)

    def drain(self) -> None:
        """Delivers everything queued; fails if any record is refused."""
        for _ in range(1000):
            batch = self.receive()
            if not batch:
                break
            assert self.deliver(batch) == []
        self.deps.elasticsearch.indices.refresh(index=self.deps.settings.messages_index)


def _record(message: dict) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:it",
        "awsRegion": "us-east-1",
    }


@pytest.fixture
def writer(client, sqs, queue_url, deps):
    w = Writer(client, sqs, queue_url, deps)
    w.drain()  # start from an empty queue
    return w


@pytest.fixture
def application(client) -> dict:
    response = client.http.post(
        "/applications", headers=JSON, body=json.dumps({"name": f"it-{uuid.uuid4().hex[:8]}"})
    )
    assert response.status_code == 201, response.body
    return json.loads(response.body)


@pytest.fixture
def endpoints(client):
    """Registers webhook endpoints; removes them after the test, so no sweep keeps trying a
    receiver gone."""
    made = []

    def register(token: str, url: str, events=WEBHOOK_EVENTS) -> dict:
        status, endpoint = post(client, f"/applications/{token}/webhooks", {"url": url, "events": events})
        assert status == 201, endpoint
        made.append(f"/applications/{token}/webhooks/{endpoint['number']}")
        return endpoint

    yield register
    for path in made:
        client.http.delete(path)
