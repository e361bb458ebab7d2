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

import pytest
import requests

from tests.bench import common
from tests.chaos import stack, webhooks
from tests.chaos.scenarios import QUICK
from tests.receiver import Receiver, start, stop

pytestmark = [pytest.mark.chaos, pytest.mark.chaos_quick]

OUTAGE_SECONDS = int(os.environ.get("CHAOS_WEBHOOK_OUTAGE_SECONDS", 10 if QUICK else 300))
BEFORE_SECONDS, AFTER_SECONDS = (5, 5) if QUICK else (20, 30)
RATE = 4.0  # creates per second, both applications together
CHATS = 3
# After the receiver is back: its endpoint's next probe (backoff doubling to 256 s within a
# 5-minute outage), then every waiting chat at once.
SETTLE_SECONDS = 2 * OUTAGE_SECONDS + (60 if QUICK else 120)


def test_a_receiver_down_for_minutes_gets_everything_in_order_and_others_are_not_held_back():
    cfg = stack.target()
    api = json.loads((cfg.state / "stack-outputs.json").read_text())["ApiUrl"]
    s = requests.Session()
    victim, bystander = Receiver(), Receiver()
    victim_server, bystander_server = start(victim), start(bystander)
    tokens = {
        "victim": webhooks.application(s, api, victim, CHATS),
        "bystander": webhooks.application(s, api, bystander, CHATS),
    }
    started = time.time()
    down_at, up_at = started + BEFORE_SECONDS, started + BEFORE_SECONDS + OUTAGE_SECONDS
    state: dict = {"server": victim_server, "down": False, "back": None}

    def outage(_: float) -> None:
        if not state["down"] and state["back"] is None and time.time() >= down_at:
            stop(state["server"])  # connections are refused from now on
            state["down"] = True
        if state["down"] and time.time() >= up_at:
            state.update(server=start(victim), down=False, back=time.time())

    seconds = BEFORE_SECONDS + OUTAGE_SECONDS + AFTER_SECONDS
    sent, accepted = webhooks.stream(s, api, tokens, CHATS, RATE, seconds, outage)
    victim_server, back = state["server"], state["back"]
    settle_deadline = time.time() + SETTLE_SECONDS
    while time.time() < settle_deadline and any(
        len(r.first_arrivals()) < len(accepted[w]) for w, r in (("victim", victim), ("bystander", bystander))
    ):
        time.sleep(1)
    stop(victim_server)
    stop(bystander_server)

    arrivals = {w: r.first_arrivals() for w, r in (("victim", victim), ("bystander", bystander))}
    delivered_all_at = max((got.at for got in arrivals["victim"].values()), default=time.time())
    during = [
        (arrivals["bystander"][k].at - t) * 1000
        for k, t in accepted["bystander"].items()
        if k in arrivals["bystander"] and down_at <= t < up_at
    ]
    outside = [
        (arrivals["bystander"][k].at - t) * 1000
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
        "duplicates": {"victim": victim.duplicates(), "bystander": bystander.duplicates()},
        "in_order": {"victim": victim.in_order(), "bystander": bystander.in_order()},
        "victim_all_delivered_after_back_s": round(delivered_all_at - (back or up_at), 1),
        "victim_requests_received": len(victim.attempts),
        "bystander_lag_during_outage_ms": common.latency(during),
        "bystander_lag_outside_ms": common.latency(outside),
        "load_average": common.load_average(),
    }
    webhooks.record(cfg, result)
    assert result["missing"] == {"victim": 0, "bystander": 0}, result
    assert result["in_order"] == {"victim": True, "bystander": True}, result
    # Unaffected: the bystander's lag while the victim is down is its lag outside the outage, in
    # the same run (absolute times follow the machine's load; the target is `make bench`'s).
    during_p50, outside_p50 = (
        result[f"bystander_lag_{w}_ms"]["p50_ms"] for w in ("during_outage", "outside")
    )
    assert during_p50 <= 2 * outside_p50 + 500, result
