"""The load generator: offers creates at a steady rate from many threads and keeps what clients were told.

Two paths: `InProcess` calls the service layer the Chalice routes call (the real Redis, MySQL,
ES and deployed queue, without API Gateway's ~45 req/s ceiling), `Http` goes through the deployed
API. Chalice's test client cannot be used from many threads: it keeps the current request on the
app object.
"""

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import NamedTuple

import requests

NO_ANSWER = 599  # the status recorded for a request that got no answer within the client's 30 s
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


@dataclass
class Ledger:
    """Every create offered and what its client was told: 201s with their numbers, or a status."""

    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    applications: dict = field(default_factory=dict)  # token -> application id (None: unknown yet)
    chats: list = field(default_factory=list)  # (token, number) answered 201
    messages: list = field(default_factory=list)  # (token, chat number, number, body) answered 201
    refused: Counter = field(default_factory=Counter)  # status -> count, for every non-201
    offered: int = 0
    slowest_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int, seconds: float, chat=None, message=None) -> None:
        with self._lock:
            self.offered += 1
            self.slowest_seconds = max(self.slowest_seconds, seconds)
            if status != 201:
                self.refused[status] += 1
            elif chat is not None:
                self.chats.append(chat)
            elif message is not None:
                self.messages.append(message)

    @property
    def accepted(self) -> int:
        return len(self.chats) + len(self.messages)

    def unexpected(self) -> dict:
        """Answers no fault explains: anything but 201 and 503 (a refusal the client may retry)."""
        return {status: n for status, n in self.refused.items() if status not in (201, 503)}


class InProcess:
    """Calls the use cases the routes call, with the deployed stack's adapters."""

    name = "in-process (service layer, real Redis/MySQL/ES and the deployed queue and writer)"

    def __init__(self, deps):
        from chalicelib.domain import errors
        from chalicelib.usecases import service

        self._deps, self._service, self._errors = deps, service, errors

    def create_application(self, name: str) -> tuple:
        app = self._service.create_application(self._deps, name)
        return app.token, app.id

    def create_chat(self, token: str) -> tuple:
        return self._answer(lambda: self._service.create_chat(self._deps, token))

    def create_message(self, token: str, chat_number: int, body: str) -> tuple:
        return self._answer(lambda: self._service.create_message(self._deps, token, chat_number, body))

    def _answer(self, create) -> tuple:
        try:
            return 201, create()
        except self._errors.ChatError as exc:
            return exc.status, None


class Retrying(InProcess):
    """A client that sends every create with an Idempotency-Key and retries it with the same key
    after a 503 or 409 or an answer it never got (every `lose_every`-th), as a mobile client does."""

    name = "in-process, every create keyed and retried"

    def __init__(self, deps, patience: float = 300.0, lose_every: int = 20):
        super().__init__(deps)
        from chalicelib.domain.request_keys import RequestKey

        self._key, self._patience, self._lose_every = RequestKey, patience, lose_every
        self._count, self._lock = 0, threading.Lock()
        self.retries = self.answers_lost = 0

    def create_chat(self, token: str) -> tuple:
        key = self._key(uuid.uuid4().hex, f"chat {token}")
        return self._retried(lambda: self._service.create_chat(self._deps, token, key))

    def create_message(self, token: str, chat_number: int, body: str) -> tuple:
        key = self._key(uuid.uuid4().hex, f"message {token} {chat_number} {body}")
        return self._retried(lambda: self._service.create_message(self._deps, token, chat_number, body, key))

    def _retried(self, create) -> tuple:
        with self._lock:
            self._count += 1
            lose = self._count % self._lose_every == 0
        deadline = time.monotonic() + self._patience
        while True:
            status, number = self._answer(create)
            if status == 201 and lose:
                lose = False  # the 201 never reached the client: it sends the same request again
                with self._lock:
                    self.answers_lost += 1
                continue
            if status in (409, 503) and time.monotonic() < deadline:
                with self._lock:
                    self.retries += 1
                time.sleep(0.5)
                continue
            return status, number


class Answer(NamedTuple):
    status: int
    number: int | None = None
    retry_after: int | None = None  # seconds
    message: str = ""


class Http:
    """Goes through API Gateway and the deployed API function."""

    name = "HTTP through LocalStack's API Gateway"

    def __init__(self, api_url: str):
        self._url = api_url.rstrip("/")
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def create_application(self, name: str) -> tuple:
        answer = self._session().post(f"{self._url}/applications", json={"name": name}, timeout=30)
        answer.raise_for_status()
        return answer.json()["token"], None

    def create_chat(self, token: str) -> tuple:
        return self._post(f"/applications/{token}/chats", None)

    def create_message(self, token: str, chat_number: int, body: str) -> tuple:
        return self._post(f"/applications/{token}/chats/{chat_number}/messages", {"body": body})

    def _post(self, path: str, body: dict | None) -> tuple:
        answer = self._answer(path, body, {})
        return answer.status, answer.number

    def _answer(self, path: str, body: dict | None, headers: dict) -> Answer:
        try:
            answer = self._session().post(self._url + path, json=body, headers=headers, timeout=30)
        except requests.RequestException:
            return Answer(NO_ANSWER, message="(no answer in 30 s: created or not?)")
        if answer.status_code == 201:
            return Answer(201, answer.json()["number"])
        retry_after = answer.headers.get("Retry-After")
        return Answer(answer.status_code, None, int(retry_after) if retry_after else None, answer.text[:120])


class KeyedHttp(Http):
    """What docs/openapi.yaml tells a client to do: every create carries an Idempotency-Key, and a
    503 or a 409 is retried with the same key after its Retry-After, as is a request that got no
    answer (after a second), up to `attempts` in all. `retried` counts the retries by status,
    `why` by status and the answer's text."""

    name = "HTTP through LocalStack's API Gateway, every create keyed and retried"

    def __init__(self, api_url: str, attempts: int = 6):
        super().__init__(api_url)
        self._attempts = attempts
        self._lock = threading.Lock()
        self.retried: Counter = Counter()
        self.why: Counter = Counter()

    def _post(self, path: str, body: dict | None) -> tuple:
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        for _ in range(self._attempts - 1):
            answer = self._answer(path, body, headers)
            if answer.status not in (409, 503, NO_ANSWER):
                return answer.status, answer.number
            with self._lock:
                self.retried[answer.status] += 1
                self.why[(answer.status, answer.message)] += 1
            time.sleep(answer.retry_after if answer.retry_after is not None else 1)
        answer = self._answer(path, body, headers)
        return answer.status, answer.number

    def notes(self) -> list:
        retried = "; ".join(
            f"{n} after {status} {message}".rstrip() for (status, message), n in self.why.items()
        )
        return [f"retried with the same key: {retried or 'none'}"]


def setup(client, ledger: Ledger, applications: int, chats_per_application: int) -> list:
    """Creates applications and their first chats; returns the (token, chat number) to post to."""
    targets = []
    for i in range(applications):
        token, app_id = client.create_application(f"chaos-{ledger.run}-{i}")
        ledger.applications[token] = app_id
        for _ in range(chats_per_application):
            status, number = _created(lambda: client.create_chat(token))
            assert status == 201, f"setting up: chat create answered {status}"
            ledger.record(status, 0.0, chat=(token, number))
            targets.append((token, number))
    return targets


def _created(create, patience: float = 120.0) -> tuple:
    """Retries a create answered 503, as a client told Retry-After would (a previous fault may
    still be recovering, e.g. numbering after a Redis restart)."""
    deadline = time.monotonic() + patience
    while True:
        status, number = create()
        if status != 503 or time.monotonic() > deadline:
            return status, number
        time.sleep(1)


def offer(
    client,
    ledger: Ledger,
    targets: list,
    messages: int,
    rate: float,
    threads: int = 16,
    chat_every: int = 0,
    stop: threading.Event | None = None,
) -> float:
    """Offers `messages` message creates round-robin over `targets` at `rate` per second (0: as fast
    as the threads go), and a chat create after every `chat_every` of them; returns seconds taken."""
    tokens = sorted({token for token, _ in targets})
    started = time.monotonic()
    total = messages + (messages // chat_every if chat_every else 0)

    def one(i: int) -> None:
        if stop is not None and stop.is_set():
            return
        if rate:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        t0 = time.monotonic()
        if chat_every and i % (chat_every + 1) == chat_every:
            token = tokens[i % len(tokens)]
            status, number = client.create_chat(token)
            ledger.record(status, time.monotonic() - t0, chat=(token, number))
            return
        token, chat_number = targets[i % len(targets)]
        body = f"{WORDS[i % len(WORDS)]} {ledger.run} m{i}"
        status, number = client.create_message(token, chat_number, body)
        ledger.record(status, time.monotonic() - t0, message=(token, chat_number, number, body))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for failure in [f.exception() for f in [pool.submit(one, i) for i in range(total)]]:
            if failure is not None:
                raise failure
    return time.monotonic() - started
