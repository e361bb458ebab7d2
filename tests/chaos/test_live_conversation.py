"""Live chat under faults, as people see it: two real Chromium pages (the deployed web client)
talk in one chat and edit what they said while the gateway drops every socket, the writer's
environments are killed mid-batch and Redis fails over to a replica that missed the last writes.
In the end every message and every edit shows on both screens, and no message ever showed twice.

Real pages rather than protocol clients: what must hold is what a person sees, through the
page's own reconnects, retries, frame handling and feed reads (web/app.js, web/live.js).
"""

import threading
import time

import boto3
import pytest
import requests

from tests.browser.conftest import Person, start_chromium
from tests.chaos import stack
from tests.chaos.invariants import Report
from tests.chaos.scenarios import QUICK, _restart_redis_from, save
from tests.helpers import RedisServer

pytestmark = pytest.mark.chaos

MESSAGES = 60 if QUICK else 200
PACE_SECONDS = 0.5
EDIT_EVERY = 5  # every fifth message, its sender also edits one they sent before
SETTLE_SECONDS = 300

# Notes any moment at which one body shows in two items of the page's list: a message twice.
WATCH_TWICE = """
window.twice = [];
new MutationObserver(() => {
  const seen = new Set();
  document.querySelectorAll('#messages li .body').forEach((body) => {
    if (seen.has(body.textContent)) window.twice.push(body.textContent);
    seen.add(body.textContent);
  });
}).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
"""
SEND = """
document.getElementById('composer-body').value = arguments[0];
document.getElementById('composer').requestSubmit();
"""
NUMBER_OF = """
const item = [...document.querySelectorAll('#messages li[data-number]')]
  .find((li) => li.querySelector('.body').textContent === arguments[0] && li.dataset.state === '');
return item ? Number(item.dataset.number) : null;
"""
# The page's own edit: its form, filled in and saved as a person would (Save again after a failure).
EDIT = """
const item = messageItem(arguments[0]);
if (!item.classList.contains('editing')) startEdit(item);
const form = item.querySelector('.edit-form');
form.querySelector('textarea').value = arguments[1];
form.requestSubmit();
"""
EDITING = "return messageItem(arguments[0]).classList.contains('editing')"
SHOWN = """
return [...document.querySelectorAll('#messages li')].map((li) =>
  [li.dataset.number ? Number(li.dataset.number) : null, li.querySelector('.body').textContent]);
"""


def _user_token(api: str, app_token: str, user: str) -> str:
    issued = requests.post(
        f"{api}/applications/{app_token}/user_tokens",
        json={"user_id": user, "name": user.title()},
        timeout=30,
    )
    issued.raise_for_status()
    return str(issued.json()["token"])


def _open(person: Person, page: str, token: str) -> None:
    person.open(page)
    person.js("document.getElementById('user-token-input').value = arguments[0];", token)
    person.js("document.getElementById('sign-in-form').requestSubmit();")
    person.until(lambda: person.js("return !!document.querySelector('#chat-list [data-chat=\"1\"]')"), 60)
    person.js("document.querySelector('#chat-list [data-chat=\"1\"]').click();")
    person.until(lambda: person.js("return document.getElementById('status').textContent") == "Live", 60)
    person.js(WATCH_TWICE)


class Faults:
    """The three faults, each started at its point of the conversation, on a thread of its own so
    that the conversation goes on through it."""

    def __init__(self, cfg, app_token: str):
        self.cfg, self.app_token = cfg, app_token
        self.notes: list[str] = []
        self.threads: list[threading.Thread] = []
        self.replica = RedisServer(
            range(cfg.redis_port + 1, cfg.redis_port + 6),
            cfg.state / "chaos" / "replica",
            replica_of=cfg.redis_port,
        )
        self.replica.start()
        stack.wait(self.replica.in_sync, 30, 0.2)

    def start(self, fault) -> None:
        thread = threading.Thread(target=fault, daemon=True)
        thread.start()
        self.threads.append(thread)

    def drop_sockets(self) -> None:
        """The gateway drops every socket of the application (a deploy or a network change)."""
        from chalicelib.domain.tokens import token_hash
        from chalicelib.wiring import settings, stores

        mysql = stores.build(settings.from_env()).mysql
        rows = mysql.all(
            "SELECT c.connection_id FROM socket_connections c JOIN applications a ON a.id = c.application_id "
            "WHERE a.token = %s",
            (token_hash(self.app_token),),
        )
        endpoint = stack.outputs(self.cfg)["WebSocketApis"]["ChatWebSocket"]["ManagementEndpoint"]
        gateway = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint)
        for (connection_id,) in rows:
            gateway.delete_connection(ConnectionId=connection_id)
        self.notes.append(f"the gateway dropped {len(rows)} sockets")

    def kill_writer(self) -> None:
        killed = stack.kill_environments(self.cfg, "WriterFunctionName")
        self.notes.append(
            f"SIGKILLed {killed} writer environments (their batch comes back after the visibility timeout)"
        )

    def fail_over_redis(self) -> None:
        """As tests/chaos/scenarios.redis_failover: the replica stops following, lags 2 s, and
        its data is promoted at the primary's address."""
        try:
            self.replica.client.replicaof("NO", "ONE")
            time.sleep(2)
            self.replica.client.save()
            _restart_redis_from(self.cfg, self.replica.dir / "dump.rdb")
        finally:
            self.replica.stop()
        self.notes.append("Redis failed over to a replica that missed 2 s of writes")

    def join(self) -> None:
        for thread in self.threads:
            thread.join(120)
        self.replica.stop()


def _edit(person: Person, number: int, text: str) -> int:
    """Saves the edit through the page, again after each failure (a 503 while Redis recovers);
    returns how many tries it took."""
    for tries in range(1, 20):
        person.js(EDIT, number, text)
        try:
            person.until(lambda: not person.js(EDITING, number), 10, "edit saved")
            return tries
        except Exception:
            time.sleep(2)
    raise AssertionError(f"{person.name} could not save the edit of message {number}")


def test_a_conversation_through_a_socket_drop_a_writer_kill_and_a_redis_failover(cfg):
    outputs = stack.outputs(cfg)
    api, page = outputs["ApiUrl"], outputs["WebUrl"]
    app_token = requests.post(f"{api}/applications", json={"name": "live-chaos"}, timeout=30).json()["token"]
    requests.post(f"{api}/applications/{app_token}/chats", timeout=30).raise_for_status()
    people = [Person(name, start_chromium("1000,720")) for name in ("ana", "ben")]
    faults = Faults(cfg, app_token)
    plan = {
        MESSAGES // 4: faults.drop_sockets,
        MESSAGES // 2: faults.kill_writer,
        3 * MESSAGES // 4: faults.fail_over_redis,
    }
    expected: dict[str, str] = {}  # each body sent -> the text it ends with
    edits, edit_tries = 0, 0
    try:
        for person in people:
            _open(person, page, _user_token(api, app_token, person.name))
        started = time.monotonic()
        for i in range(MESSAGES):
            if i in plan:
                faults.start(plan[i])
            sender = people[i % 2]
            body = f"{sender.name} says {i}"
            sender.js(SEND, body)
            expected[body] = body
            earlier = f"{sender.name} says {i - 4}"
            if i % EDIT_EVERY == EDIT_EVERY - 1 and earlier in expected:
                number = sender.js(NUMBER_OF, expected[earlier])
                if number is not None:
                    expected[earlier] = f"{earlier}, edited at {i}"
                    edit_tries += _edit(sender, number, expected[earlier])
                    edits += 1
            time.sleep(PACE_SECONDS)
        faults.join()
        conversation_s = time.monotonic() - started

        # What MySQL holds once the writer has it all (a killed batch comes back after its timeout).
        def stored() -> dict[int, str]:
            found: dict[int, str] = {}
            chat = f"{api}/applications/{app_token}/chats/1"
            while True:
                listed = requests.get(f"{chat}/messages?after={max(found, default=0)}&limit=100", timeout=30)
                if not listed.ok or not listed.json():
                    return found
                found.update((m["number"], m["body"]) for m in listed.json())

        stack.wait(lambda: len(stored()) >= MESSAGES, SETTLE_SECONDS, 2)
        truth = stored()
        shown: dict[str, list] = {}
        twice: dict[str, list] = {}

        def screens_agree() -> bool:
            for person in people:
                shown[person.name] = person.js(SHOWN)
            return all(sorted(map(tuple, rows)) == sorted(truth.items()) for rows in shown.values())

        try:
            stack.wait(screens_agree, 120, 1)
        except TimeoutError:
            pass
        for person in people:
            twice[person.name] = person.js("return window.twice")
    finally:
        faults.join()
        for person in people:
            person.driver.quit()

    missing = {
        name: sorted(set(truth.items()) - {tuple(row) for row in rows}) for name, rows in shown.items()
    }
    report = Report(
        name="live conversation: socket drop, writer kill, Redis failover",
        path="two Chromium pages, user tokens, through the deployed page and gateways",
        offered=MESSAGES + edits,
        accepted=len(truth),
        persisted=sum(1 for text in expected.values() if text in truth.values()),
        lost=sum(len(rows) for rows in missing.values()) + (len(expected) - len(truth)),
        duplicated=sum(len(rows) for rows in twice.values()),
    )
    report.notes += faults.notes + [
        f"{MESSAGES} messages and {edits} edits ({edit_tries} saves) in {conversation_s:.0f} s",
        f"not on a screen at the end: {missing}"
        if any(missing.values())
        else "every message and edit on both screens",
        f"shown twice at some moment: {twice}" if any(twice.values()) else "no message ever shown twice",
    ]
    save(cfg, report)
    assert sorted(truth.values()) == sorted(expected.values()), "MySQL lacks a message or an edit"
    assert report.ok and not any(missing.values()), report.to_json()
