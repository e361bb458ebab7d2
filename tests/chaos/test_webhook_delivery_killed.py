"""The delivery function killed mid-delivery, again and again, during a steady stream
(docs/reliability.md#webhooks): afterwards every event has arrived, in order per chat; the
duplicates a kill between a 2xx and the cursor's move makes are counted and reported.

Through the deployed stack: creates through API Gateway, the writer, the changes topic, the
delivery function (its SQS event sources and its every-minute sweep) to two receivers in this
process on loopback, which take a moment to answer so that kills land while deliveries are in
flight. Every environment of the delivery function is SIGKILLed (a crashed Lambda sandbox: the
host executor runs each as a process) every few seconds; what a killed worker held comes back
when its pair's lease runs out (the sweep) or its batch's visibility timeout does. In full
`make chaos` only. The figures go to $CHAT_STATE_DIR/chaos/webhooks.jsonl and the output.
"""

import json
import time

import pytest
import requests

from tests.bench import common
from tests.chaos import stack, webhooks
from tests.receiver import Receiver, start, stop

pytestmark = pytest.mark.chaos

RATE = 4.0  # creates per second, both applications together
SECONDS = 60
CHATS = 3
KILL_FROM_SECONDS, KILL_EVERY_SECONDS = 10.0, 6.0
ANSWER_SECONDS = 0.3  # the receivers' time to answer: deliveries are in flight when a kill lands
# A killed worker's pairs: their lease (60 s) then the next sweep (every minute); a killed batch's
# work messages come back after the queue's visibility timeout (360 s) at the latest.
SETTLE_SECONDS = 420


def test_a_delivery_function_killed_mid_delivery_loses_nothing_and_keeps_each_chats_order():
    cfg = stack.target()
    api = json.loads((cfg.state / "stack-outputs.json").read_text())["ApiUrl"]
    s = requests.Session()
    receivers = {name: Receiver(delay=ANSWER_SECONDS) for name in ("first", "second")}
    servers = [start(r) for r in receivers.values()]
    try:
        tokens = {name: webhooks.application(s, api, r, CHATS) for name, r in receivers.items()}
        kills: list[tuple[float, int]] = []  # (seconds into the stream, environments killed)

        def kill(elapsed: float) -> None:
            due = KILL_FROM_SECONDS + KILL_EVERY_SECONDS * len(kills)
            if elapsed >= due and due < SECONDS - KILL_EVERY_SECONDS:
                kills.append((round(elapsed, 1), stack.kill_environments(cfg, "DeliveryFunctionName")))

        sent, accepted = webhooks.stream(s, api, tokens, CHATS, RATE, SECONDS, kill)
        stream_end = time.time()
        settle_deadline = stream_end + SETTLE_SECONDS
        while time.time() < settle_deadline and any(
            len(receivers[w].first_arrivals()) < len(accepted[w]) for w in receivers
        ):
            time.sleep(1)
    finally:
        for server in servers:
            stop(server)

    arrivals = {w: r.first_arrivals() for w, r in receivers.items()}
    last_arrival = max((got.at for a in arrivals.values() for got in a.values()), default=stream_end)
    result: dict = {
        "scenario": "delivery function killed mid-delivery",
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "offered": sent,
        "kills": kills,
        "accepted": {w: len(a) for w, a in accepted.items()},
        "delivered": {w: len(arrivals[w]) for w in receivers},
        "missing": {w: len(set(accepted[w]) - set(arrivals[w])) for w in receivers},
        "duplicates": {w: r.duplicates() for w, r in receivers.items()},
        "in_order": {w: r.in_order() for w, r in receivers.items()},
        "all_delivered_after_stream_s": round(last_arrival - stream_end, 1),
        "load_average": common.load_average(),
    }
    webhooks.record(cfg, result)
    assert sum(n for _, n in kills) > 0, result  # a kill that found no environment tests nothing
    assert result["missing"] == dict.fromkeys(receivers, 0), result
    assert result["in_order"] == dict.fromkeys(receivers, True), result
