"""Noisy neighbour: tenant A floods at its quota with 64 KB bodies and edits while tenant B creates
small messages. B's creates must all land in MySQL and Elasticsearch, none in the dead-letter
queue, and B's accept p99 must stay within 2x of the same load offered with A quiet.

A runs in a process of its own (as its requests would run in Lambda environments of their own),
B in this one; both call the service layer with the deployed stack's adapters and the deployed
writer drains both. `python -m tests.chaos.scenarios noisy-neighbour` runs it by hand.
"""

import multiprocessing
import os
import threading
import time

from tests.chaos import stack
from tests.chaos.invariants import Report, Stores, check, settle
from tests.chaos.load import InProcess, Ledger, offer, setup

BIG = 64 * 1024 - 1
SECONDS = int(os.environ.get("NOISY_SECONDS", 60))
B_RATE = float(os.environ.get("NOISY_B_RATE", 20))  # B's small creates per second
# A's quotas (per 1 s window): 20 creates and 10 edits of 64 KB a second, 1.9 MB/s into the
# queue, the writer, MySQL and Elasticsearch. A's threads retry a 429 after 20 ms, never waiting.
A_QUOTAS = {"RATE_LIMIT_WINDOW_SECONDS": "1", "RATE_LIMIT_CREATES": "20", "RATE_LIMIT_EDITS": "10"}
A_THREADS = 4


def _limited_deps(cfg, quotas: dict):
    from chalicelib import settings, wiring

    deps = stack.app_deps(cfg)
    deps.limits = wiring.rate_limits(settings.from_env(quotas), deps.numbers._redis)
    return deps


class Timed:
    """A client that keeps how long each create took."""

    def __init__(self, client):
        self._client, self.name, self.seconds = client, client.name, []
        self._lock = threading.Lock()

    def create_application(self, name: str) -> tuple:
        return self._client.create_application(name)

    def create_chat(self, token: str) -> tuple:
        return self._timed(lambda: self._client.create_chat(token))

    def create_message(self, token: str, chat_number: int, body: str) -> tuple:
        return self._timed(lambda: self._client.create_message(token, chat_number, body))

    def _timed(self, create) -> tuple:
        t0 = time.perf_counter()
        answer = create()
        with self._lock:
            self.seconds.append(time.perf_counter() - t0)
        return answer


def p99(seconds: list) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


def flood(token: str, chats: int, seconds: float, counts) -> None:
    """Tenant A (in its own process): creates and edits 64 KB bodies as fast as its quota lets it."""
    from chalicelib import errors, service

    deps = _limited_deps(stack.target(), A_QUOTAS)
    stop = time.monotonic() + seconds

    def work(worker: int) -> None:
        i = 0
        while time.monotonic() < stop:
            i += 1
            chat = 1 + (worker + i) % chats
            body = (f"flood {worker} {i} " + "x" * BIG)[:BIG]
            try:
                if i % 3 == 0:
                    service.edit_message(deps, token, chat, 1, body)
                    kind = "edited"
                else:
                    service.create_message(deps, token, chat, body)
                    kind = "created"
            except errors.RateLimited:
                kind = "limited"
                time.sleep(0.02)
            except errors.ChatError:
                kind = "failed"
            counts[kind] = counts.get(kind, 0) + 1

    threads = [threading.Thread(target=work, args=(w,)) for w in range(A_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _b_run(cfg, name: str, messages: int) -> tuple:
    """B's small creates at B_RATE; returns (client, ledger)."""
    client = Timed(InProcess(_limited_deps(cfg, {})))  # B under the default, generous quotas
    ledger = Ledger()
    targets = setup(client, ledger, applications=1, chats_per_application=5)
    offer(client, ledger, targets, 40, 0, threads=8)  # warm: each thread's first call connects
    client.seconds.clear()
    offer(client, ledger, targets, messages, B_RATE, threads=8)
    return client, ledger


def noisy_neighbour(plan) -> Report:
    cfg = stack.target()
    stores = Stores(cfg)
    messages = int(SECONDS * B_RATE)

    quiet_client, quiet = _b_run(cfg, "quiet", messages)
    settle(stores, quiet, plan.settle_timeout)

    a_client = InProcess(stack.app_deps(cfg))
    a_token, _ = a_client.create_application("noisy-a")
    for _ in range(5):
        _, chat = a_client.create_chat(a_token)
        a_client.create_message(a_token, chat, "the message A edits")
    with multiprocessing.Manager() as manager:
        counts = manager.dict(created=0, edited=0, limited=0, failed=0)
        a = multiprocessing.get_context("spawn").Process(
            target=flood, args=(a_token, 5, SECONDS + 10, counts)
        )
        a.start()
        time.sleep(5)  # A at full flood before B starts
        started = time.monotonic()
        noisy_client, noisy = _b_run(cfg, "noisy", messages)
        b_seconds = time.monotonic() - started
        a.join()
        a_counts = dict(counts)
    drained = settle(stores, noisy, plan.settle_timeout)
    report = check(stores, noisy, "noisy neighbour: B beside A flooding at its quota", noisy_client.name)
    report.recovery_seconds = round(drained, 1)
    quiet_p99, noisy_p99 = p99(quiet_client.seconds), p99(noisy_client.seconds)
    report.notes += [
        f"B: {messages} small creates at {B_RATE:g}/s (after 40 to warm up), offered in {b_seconds:.0f} s",
        f"B accept p50 quiet {_ms(sorted(quiet_client.seconds)[len(quiet_client.seconds) // 2])} ms, "
        f"beside A {_ms(sorted(noisy_client.seconds)[len(noisy_client.seconds) // 2])} ms",
        f"B accept p99 quiet {_ms(quiet_p99)} ms, beside A {_ms(noisy_p99)} ms, "
        f"ratio {noisy_p99 / quiet_p99:.2f}",
        f"A (64 KB bodies, quotas {A_QUOTAS}): {a_counts}",
        f"quiet run: {check(stores, quiet, 'quiet', quiet_client.name, counter=False).ok}",
    ]
    report.accept_p99_ratio = noisy_p99 / quiet_p99
    return report


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"
