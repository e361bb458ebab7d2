"""A keyed create whose queue send got no answer, and its retry: the API in-process, its SQS client
behind a TCP proxy to LocalStack that, while told to, drops the connection when the answer comes
back (the event was queued) or before passing the request on (it was not). Real Redis, MySQL and
SQS."""

import contextlib
import json
import os
import socket
import threading
import uuid

import boto3
import pytest
import redis

from chalicelib.adapters.redis import keys as redis_keys
from chalicelib.adapters.sqs import queue
from tests.helpers import eventually
from tests.integration.support import JSON, REDIS_URL


class LossyProxy:
    """Forwards TCP to `upstream`. While `losing` is "answer", a connection whose answer comes back
    is closed instead (the request took effect, its caller hears nothing); while it is "request",
    one whose request comes is closed before passing it on (nothing happened, the caller cannot
    tell)."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.losing: str | None = None
        self.lost = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                caller, _ = self._server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(caller, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, caller, True), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        try:
            while data := source.recv(65536):
                if self.losing == ("answer" if answers else "request"):
                    self.lost += 1
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def proxy():
    port = int(os.environ.get("LOCALSTACK_PORT", "4566"))
    p = LossyProxy(("127.0.0.1", port))
    yield p
    p.close()


@pytest.fixture
def behind_proxy(chat_app, deps, proxy, queue_url, monkeypatch):
    """The API's routes with their SQS client going through the proxy."""
    sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{proxy.port}", config=queue.CLIENT_CONFIG)
    proxied = deps.replace(queue=queue.Queue(sqs, queue_url))
    monkeypatch.setattr(chat_app, "api_deps", lambda: proxied)
    return proxied


def post(client, path, body=None, key=None):
    headers = {**JSON, **({"Idempotency-Key": f'"{key}"'} if key else {})}
    response = client.http.post(path, headers=headers, body=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.body)


def created(client, path, body, key=None):
    """The create's answer once numbering has reopened: a request's time after it was found
    closed on a server that was a replica (the chaos cases leave one), at once on any other."""
    return eventually(lambda: (answer := post(client, path, body, key))[0] == 201 and answer, timeout=20)


def depth(sqs, queue_url) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_a_keyed_retry_after_a_lost_queue_answer_stores_the_message_once_under_its_number(
    client, application, writer, deps, proxy, behind_proxy, sqs, queue_url
):
    """The retry comes while the first copy still waits in the queue: both copies reach the writer."""
    token = application["token"]
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 1})
    path, body, key = f"/applications/{token}/chats/1/messages", {"body": "told once"}, uuid.uuid4().hex

    proxy.losing = "answer"
    status, answer = post(client, path, body, key)
    proxy.losing = None
    assert (status, answer["code"]) == (503, "unavailable") and proxy.lost >= 1
    assert depth(sqs, queue_url) >= 1  # SQS took it (twice if botocore retried): nothing stored yet

    retried = post(client, path, body, key)
    assert retried == (201, {"number": 1})  # the number the first attempt queued, sent again
    assert post(client, path, body, key) == retried  # and every later retry agrees
    writer.drain()

    app_id = deps.db.application(token).id
    assert [(m.number, m.body) for m in deps.db.messages(app_id, 1, 0, 10)] == [(1, "told once")]
    with deps.mysql.cursor() as cur:
        cur.execute("SELECT number FROM create_conflicts WHERE application_id = %s", (app_id,))
        assert list(cur.fetchall()) == []  # the copies were one create told again, not a clash
    assert post(client, path, {"body": "next"}) == (201, {"number": 2})  # no number left unused


@pytest.mark.parametrize("lost", ["answer", "request"])
def test_after_a_failover_between_the_attempts_the_number_is_never_sent_again(
    client, application, writer, deps, proxy, behind_proxy, lost
):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 1})
    writer.drain()
    path, body, key = f"/applications/{token}/chats/1/messages", {"body": "mine"}, uuid.uuid4().hex
    proxy.losing = lost
    assert post(client, path, body, key)[0] == 503
    proxy.losing = None
    # Numbering's epoch is no longer trusted, as after a failover (the key's record survived).
    redis.Redis.from_url(REDIS_URL).delete(redis_keys.EPOCH)

    if lost == "answer":
        status, answer = post(client, path, body, key)
        assert (status, answer["code"]) == (503, "unavailable")  # its first copy is still queued
        writer.drain()  # numbering reopens once the queue is empty: the copy is in MySQL
        assert created(client, path, body, key) == (201, {"number": 1})
        assert post(client, path, {"body": "someone else's"}) == (201, {"number": 2})
        expected = [(1, "mine"), (2, "someone else's")]
    else:
        # Nothing was queued: numbering reopens from MySQL and hands 1 out again.
        assert created(client, path, {"body": "someone else's"}) == (201, {"number": 1})
        assert post(client, path, body, key) == (201, {"number": 2})  # never 1 again
        expected = [(1, "someone else's"), (2, "mine")]
    mine = next(n for n, b in expected if b == "mine")
    assert post(client, path, body, key) == (201, {"number": mine})  # later retries agree
    writer.drain()
    app_id = deps.db.application(token).id
    assert [(m.number, m.body) for m in deps.db.messages(app_id, 1, 0, 10)] == expected
    with deps.mysql.cursor() as cur:
        cur.execute("SELECT number FROM create_conflicts WHERE application_id = %s", (app_id,))
        assert list(cur.fetchall()) == []
