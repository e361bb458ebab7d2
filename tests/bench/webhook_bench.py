"""Webhook latency through the deployed stack: from a message's 201 to its `message.created`
arriving at a healthy receiver on loopback.

A steady offered load of creations goes through API Gateway into several chats of one
application with one endpoint; the writer persists and announces each batch, the delivery
function (SQS event source) posts each change. The receiver, a server in this process, records
when each event arrives. Lag = arrival - 201 received. Duplicates (the same `webhook-id` twice)
are counted.

With `--neighbour-delay S`, a second application gets as many creates, to its own receiver,
which answers each after S seconds (7: past the sender's 5 s, so every delivery times out; 0:
a healthy neighbour, the same load): the lag measured is still the first application's.

    .local/venvs/app/bin/python -m tests.bench.webhook_bench [--rate 10] [--seconds 30] [--neighbour-delay 7]
"""

import argparse
import json
import time
import uuid
from typing import Any

import requests

from tests.bench import common
from tests.bench.gateway_bench import stack_outputs
from tests.receiver import Receiver, start, stop

CHATS = 4


def _application(s: requests.Session, api: str, receiver: Receiver) -> str:
    token = s.post(
        f"{api}/applications", json={"name": f"bench-webhooks-{uuid.uuid4().hex[:6]}"}, timeout=30
    ).json()["token"]
    endpoint = s.post(
        f"{api}/applications/{token}/webhooks",
        json={"url": receiver.url, "events": ["message.created"]},
        timeout=30,
    )
    endpoint.raise_for_status()
    for _ in range(CHATS):
        s.post(f"{api}/applications/{token}/chats", timeout=30).raise_for_status()
    return token


def run(
    rate: float = 10.0, seconds: float = 30.0, progress=print, neighbour_delay: float | None = None
) -> dict:
    api = stack_outputs()["ApiUrl"]
    s = requests.Session()
    receiver, neighbour = Receiver(), Receiver(delay=neighbour_delay or 0.0)
    servers = [start(receiver)] + ([start(neighbour)] if neighbour_delay is not None else [])
    try:
        token = _application(s, api, receiver)
        other = _application(s, api, neighbour) if neighbour_delay is not None else None
        accepted: dict[tuple[int, int], float] = {}
        interval, next_at, sent = 1.0 / rate, time.time(), 0
        deadline = time.time() + seconds
        while next_at < deadline:
            time.sleep(max(0.0, next_at - time.time()))
            chat = sent % CHATS + 1
            r = s.post(
                f"{api}/applications/{token}/chats/{chat}/messages",
                json={"body": f"webhook probe {sent}"},
                timeout=30,
            )
            if r.status_code == 201:
                accepted[(chat, r.json()["number"])] = time.time()
            if other is not None:
                s.post(f"{api}/applications/{other}/chats/{chat}/messages", json={"body": "x"}, timeout=30)
            sent += 1
            next_at += interval
            if sent % max(1, int(rate * 10)) == 0:
                progress(f"sent {sent}, delivered {len(receiver.received)}")
        wait_until = time.time() + 90
        while len(_arrivals(receiver)) < len(accepted) and time.time() < wait_until:
            time.sleep(0.2)
        arrivals = _arrivals(receiver)
        lag_ms = [(arrivals[k] - t) * 1000 for k, t in accepted.items() if k in arrivals]
        ids = [r.headers.get("webhook-id") for r in receiver.received]
        out: dict[str, Any] = {
            "offered_per_s": rate,
            "seconds": seconds,
            "neighbour_delay_s": neighbour_delay,
            "neighbour_requests": len(neighbour.arrived),
            "chats": CHATS,
            "accepted": len(accepted),
            "delivered": len(lag_ms),
            "missing": len(accepted) - len(lag_ms),
            "duplicates": len(ids) - len(set(ids)),
            "out_of_order_chats": _out_of_order(receiver),
            "lag_ms": common.latency(lag_ms),
            "lag_max_ms": round(max(lag_ms, default=0)),
            # Creates held a second or more (behind a fast-lane invocation that waited on a receiver).
            "lags_over_1s": sum(1 for lag in lag_ms if lag >= 1000),
        }
        progress(json.dumps(out))
        return out
    finally:
        for server in servers:
            stop(server)


def _arrivals(receiver: Receiver) -> dict[tuple[int, int], float]:
    first: dict[tuple[int, int], float] = {}
    for got in receiver.received:
        data = got.event["data"]
        first.setdefault((data["chat_number"], data["message"]["number"]), got.at)
    return first


def _out_of_order(receiver: Receiver) -> int:
    """Chats whose events arrived with a position lower than one before it (a redelivery of an
    event already delivered is not disorder: dedupe by id first)."""
    seen: set[str] = set()
    last: dict[int, int] = {}
    bad: set[int] = set()
    for got in receiver.received:
        if got.headers.get("webhook-id") in seen:
            continue
        seen.add(got.headers.get("webhook-id", ""))
        data = got.event["data"]
        if data["position"] < last.get(data["chat_number"], -1):
            bad.add(data["chat_number"])
        last[data["chat_number"]] = data["position"]
    return len(bad)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--neighbour-delay", type=float, default=None)
    args = parser.parse_args()
    print(json.dumps(run(args.rate, args.seconds, neighbour_delay=args.neighbour_delay), indent=2))
