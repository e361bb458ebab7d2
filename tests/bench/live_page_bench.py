"""Live delivery as people see it: two real Chromium pages (the deployed web client) in one
chat. Ana's page sends a message at a conversation's pace; the time until Ben's page shows it is
taken in the pages themselves (Date.now() on both sides: one machine, one clock). Then Ben's
page sits idle, following the chat over its socket, and the HTTP requests it makes are counted.

    .local/venvs/app/bin/python -m tests.bench.live_page_bench [--messages 200] [--pace 1.0]
"""

import argparse
import json
import time
from typing import Any

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
FETCHES = "return performance.getEntriesByType('resource').filter(e => e.initiatorType === 'fetch').length"


def _user_token(api: str, app_token: str, user_id: str) -> str:
    """What the application's backend does for a person who signed in to it."""
    grant = {"user_id": user_id, "name": user_id.title()}
    issued = requests.post(f"{api}/applications/{app_token}/user_tokens", json=grant, timeout=30)
    issued.raise_for_status()
    return str(issued.json()["token"])


def _open(person: Person, page: str, token: str) -> None:
    person.open(page)
    person.driver.find_element(By.CSS_SELECTOR, "#user-token-input").send_keys(token)
    person.driver.find_element(By.CSS_SELECTOR, "#sign-in-form button").click()
    person.until(lambda: person.driver.find_elements(By.CSS_SELECTOR, '#chat-list [data-chat="1"]'), 60)
    person.driver.find_element(By.CSS_SELECTOR, '#chat-list [data-chat="1"]').click()
    person.until(lambda: person.driver.find_element(By.CSS_SELECTOR, "#status").text == "Live", 60, "live")


def run(messages: int = 200, pace: float = 1.0, idle_seconds: int = 30, progress: Any = print) -> dict:
    outputs = json.loads((STATE / "stack-outputs.json").read_text())
    api, page = outputs["ApiUrl"], outputs["WebUrl"]
    app_token = requests.post(f"{api}/applications", json={"name": "live-page-bench"}, timeout=30).json()[
        "token"
    ]
    requests.post(f"{api}/applications/{app_token}/chats", timeout=30).raise_for_status()
    ana, ben = Person("ana", start_chromium("1000,720")), Person("ben", start_chromium("1000,720"))
    try:
        _open(ana, page, _user_token(api, app_token, "ana"))
        _open(ben, page, _user_token(api, app_token, "ben"))
        ben.js(WATCH)
        latencies, missing = [], 0
        for i in range(messages):
            body = f"message {i} at a conversation's pace"
            started = time.monotonic()
            sent_at = ana.js(SEND, body)
            try:
                shown_at = ben.until(
                    lambda b=body: ben.js("return window.shownAt[arguments[0]]", b), 10, body
                )
                latencies.append(shown_at - sent_at)
            except Exception:
                missing += 1
            if i % 50 == 49:
                progress(f"{i + 1} sent, p50 so far {common.percentile(latencies, 50)} ms")
            time.sleep(max(0.0, pace - (time.monotonic() - started)))
        ben.js("performance.setResourceTimingBufferSize(10000)")
        before = ben.js(FETCHES)
        time.sleep(idle_seconds)
        idle_requests = ben.js(FETCHES) - before
    finally:
        ana.driver.quit()
        ben.driver.quit()
    return {
        "send_to_shown": common.latency(latencies) | {"max_ms": max(latencies) if latencies else None},
        "not_shown_within_10s": missing,
        "pace_s": pace,
        "idle_page": {"seconds": idle_seconds, "http_requests": idle_requests},
        "load_average": common.load_average(),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between Ana's messages")
    parser.add_argument("--idle", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.pace, args.idle), indent=2))
