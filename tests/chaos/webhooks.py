"""What the webhook scenarios share: an application with an endpoint on a receiver in the test,
a steady stream of creates through API Gateway, and where their figures go."""

import json
import time
import uuid
from collections.abc import Callable

import requests

from local.stack import config
from tests.receiver import Receiver


def application(s: requests.Session, api: str, receiver: Receiver, chats: int) -> str:
    """A new application whose endpoint (message.created) is `receiver`, with `chats` chats."""
    token = s.post(f"{api}/applications", json={"name": f"chaos-webhooks-{uuid.uuid4().hex[:6]}"}, timeout=30)
    token = token.json()["token"]
    hook = {"url": receiver.url, "events": ["message.created"]}
    s.post(f"{api}/applications/{token}/webhooks", json=hook, timeout=30).raise_for_status()
    for _ in range(chats):
        s.post(f"{api}/applications/{token}/chats", timeout=30).raise_for_status()
    return token


def stream(
    s: requests.Session,
    api: str,
    tokens: dict[str, str],
    chats: int,
    rate: float,
    seconds: float,
    each: Callable[[float], None] = lambda at: None,
) -> tuple[int, dict[str, dict[tuple[int, int], float]]]:
    """Creates `rate` a second for `seconds`, round the applications and their chats in turn;
    `each(seconds since the start)` runs before every create. Returns how many were offered
    and, per application, when each accepted message (chat, number) was answered."""
    accepted: dict[str, dict[tuple[int, int], float]] = {name: {} for name in tokens}
    names = list(tokens)
    started = time.time()
    sent, next_at = 0, started
    while next_at < started + seconds:
        time.sleep(max(0.0, next_at - time.time()))
        each(time.time() - started)
        who = names[sent % len(names)]
        chat = (sent // len(names)) % chats + 1
        r = s.post(
            f"{api}/applications/{tokens[who]}/chats/{chat}/messages", json={"body": f"e{sent}"}, timeout=30
        )
        if r.status_code == 201:
            accepted[who][(chat, r.json()["number"])] = time.time()
        sent, next_at = sent + 1, next_at + 1 / rate
    return sent, accepted


def record(cfg: config.Config, result: dict) -> None:
    """Appends the figures to $CHAT_STATE_DIR/chaos/webhooks.jsonl and prints them."""
    out = cfg.state / "chaos" / "webhooks.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as lines:
        lines.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))
