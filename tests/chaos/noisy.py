"""Noisy neighbour: tenant A floods at its quota with 64 KB bodies and edits while tenant B creates
small messages. B's creates must all land in MySQL and Elasticsearch, none in the dead-letter
queue, and B's accept p99 must stay within 2x of the same load offered with A quiet.

A runs in a process of its own (as its requests would run in Lambda environments of their own),
B in this one; both call the service layer with the deployed stack's adapters and the deployed
writer drains both. `python -m tests.chaos.scenarios noisy-neighbour` runs it by hand.
"""

import multiprocessing
import os
import statistics
import threading
import time

from tests.chaos import stack
from tests.chaos.invariants import Report, Stores, check, settle
from tests.chaos.load import InProcess, Ledger, offer, setup

BIG = 64 * 1024 - 1
SECONDS = int(os.environ.get("NOISY_SECONDS", 20))  # each of B's segments
ROUNDS = int(os.environ.get("NOISY_ROUNDS", 5))
B_RATE = float(os.environ.get("NOISY_B_RATE", 20))  # B's small creates per second
# A's quotas (per 1 s window): 20 creates and 10 edits of 64 KB a second, 1.9 MB/s into the
# queue, the writer, MySQL and Elasticsearch. A's threads retry a 429 after 20 ms, never waiting.
A_QUOTAS = {"RATE_LIMIT_WINDOW_SECONDS": "1", "RATE_LIMIT_CREATES": "20", "RATE_LIMIT_EDITS": "10"}
# B stays within its quota: the default (200 creates per 10 s) is B's own rate, and a paced
# client catching up after a stall on a loaded machine crossed it once (one 429 at load ~25).
# Each of B's segments sets up two applications, 20 a run: the default of 20 per client address
# an hour refused a second run within the hour.
B_QUOTAS = {
    "RATE_LIMIT_CREATES": "1000",
    "RATE_LIMIT_APPLICATIONS_PER_ADDRESS": "1000",
    "RATE_LIMIT_APPLICATIONS": "10000",
}
A_THREADS = 4
B_NAME = InProcess.name


def _limited_deps(cfg, quotas: dict):
    from chalicelib.wiring import clients, settings

    deps = stack.app_deps(cfg)
    redis = clients.redis_client(settings.from_env(stack.settings_env(cfg)))
    deps.limits = clients.rate_limits(settings.from_env(quotas), redis)
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
    from chalicelib.domain import errors
    from chalicelib.usecases import service

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


def _b_run(cfg, messages: int) -> tuple:
    """B's small creates at B_RATE; returns (client, ledger)."""
    client = Timed(InProcess(_limited_deps(cfg, B_QUOTAS)))
    ledger = Ledger()
    targets = setup(client, ledger, applications=1, chats_per_application=5)
    warm = Ledger()  # an application of its own: each thread's first call connects
    offer(client, warm, setup(client, warm, applications=1, chats_per_application=1), 40, 0, threads=8)
    client.seconds.clear()
    offer(client, ledger, targets, messages, B_RATE, threads=8)
    return client, ledger


def _flooding(token: str, seconds: float, run):
    """Runs `run()` while A floods in a process of its own; returns (its result, A's counts)."""
    with multiprocessing.Manager() as manager:
        counts = manager.dict(created=0, edited=0, limited=0, failed=0)
        a = multiprocessing.get_context("spawn").Process(target=flood, args=(token, 5, seconds + 8, counts))
        a.start()
        time.sleep(6)  # A at full flood before B starts
        result = run()
        a.join()
        return result, dict(counts)


def _merged(ledgers: list) -> Ledger:
    merged = Ledger()
    for ledger in ledgers:
        merged.applications.update(ledger.applications)
        merged.chats += ledger.chats
        merged.messages += ledger.messages
        merged.refused.update(ledger.refused)
        merged.offered += ledger.offered
    return merged


def noisy_neighbour(plan) -> Report:
    """Alternates quiet and noisy segments of B's load (ROUNDS of each), so that the shared
    machine's drifting load falls on both alike; compares the medians of their p99s."""
    cfg = stack.target()
    stores = Stores(cfg)
    messages = int(SECONDS * B_RATE)
    a_client = InProcess(stack.app_deps(cfg))
    a_token, _ = a_client.create_application("noisy-a")
    for _ in range(5):
        _, chat = a_client.create_chat(a_token)
        a_client.create_message(a_token, chat, "the message A edits")

    quiet, noisy, a_counts = [], [], []
    for _ in range(ROUNDS):
        quiet.append(_b_run(cfg, messages))
        run, counts = _flooding(a_token, SECONDS, lambda: _b_run(cfg, messages))
        noisy.append(run)
        a_counts.append(counts)
    drained = settle(stores, _merged([ledger for _, ledger in noisy]), plan.settle_timeout)
    report = check(
        stores,
        _merged([ledger for _, ledger in noisy]),
        "noisy neighbour: B beside A flooding at its quota",
        B_NAME,
    )
    report.recovery_seconds = round(drained, 1)
    quiet_p99s = [p99(client.seconds) for client, _ in quiet]
    noisy_p99s = [p99(client.seconds) for client, _ in noisy]
    report.accept_p99_ratio = statistics.median(noisy_p99s) / statistics.median(quiet_p99s)
    report.notes += [
        f"B: {ROUNDS} quiet and {ROUNDS} noisy segments, alternating, each {messages} small creates "
        f"at {B_RATE:g}/s after 40 to warm up",
        "B accept p50 ms quiet "
        + _list(p50(c.seconds) for c, _ in quiet)
        + ", beside A "
        + _list(p50(c.seconds) for c, _ in noisy),
        "B accept p99 ms quiet "
        + _list(quiet_p99s)
        + ", beside A "
        + _list(noisy_p99s)
        + f"; ratio of the medians {report.accept_p99_ratio:.2f}",
        f"A (64 KB bodies, quotas {A_QUOTAS}) per noisy segment: {a_counts}",
        "quiet segments ok: "
        + ", ".join(str(check(stores, ledger, "quiet", B_NAME, counter=False).ok) for _, ledger in quiet),
    ]
    return report


def _list(seconds) -> str:
    return "/".join(f"{s * 1000:.0f}" for s in seconds)


def p50(seconds: list) -> float:
    ordered = sorted(seconds)
    return ordered[len(ordered) // 2] if ordered else 0.0
