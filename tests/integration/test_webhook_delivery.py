"""Webhook delivery in-process on real MariaDB, Redis and SQS, to a receiver inside pytest:
signatures the reference library accepts, feed order per chat, retries, the sweep.

The deployed stack's delivery function sweeps the same MySQL every minute: it may take a pair's
lease and deliver some events itself. That is one more worker, as on AWS, so the tests wait for
what arrives (from either) and check order and completeness, not who sent it."""

import json
import time

import pytest
from standardwebhooks import Webhook

from tests.helpers import invoke
from tests.integration.support import patch, post
from tests.receiver import Receiver, start, stop


class Work:
    """Plays the delivery function's SQS event sources on the session's two work queues (the
    fast lane's and the slow lane's), one after the other."""

    def __init__(self, sqs, *urls):
        from handlers import delivery

        self.handler, self.sqs, self.urls = delivery.deliver_webhooks, sqs, urls

    def run(self) -> int:
        """Hands every work item queued (those due) to the delivery function; returns how many."""
        handled = 0
        for _ in range(100):
            batches = [
                self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                for url in self.urls
            ]
            if not any(got.get("Messages") for got in batches):
                return handled
            for url, got in zip(self.urls, batches, strict=True):
                messages = got.get("Messages", [])
                if messages:
                    event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}
                    assert invoke(self.handler, event)["batchItemFailures"] == []
                    for m in messages:
                        self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    handled += len(messages)
        return handled

    def sweep(self) -> dict:
        return invoke(self.handler, {"source": "aws.events"})

    def until(self, arrived, timeout: float = 60) -> None:
        """Sweeps and delivers until `arrived()` or the timeout (then the test's asserts tell)."""
        deadline = time.monotonic() + timeout
        while not arrived() and time.monotonic() < deadline:
            self.sweep()
            self.run()
            time.sleep(0.5)


@pytest.fixture
def work(chat_app, sqs, webhook_work_url, webhook_slow_work_url):
    w = Work(sqs, webhook_work_url, webhook_slow_work_url)
    w.run()  # start from an empty queue
    return w


def test_a_chats_messages_reach_the_receiver_signed_and_in_feed_order(
    client, application, writer, work, receiver, endpoints
):
    token = application["token"]
    endpoint = endpoints(token, receiver.url)
    chat = post(client, f"/applications/{token}/chats")[1]["number"]
    for body in ("one", "two", "three"):
        post(client, f"/applications/{token}/chats/{chat}/messages", {"body": body})
    writer.drain()
    work.until(lambda: len(receiver.received) >= 4)  # no announcement here: the sweep finds the chat
    events = receiver.events()
    assert [e["type"] for e in events] == [
        "chat.created",
        "message.created",
        "message.created",
        "message.created",
    ]
    assert [e["data"]["message"]["body"] for e in events[1:]] == ["one", "two", "three"]
    positions = [e["data"]["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == 4
    for got in receiver.received:
        assert Webhook(endpoint["secret"]).verify(got.body, got.headers)


def test_an_edit_after_delivery_is_delivered_as_an_edit(
    client, application, writer, work, receiver, endpoints
):
    token = application["token"]
    endpoints(token, receiver.url, ["message.edited"])
    chat = post(client, f"/applications/{token}/chats")[1]["number"]
    post(client, f"/applications/{token}/chats/{chat}/messages", {"body": "first"})
    writer.drain()
    work.run()
    patch(client, f"/applications/{token}/chats/{chat}/messages/1", {"body": "second"})
    writer.drain()
    work.until(lambda: len(receiver.received) >= 1)
    assert [(e["type"], e["data"]["message"]["body"]) for e in receiver.events()] == [
        ("message.edited", "second")
    ]


def test_a_receiver_that_fails_gets_everything_in_order_when_it_is_back(
    client, application, writer, work, receiver, endpoints
):
    token = application["token"]
    endpoints(token, receiver.url, ["message.created"])
    chat = post(client, f"/applications/{token}/chats")[1]["number"]
    receiver.status = 503
    for body in ("a", "b"):
        post(client, f"/applications/{token}/chats/{chat}/messages", {"body": body})
    writer.drain()
    work.until(lambda: receiver.answered >= 1)
    assert receiver.received == [] and receiver.answered >= 1
    receiver.status = 200
    post(client, f"/applications/{token}/chats/{chat}/messages", {"body": "c"})
    writer.drain()
    work.until(lambda: len(receiver.received) >= 3)
    assert [e["data"]["message"]["body"] for e in receiver.events()] == ["a", "b", "c"]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == 3


def test_a_receiver_that_fails_the_first_attempts_gets_the_event_after_growing_waits(
    client, application, writer, work, receiver, endpoints
):
    receiver.fail_first = 2
    token = application["token"]
    endpoint = endpoints(token, receiver.url, ["message.created"])
    chat = post(client, f"/applications/{token}/chats")[1]["number"]
    post(client, f"/applications/{token}/chats/{chat}/messages", {"body": "third time lucky"})
    writer.drain()
    work.until(lambda: len(receiver.received) >= 1, timeout=30)
    [got] = receiver.received
    assert (
        Webhook(endpoint["secret"]).verify(got.body, got.headers)["data"]["message"]["body"]
        == "third time lucky"
    )
    first, second, third = receiver.attempts[:3]
    assert second - first >= 0.8 and third - second >= 1.6  # 1 s, then 2 s (each ±20%)


def test_another_applications_failing_receiver_does_not_hold_this_one_back(
    client, writer, work, receiver, endpoints
):
    down = Receiver(status=500)
    server = start(down)
    try:
        tokens = [post(client, "/applications", {"name": n})[1]["token"] for n in ("slow", "fine")]
        endpoints(tokens[0], down.url, ["message.created"])
        endpoints(tokens[1], receiver.url, ["message.created"])
        for token in tokens:
            chat = post(client, f"/applications/{token}/chats")[1]["number"]
            post(client, f"/applications/{token}/chats/{chat}/messages", {"body": "x"})
        writer.drain()
        work.until(lambda: len(receiver.received) >= 1 and down.answered >= 1)
        assert len(receiver.received) == 1 and down.received == [] and down.answered >= 1
    finally:
        stop(server)


def test_the_delivery_state_survives_redis_being_flushed(
    client, application, writer, work, receiver, deps, endpoints
):
    token = application["token"]
    endpoints(token, receiver.url, ["message.created"])
    chat = post(client, f"/applications/{token}/chats")[1]["number"]
    post(client, f"/applications/{token}/chats/{chat}/messages", {"body": "before"})
    writer.drain()
    work.until(lambda: len(receiver.received) >= 1)
    deps.redis.flushdb()  # a failover to an empty replica: delivery state is in MySQL
    work.sweep()
    work.run()
    assert [e["data"]["message"]["body"] for e in receiver.events()] == ["before"]
    assert json.loads(receiver.received[0].body)["type"] == "message.created"
