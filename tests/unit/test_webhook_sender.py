"""The webhook sender (adapters/http) against a receiver on loopback: what it sends, what it
refuses to reach, and how long it waits."""

import json
import socket
import threading
import time

import pytest
from standardwebhooks import Webhook

from chalicelib.adapters.http.webhook_sender import WebhookSender
from chalicelib.domain import signing
from chalicelib.domain.webhooks import allowed, new_secret

BODY = json.dumps({"type": "message.created", "data": {"chat_number": 1}}).encode()


def test_a_2xx_is_delivered_and_the_receiver_verifies_it(receiver):
    secret = new_secret()
    headers = signing.headers([secret], "evt_1_1", int(time.time()), BODY)
    assert WebhookSender(allow_loopback=True).send(receiver.url, headers, BODY).delivered
    [got] = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["data"] == {"chat_number": 1}
    assert got.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (404, None), (429, 30), (503, 7)])
def test_anything_but_a_2xx_fails_and_a_retry_after_is_kept(receiver, status, retry_after):
    receiver.status = status
    if retry_after:
        receiver.extra_headers["Retry-After"] = str(retry_after)
    outcome = WebhookSender(allow_loopback=True).send(receiver.url, {}, BODY)
    assert not outcome.delivered and str(status) in outcome.error and outcome.retry_after == retry_after


def test_a_redirect_is_not_followed(receiver):
    receiver.status = 307
    receiver.extra_headers["Location"] = "http://169.254.169.254/latest/meta-data"
    outcome = WebhookSender(allow_loopback=True).send(receiver.url, {}, BODY)
    assert not outcome.delivered and "redirect" in outcome.error and receiver.answered == 1


def test_a_slow_receiver_is_given_up_on_at_the_deadline(receiver):
    receiver.delay = 4
    started = time.monotonic()
    outcome = WebhookSender(allow_loopback=True, response_timeout=0.5).send(receiver.url, {}, BODY)
    assert not outcome.delivered and outcome.late
    assert time.monotonic() - started < 3  # not the 4 s (slack: a loaded CI)


def test_a_send_given_less_time_gives_up_within_it_and_says_it_ran_out(receiver):
    # The fast lane's budget: connecting and the answer together, under the sender's own timeouts.
    receiver.delay = 4
    started = time.monotonic()
    outcome = WebhookSender(allow_loopback=True).send(receiver.url, {}, BODY, within=0.3)
    assert not outcome.delivered and outcome.late and "0.3" in outcome.error
    assert time.monotonic() - started < 3  # not the 4 s, nor the 5 s timeout
    receiver.delay = 0
    assert WebhookSender(allow_loopback=True).send(receiver.url, {}, BODY, within=2).delivered


def test_a_refusal_is_not_late():
    # Nothing listens: refused at once, which the fast lane counts as a failure, not as slowness.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    outcome = WebhookSender(allow_loopback=True).send(f"http://127.0.0.1:{port}/hook", {}, BODY, within=1)
    assert not outcome.delivered and not outcome.late


def dripping(scheme: str, first: bytes, then: bytes) -> str:
    """The URL of a one-shot server on loopback that reads the request, sends `first`, then
    `then` every 0.1 s for 4 s."""
    listener = socket.create_server(("127.0.0.1", 0))

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            conn.sendall(first)
            for _ in range(40):
                conn.sendall(then)
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()
        listener.close()

    threading.Thread(target=drip, daemon=True).start()
    return f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/hook"


def test_a_receiver_dripping_its_answer_is_cut_off_at_the_deadline():
    url = dripping("http", b"HTTP/1.1 200 OK\r\n", b"X-Slow: 1\r\n")
    started = time.monotonic()
    outcome = WebhookSender(allow_loopback=True, response_timeout=0.6).send(url, {}, BODY)
    assert not outcome.delivered and "no answer" in outcome.error and outcome.late
    assert time.monotonic() - started < 3  # not the 4 s of dripping


def test_loopback_is_refused_unless_allowed(receiver):
    outcome = WebhookSender(allow_loopback=False).send(receiver.url, {}, BODY)
    assert not outcome.delivered and "not public" in outcome.error and receiver.answered == 0


@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
     "::1", "fd00:ec2::254", "fe80::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "224.0.0.1", "ff02::1",
     # IPv4 inside IPv6: NAT64 (a VPC's NAT gateway translates it), IPv4-compatible, SIIT; site-local
     "64:ff9b::10.0.0.1", "64:ff9b::169.254.169.254", "::10.0.0.1", "::ffff:0:10.0.0.1", "fec0::1"],
)  # fmt: skip
def test_addresses_that_are_not_public_are_refused(address):
    assert not allowed(address, allow_loopback=False)


def test_public_addresses_are_allowed():
    assert allowed("93.184.215.14", False) and allowed("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False)
    assert allowed("64:ff9b::93.184.215.14", False)  # NAT64 to a public address


def test_a_name_resolving_to_any_private_address_is_refused_before_connecting():
    # DNS rebinding: one public and one private answer, or a private one at delivery time.
    tried = []

    def resolve(host, port):
        tried.append(host)
        return ["93.184.215.14", "10.0.0.7"]

    sender = WebhookSender(resolve=resolve)
    outcome = sender.send("https://hooks.example.com/in", {}, BODY)
    assert not outcome.delivered and "not public" in outcome.error and tried == ["hooks.example.com"]


def test_the_connection_goes_to_the_address_checked_not_to_a_second_lookup(receiver):
    # The name resolves once, to loopback (allowed here); http.client must not resolve again.
    lookups = []

    def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    url = f"http://rebind.invalid:{receiver.port}/hook"
    assert WebhookSender(allow_loopback=True, resolve=resolve).send(url, {}, BODY).delivered
    assert lookups == ["rebind.invalid"] and receiver.received[0].headers["Host"].startswith("rebind.invalid")


def test_a_resolver_that_does_not_answer_is_given_up_on_at_the_connect_timeout():
    def resolve(host, port):
        time.sleep(3)
        return ["127.0.0.1"]

    started = time.monotonic()
    sender = WebhookSender(allow_loopback=True, resolve=resolve, connect_timeout=0.3)
    outcome = sender.send("http://slow-dns.invalid:9/in", {}, BODY)
    assert not outcome.delivered and "resolve" in outcome.error and outcome.late
    assert time.monotonic() - started < 1.5  # not the resolver's 3 s


def test_many_unreachable_addresses_share_one_connect_timeout(monkeypatch):
    # A name may resolve to dozens of addresses that never answer: each must not get 3 s of its own.
    tried = []

    def never_answers(address, timeout):
        tried.append(timeout)
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", never_answers)
    sender = WebhookSender(
        resolve=lambda host, port: [f"93.184.215.{n}" for n in range(10, 30)], connect_timeout=0.3
    )
    started = time.monotonic()
    outcome = sender.send("https://many.example/in", {}, BODY)
    assert not outcome.delivered and "connect" in outcome.error and outcome.late
    assert time.monotonic() - started < 1.0 and len(tried) >= 1  # not 20 × 0.3 s


def test_a_receiver_dripping_its_tls_handshake_is_cut_off_at_the_deadline():
    # A handshake record of 16 KiB opening a ServerHello, then a byte at a time.
    url = dripping("https", b"\x16\x03\x03\x40\x00\x02\x00\x3f\xfc", b"\x00")
    started = time.monotonic()
    outcome = WebhookSender(allow_loopback=True, connect_timeout=0.5, response_timeout=0.6).send(
        url, {}, BODY
    )
    assert not outcome.delivered and outcome.late
    assert time.monotonic() - started < 2.5  # not the 4 s of dripping
