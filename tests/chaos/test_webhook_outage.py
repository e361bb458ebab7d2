"""A webhook receiver down for minutes during a steady stream (docs/reliability.md#webhooks):
once it is back it gets every event, in order per chat, duplicates counted; another
application's receiver, up throughout, is not held back.

Through the deployed stack: creates through API Gateway, the writer, the delivery function
(SQS event source and its every-minute sweep), to two receivers in this process on loopback.
`make chaos`: a 5-minute outage; QUICK=1 (CI): 10 s. The figures go to
$CHAT_STATE_DIR/chaos/webhooks.jsonl and the test's output.
"""

import json
import os
import time
import uuid

import pytest
import requests

from tests.bench import common
from tests.chaos import stack
from tests.chaos.scenarios import QUICK
from tests.receiver import Receiver, start

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_quick]

OUTAGE_SECONDS = int(os.environ.get("CHAOS_WEBHOOK_OUTAGE_SECONDS", 10 if QUICK else 300))
BEFORE_SECONDS, AFTER_SECONDS = (5, 5) if QUICK else (20, 30)
RATE = 4.0  # creates per second, both applications together
CHATS = 3
# After the receiver is back: its endpoint's next probe (backoff doubling to 256 s within a
# 5-minute outage), then every waiting chat at once.
SETTLE_SECONDS = 2 * OUTAGE_SECONDS + (60 if QUICK else 120)


def _application(s: requests.Session, api: str, receiver: Receiver) -> str:
    token = s.post(f"{api}/applications", json={"name": f"chaos-webhooks-{uuid.uuid4().hex[:6]}"}, timeout=30)
    token = token.json()["token"]
    hook = {"url": receiver.url, "events": ["message.created"]}
    s.post(f"{api}/applications/{token}/webhooks", json=hook, timeout=30).raise_for_status()
    for _ in range(CHATS):
        s.post(f"{api}/applications/{token}/chats", timeout=30).raise_for_status()
    return token


def _first_arrivals(receiver: Receiver) -> dict[tuple[int, int], tuple[float, int]]:
    """(chat, message number) -> (first arrival, position), by webhook-id."""
    first: dict[tuple[int, int], tuple[float, int]] = {}
    for got in receiver.received:
        data = got.event["data"]
        first.setdefault((data["chat_number"], data["message"]["number"]), (got.at, data["position"]))
    return first


def _in_order(receiver: Receiver) -> bool:
    seen: set[str] = set()
    last: dict[int, int] = {}
    for got in receiver.received:
        if got.headers["webhook-id"] in seen:
            continue  # a redelivery: the receiver dedupes it
        seen.add(got.headers["webhook-id"])
        chat, position = got.event["data"]["chat_number"], got.event["data"]["position"]
        if position < last.get(chat, -1):
            return False
        last[chat] = position
    return True


def test_a_receiver_down_for_minutes_gets_everything_in_order_and_others_are_not_held_back():
    cfg = stack.target()
    api = json.loads((cfg.state / "stack-outputs.json").read_text())["ApiUrl"]
    s = requests.Session()
    victim, bystander = Receiver(), Receiver()
    victim_server, bystander_server = start(victim), start(bystander)
    tokens = {"victim": _application(s, api, victim), "bystander": _application(s, api, bystander)}
    accepted: dict[str, dict[tuple[int, int], float]] = {"victim": {}, "bystander": {}}
    started = time.time()
    down_at, up_at = started + BEFORE_SECONDS, started + BEFORE_SECONDS + OUTAGE_SECONDS
    end = up_at + AFTER_SECONDS
    sent, next_at, is_down, back = 0, started, False, None
    while next_at < end:
        time.sleep(max(0.0, next_at - time.time()))
        if not is_down and back is None and time.time() >= down_at:
            victim_server.shutdown()
            victim_server.server_close()  # connections are refused from now on
            is_down = True
        if is_down and time.time() >= up_at:
            victim_server, is_down, back = start(victim), False, time.time()
        who = ("victim", "bystander")[sent % 2]
        chat = (sent // 2) % CHATS + 1
        r = s.post(
            f"{api}/applications/{tokens[who]}/chats/{chat}/messages", json={"body": f"e{sent}"}, timeout=30
        )
        if r.status_code == 201:
            accepted[who][(chat, r.json()["number"])] = time.time()
        sent, next_at = sent + 1, next_at + 1 / RATE
    settle_deadline = time.time() + SETTLE_SECONDS
    while time.time() < settle_deadline and any(
        len(_first_arrivals(r)) < len(accepted[w]) for w, r in (("victim", victim), ("bystander", bystander))
    ):
        time.sleep(1)
    victim_server.shutdown()
    bystander_server.shutdown()

    arrivals = {w: _first_arrivals(r) for w, r in (("victim", victim), ("bystander", bystander))}
    delivered_all_at = max((at for at, _ in arrivals["victim"].values()), default=time.time())
    during = [
        (arrivals["bystander"][k][0] - t) * 1000
        for k, t in accepted["bystander"].items()
        if k in arrivals["bystander"] and down_at <= t < up_at
    ]
    outside = [
        (arrivals["bystander"][k][0] - t) * 1000
        for k, t in accepted["bystander"].items()
        if k in arrivals["bystander"] and not down_at <= t < up_at
    ]
    result: dict = {
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "outage_seconds": OUTAGE_SECONDS,
        "offered": sent,
        "accepted": {w: len(a) for w, a in accepted.items()},
        "delivered": {w: len(a) for w, a in arrivals.items()},
        "missing": {w: len(set(accepted[w]) - set(arrivals[w])) for w in accepted},
        "duplicates": {
            w: len(r.received) - len({g.headers["webhook-id"] for g in r.received})
            for w, r in (("victim", victim), ("bystander", bystander))
        },
        "in_order": {"victim": _in_order(victim), "bystander": _in_order(bystander)},
        "victim_all_delivered_after_back_s": round(delivered_all_at - (back or up_at), 1),
        "victim_requests_received": len(victim.attempts),
        "bystander_lag_during_outage_ms": common.latency(during),
        "bystander_lag_outside_ms": common.latency(outside),
        "load_average": common.load_average(),
    }
    out = cfg.state / "chaos" / "webhooks.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as lines:
        lines.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))
    assert result["missing"] == {"victim": 0, "bystander": 0}, result
    assert result["in_order"] == {"victim": True, "bystander": True}, result
    # Unaffected: the bystander's lag while the victim is down is its lag outside the outage, in
    # the same run (absolute times follow the machine's load; the target is `make bench`'s).
    during_p50, outside_p50 = (
        result[f"bystander_lag_{w}_ms"]["p50_ms"] for w in ("during_outage", "outside")
    )
    assert during_p50 <= 2 * outside_p50 + 500, result
