"""A receiver that accepts the connection and answers too late, every time: another
application's deliveries all arrive, in order, while it is still timing out (docs/architecture.md,
"Webhooks": the slow lane). A receiver that answers slowly but in time, the first time, before
its application is marked slow: the fast lane gives up on it at its budget, so another
application's next delivery arrives before it answers; it still gets every event, in order.

In-process on real MariaDB, Redis and SQS, with the delivery function's SQS event sources played
as LocalStack plays them: a poller per queue (the fast lane's, the slow lane's) that hands the
function one batch at a time and waits for its answer. The writer's announcements are played
too: after each write the changed chats go to the fast lane's queue, as the changes topic sends
them. Each run's figures (the healthy application's lag from a create's answer to its event's
arrival, beside a slow or a healthy neighbour) are appended to
$CHAT_STATE_DIR/webhooks-slow-receiver.jsonl for docs/performance.md; nothing here is timed."""

import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

import pytest
from chalice.local import LambdaContext

from tests.helpers import eventually
from tests.integration.support import post
from tests.receiver import Receiver, start, stop

ROUNDS = 30  # one create for each application a round
EVERY_SECONDS = 0.5
CHATS = 2
TOO_LATE_SECONDS = 7.0  # past the sender's 5 s for an answer
SLOW_SECONDS = 3.0  # past the fast lane's 1 s, in time for the sender's 5 s
STATE = Path(os.environ.get("CHAT_STATE_DIR", Path(__file__).resolve().parents[2] / ".local"))


class Lanes:
    """The delivery function's event sources: one poller a queue, one batch at a time each."""

    def __init__(self, sqs, *urls: str):
        from handlers import delivery

        self.handler, self.sqs = delivery.deliver_webhooks, sqs
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.pollers = [threading.Thread(target=self._poll, args=(url,), daemon=True) for url in urls]

    def __enter__(self) -> "Lanes":
        for poller in self.pollers:
            poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for poller in self.pollers:
            poller.join(30)

    def _poll(self, url: str) -> None:
        while not self.stopping.is_set():
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            messages = got.get("Messages", [])
            if not messages:
                continue
            event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}
            try:
                answer = self.handler(event, LambdaContext("delivery", 512, max_runtime_ms=60_000))
            except Exception as exc:
                self.errors.append(exc)
                continue
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            for m in messages:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def applications(client, deps, endpoints, urls: dict[str, str], chats: int) -> tuple[dict, dict]:
    """A new application per name, with an endpoint for `message.created` at its URL and `chats`
    chats: (tokens, ids) by name."""
    tokens = {
        n: post(client, "/applications", {"name": f"it-{n}-{uuid.uuid4().hex[:6]}"})[1]["token"] for n in urls
    }
    for name, url in urls.items():
        endpoints(tokens[name], url, ["message.created"])
        for _ in range(chats):
            assert post(client, f"/applications/{tokens[name]}/chats")[0] == 201
    return tokens, {n: deps.db.application(t).id for n, t in tokens.items()}


@pytest.mark.parametrize("neighbour", ["slow", "healthy"])
def test_a_receiver_that_answers_too_late_holds_back_no_other_applications_deliveries(
    client, deps, writer, sqs, webhook_work_url, webhook_slow_work_url, receiver, endpoints, neighbour
):
    other = Receiver(delay=TOO_LATE_SECONDS if neighbour == "slow" else 0.0)
    server = start(other)
    try:
        names = ("neighbour", "healthy")
        tokens, ids = applications(
            client, deps, endpoints, {"neighbour": other.url, "healthy": receiver.url}, CHATS
        )
        writer.drain()
        created: dict[tuple[int, int], float] = {}
        with Lanes(sqs, webhook_work_url, webhook_slow_work_url) as lanes:
            started = time.time()
            for n in range(ROUNDS):
                chat = n % CHATS + 1
                for name, token in tokens.items():
                    status, message = post(
                        client, f"/applications/{token}/chats/{chat}/messages", {"body": f"m{n}"}
                    )
                    assert status == 201, message
                    if name == "healthy":
                        created[(chat, message["number"])] = time.time()
                writer.drain()
                # The writer's announcement, as the changes topic puts it on the fast lane's queue.
                changes = {"changes": [[ids[name], chat, 0] for name in names]}
                sqs.send_message(QueueUrl=webhook_work_url, MessageBody=json.dumps(changes))
                time.sleep(EVERY_SECONDS)
            eventually(lambda: set(created) <= set(receiver.first_arrivals()), timeout=120)
            [neighbours_endpoint] = deps.webhook_endpoints.of_application(ids["neighbour"])
        assert lanes.errors == []
        arrivals = {k: got.at for k, got in receiver.first_arrivals().items()}
        assert set(created) <= set(arrivals) and receiver.in_order()
        if neighbour == "slow":
            # Everything above arrived while the neighbour's receiver was still timing out.
            assert other.arrived and neighbours_endpoint.failures > 0
        in_turn = [round((arrivals[k] - t) * 1000) for k, t in sorted(created.items(), key=lambda kt: kt[1])]
        lags = sorted(in_turn)
        figures = {
            "at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
            "neighbour": neighbour,
            "creates": len(created),
            "lag_p50_ms": round(statistics.median(lags)),
            "lag_p90_ms": round(lags[int(len(lags) * 0.9)]),
            "lag_max_ms": round(lags[-1]),
            "neighbours_requests": len(other.arrived),
            "lags_in_turn_ms": in_turn,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        with (STATE / "webhooks-slow-receiver.jsonl").open("a") as lines:
            lines.write(json.dumps(figures) + "\n")
        print(json.dumps(figures))
    finally:
        stop(server)


def test_a_receivers_first_slow_answer_holds_back_no_other_applications_next_delivery(
    client, deps, writer, sqs, webhook_work_url, webhook_slow_work_url, receiver, endpoints
):
    slow = Receiver(delay=SLOW_SECONDS)
    server = start(slow)
    try:
        tokens, ids = applications(client, deps, endpoints, {"slow": slow.url, "healthy": receiver.url}, 1)

        def create(name: str, body: str) -> int:
            status, message = post(client, f"/applications/{tokens[name]}/chats/1/messages", {"body": body})
            assert status == 201, message
            writer.drain()
            return message["number"]

        def announce(name: str) -> None:
            changes = {"changes": [[ids[name], 1, 0]]}
            sqs.send_message(QueueUrl=webhook_work_url, MessageBody=json.dumps(changes))

        sent = [create("slow", "s0")]
        create("healthy", "h0")
        assert not deps.lanes.slow(ids["slow"])  # its first delivery starts in the fast lane
        with Lanes(sqs, webhook_work_url, webhook_slow_work_url) as lanes:
            announce("slow")
            eventually(lambda: slow.arrived, timeout=60)
            # The fast lane's invocation is under way with the slow receiver: the other
            # application's announcement comes next, in a batch of its own.
            announce("healthy")
            [healthy] = eventually(lambda: receiver.received, timeout=60)
            [first_answer, *_] = eventually(lambda: slow.attempts, timeout=60)
            # More for the slow receiver, while its application delivers in the slow lane.
            for n in range(1, 4):
                sent.append(create("slow", f"s{n}"))
                announce("slow")
            eventually(lambda: {number for _, number in slow.first_arrivals()} >= set(sent), timeout=120)
            [slow_endpoint] = deps.webhook_endpoints.of_application(ids["slow"])
        assert lanes.errors == []
        # Delivered while the slow receiver was still answering its first request.
        assert healthy.at < first_answer
        assert slow.in_order() and [number for _, number in slow.first_arrivals()] == sent
        # The fast lane's send was abandoned, not failed; the receiver got it again, same id.
        assert slow_endpoint.failures == 0 and slow.duplicates() >= 1
    finally:
        stop(server)
