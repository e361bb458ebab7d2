"""Live delivery as people see it: two real Chromium pages (the deployed web client) in one
chat. Ana's page sends a message at a conversation's pace; the time until Ben's page shows it is
taken in the pages themselves (Date.now() on both sides: one machine, one clock). Then Ben's
page sits idle, following the chat over its socket, and the HTTP requests it makes are counted.

Where the time goes, per message, on the same clock: Ana's 201 (her page's fetch), the row in
MySQL (the bench polls it every few ms), the change frame on Ben's socket and Ben's HTTP reads
(his page's WebSocket and fetch, timed by wrappers installed before it signs in), and the body
shown. The medians of each step are in "breakdown".

    .local/venvs/app/bin/python -m tests.bench.live_page_bench [--messages 200] [--pace 1.0]
"""

import argparse
import datetime
import json
import threading
import time
from typing import Any

import boto3
import requests
from selenium.webdriver.common.by import By

from tests.bench import common
from tests.browser.conftest import Person, start_chromium
from tests.conftest import STATE

# Ben's page notes when each message body first shows in its list, in the page's own clock.
WATCH = """
window.shownAt = {};
const note = (li) => {
  const body = li.querySelector && li.querySelector('.body');
  if (body && !(body.textContent in window.shownAt)) window.shownAt[body.textContent] = Date.now();
};
new MutationObserver((records) => records.forEach((r) => {
  r.addedNodes.forEach(note);
  if (r.target.closest) { const li = r.target.closest('li'); if (li) note(li); }
})).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
"""
# Ana's page sends as a person does (the composer and Enter), noting when.
SEND = """
const box = document.getElementById('composer-body');
box.value = arguments[0];
const sentAt = Date.now();
document.getElementById('composer').requestSubmit();
return sentAt;
"""
# Ana's 201s, and Ben's frames and reads, in each page's clock: the constructors are wrapped
# before the page opens its socket or sends, so the page's own listeners run after these.
TIME_PAGE = """
window.timed = {accepted: [], frames: [], reads: []};
const fetched = window.fetch;
window.fetch = async (url, init) => {
  const started = Date.now();
  const answer = await fetched(url, init);
  const method = (init && init.method) || 'GET';
  if (method === 'POST' && /\\/messages$/.test(url)) window.timed.accepted.push(Date.now());
  if (method === 'GET') window.timed.reads.push([started, Date.now(), String(url)]);
  return answer;
};
const Socket = window.WebSocket;
window.frameMode = 'all';
window.WebSocket = class extends Socket {
  constructor(...args) {
    super(...args);
    super.addEventListener('message', (event) => {
      try { window.timed.frames.push([Date.now(), JSON.parse(event.data)]); } catch (err) { }
    });
  }
  // What the page is handed, to compare (see MODES): every frame as it came ('all'); no
  // `accepted` frames, as if the push started after the write ('after-write'); and change frames
  // without what they carry either, so that it reads the feed on each ('notices').
  addEventListener(type, listener, options) {
    if (type !== 'message') return super.addEventListener(type, listener, options);
    return super.addEventListener(type, (event) => {
      const frame = JSON.parse(event.data);
      if (window.frameMode === 'all') return listener(event);
      if (frame.type === 'accepted') return;
      if (window.frameMode === 'notices' && frame.type === 'change') {
        delete frame.changes;
        delete frame.since;
      }
      listener(new MessageEvent('message', {data: JSON.stringify(frame)}));
    }, options);
  }
};
"""
FETCHES = "return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').length"


def _user_token(api: str, app_token: str, user_id: str) -> str:
    """What the application's backend does for a person who signed in to it."""
    grant = {"user_id": user_id, "name": user_id.title()}
    issued = requests.post(f"{api}/applications/{app_token}/user_tokens", json=grant, timeout=30)
    issued.raise_for_status()
    return str(issued.json()["token"])


def _open(person: Person, page: str, token: str) -> None:
    person.open(page)
    person.js(TIME_PAGE)
    person.driver.find_element(By.CSS_SELECTOR, "#user-token-input").send_keys(token)
    person.driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    person.until(lambda: person.driver.find_elements(By.CSS_SELECTOR, '#chat-list [data-chat="1"]'), 60)
    person.driver.find_element(By.CSS_SELECTOR, '#chat-list [data-chat="1"]').click()
    person.until(lambda: person.driver.find_element(By.CSS_SELECTOR, "#status").text == "Live", 60, "live")


class StoredAt:
    """When each message of the chat first shows in MySQL (epoch ms), polled every `every` s."""

    def __init__(self, app_token: str, every: float = 0.005):
        from chalicelib.domain.tokens import token_hash
        from chalicelib.wiring import settings, stores

        self._mysql = stores.build(settings.from_env()).mysql
        self._chat = self._mysql.count(
            "SELECT c.id FROM chats c JOIN applications a ON a.id = c.application_id "
            "WHERE a.token = %s AND c.number = 1",
            (token_hash(app_token),),
        )
        self._every = every
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "StoredAt":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        newest = 0
        while not self._stop.wait(self._every):
            rows = self._mysql.all(
                "SELECT number FROM messages WHERE chat_id = %s AND number > %s", (self._chat, newest)
            )
            now = time.time() * 1000
            for (number,) in rows:
                self.seen.setdefault(int(number), now)
                newest = max(newest, int(number))

    def positions(self) -> dict[str, tuple[int, int]]:
        """{body: (number, feed position)} of the chat's messages."""
        rows = self._mysql.all(
            "SELECT body, number, change_position FROM messages WHERE chat_id = %s", (self._chat,)
        )
        return {str(body): (int(number), int(position or 0)) for body, number, position in rows}


def invocations(
    function_name: str, since_ms: float, message: str, keep: Any = None
) -> list[tuple[float, float]]:
    """(start, end) of the function's invocations since `since_ms` that logged `message` (and
    that `keep(line)` keeps), epoch ms, from its log: the end is that line's time, the start
    that less the REPORT line's duration."""
    logs = boto3.client("logs")
    ended: dict[str, float] = {}
    took: dict[str, float] = {}
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{function_name}", "startTime": int(since_ms)}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page["events"]:
            text = event["message"]
            if text.startswith("REPORT RequestId: "):
                took[text.split()[2]] = float(text.split("Duration: ")[1].split(" ms")[0])
            elif f'"message":"{message}"' in text:
                line = json.loads(text)
                if keep is None or keep(line):
                    at = datetime.datetime.strptime(line["timestamp"], "%Y-%m-%d %H:%M:%S,%f%z")
                    ended[line["function_request_id"]] = at.timestamp() * 1000
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    return sorted((end - took[r], end) for r, end in ended.items() if r in took)


def _last_started(runs: list[tuple[float, float]], before: float) -> tuple[float, float] | None:
    return max((r for r in runs if r[0] <= before), default=None)


STEPS = (
    "accept",
    "to_api_start",
    "api_run",
    "api_end_to_201",
    "to_mysql",
    "api_end_to_mysql",
    "to_frame",
    "mysql_to_push_start",
    "push_start_to_frame",
    "frame_to_shown",
    "feed_read",
)


def breakdown(
    sent: dict[str, float],
    shown: dict[str, float],
    ana: dict,
    ben: dict,
    stored: StoredAt,
    posts: list[tuple[float, float]],
    pushed: list[tuple[float, float]],
    only: set[str],
    mode: str,
) -> dict:
    """Medians of each step between Ana's send and Ben's page showing it (see the docstring), of
    the messages `only` names."""
    steps: dict[str, list[float]] = {k: [] for k in STEPS}
    positions = stored.positions()
    for i, (body, sent_at) in enumerate(sent.items()):
        if body not in only or body not in shown or body not in positions or i >= len(ana["accepted"]):
            continue
        number, position = positions[body]
        accepted, in_mysql = ana["accepted"][i], stored.seen.get(number)
        # The first frame that could show it: its `accepted` frame, or the change frame that
        # reached its position (what the page was handed of it depends on the mode).
        frame = next(
            (
                at
                for at, f in ben["frames"]
                if at >= sent_at
                and (
                    (f.get("type") == "change" and f.get("position", 0) >= position)
                    or (f.get("type") == "accepted" and f["message"]["number"] == number and mode == "all")
                )
            ),
            None,
        )
        steps["accept"].append(accepted - sent_at)
        post = _last_started(posts, accepted)
        if post is not None and post[0] >= sent_at:
            steps["to_api_start"].append(post[0] - sent_at)
            steps["api_run"].append(post[1] - post[0])
            steps["api_end_to_201"].append(accepted - post[1])
            if in_mysql is not None:
                steps["api_end_to_mysql"].append(in_mysql - post[1])
        if in_mysql is not None:
            steps["to_mysql"].append(in_mysql - accepted)
        if frame is not None:
            if in_mysql is not None:
                steps["to_frame"].append(frame - in_mysql)
            push = _last_started(pushed, frame)  # the one that sent it: it logs after sending
            if push is not None and in_mysql is not None:
                steps["mysql_to_push_start"].append(push[0] - in_mysql)
                steps["push_start_to_frame"].append(frame - push[0])
            steps["frame_to_shown"].append(shown[body] - frame)
            read = next((r for r in ben["reads"] if r[0] >= frame and "/changes" in r[2]), None)
            if read is not None and read[0] <= shown[body]:
                steps["feed_read"].append(read[1] - read[0])
    return {step: {"n": len(v), "p50_ms": round(common.percentile(v, 50), 1)} for step, v in steps.items()}


# What Ben's page is handed in a comparison, by blocks of 10 messages, ABCCBA: the push at
# accept time and after the write, with the changes in the frames ("all"); after the write only
# ("after-write"); notices only, the page reading the feed on each ("notices", as before frames
# carried changes).
MODES = ("all", "after-write", "notices", "notices", "after-write", "all")


def _mode(i: int, compare: bool) -> str:
    return MODES[(i // 10) % len(MODES)] if compare else "all"


def run(
    messages: int = 200,
    pace: float = 1.0,
    idle_seconds: int = 30,
    compare: bool = False,
    progress: Any = print,
) -> dict:
    outputs = json.loads((STATE / "stack-outputs.json").read_text())
    api, page = outputs["ApiUrl"], outputs["WebUrl"]
    app_token = requests.post(f"{api}/applications", json={"name": "live-page-bench"}, timeout=30).json()[
        "token"
    ]
    requests.post(f"{api}/applications/{app_token}/chats", timeout=30).raise_for_status()
    ana, ben = Person("ana", start_chromium("1000,720")), Person("ben", start_chromium("1000,720"))
    modes: dict[str, list[str]] = {}
    try:
        _open(ana, page, _user_token(api, app_token, "ana"))
        _open(ben, page, _user_token(api, app_token, "ben"))
        ben.js(WATCH)
        latencies: dict[str, list[float]] = {}
        missing = 0
        sent: dict[str, float] = {}
        shown: dict[str, float] = {}
        with StoredAt(app_token) as stored:
            for i in range(messages):
                body = f"message {i} at a conversation's pace"
                mode = _mode(i, compare)
                modes.setdefault(mode, []).append(body)
                ben.js("window.frameMode = arguments[0]", mode)
                started = time.monotonic()
                sent[body] = sent_at = ana.js(SEND, body)
                try:
                    shown[body] = ben.until(
                        lambda b=body: ben.js("return window.shownAt[arguments[0]]", b), 10, body
                    )
                    latencies.setdefault(mode, []).append(shown[body] - sent_at)
                except Exception:
                    missing += 1
                if i % 50 == 49:
                    p50 = {m: common.percentile(v, 50) for m, v in latencies.items()}
                    progress(f"{i + 1} sent, p50 so far {p50} ms")
                time.sleep(max(0.0, pace - (time.monotonic() - started)))
        since = min(sent.values()) - 1000
        posts = invocations(
            outputs["ApiFunctionName"],
            since,
            "answered",
            lambda line: line.get("method") == "POST" and line.get("path", "").endswith("/messages"),
        )
        pushed = invocations(outputs["PushFunctionName"], since, "changes pushed")
        timed = ana.js("return window.timed"), ben.js("return window.timed")
        steps = {
            mode: breakdown(sent, shown, *timed, stored, posts, pushed, set(bodies), mode)
            for mode, bodies in modes.items()
        }
        ben.js("performance.setResourceTimingBufferSize(10000)")
        before = ben.js(FETCHES)
        time.sleep(idle_seconds)
        idle_requests = ben.js(FETCHES) - before
    finally:
        ana.driver.quit()
        ben.driver.quit()
    figures: dict[str, dict[str, Any]] = {
        mode: {"send_to_shown": common.latency(v) | {"max_ms": max(v)}, "breakdown": steps[mode]}
        for mode, v in latencies.items()
    }
    result: dict[str, Any] = {
        **figures.pop("all"),
        "not_shown_within_10s": missing,
        "pace_s": pace,
        "idle_page": {"seconds": idle_seconds, "http_requests": idle_requests},
        "load_average": common.load_average(),
    }
    for mode, figure in figures.items():
        result[mode] = figure
        result[f"{mode}_over_all_p50"] = common.ratio(
            figure["send_to_shown"]["p50_ms"], result["send_to_shown"]["p50_ms"]
        )
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between Ana's messages")
    parser.add_argument("--idle", type=int, default=30)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="Ben's page handed all frames, those after the write, or notices only (MODES), in turns",
    )
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.pace, args.idle, args.compare), indent=2))
