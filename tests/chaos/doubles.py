"""Queues that stand in for the creation queue's adapter in fault scenarios.

Each subclasses the port it stands in for, so mypy (`make lint`) refuses to let one be built
when the port has a method it lacks: a scenario that uses it would otherwise fail only when the
use case calls that method, minutes into a chaos run.
"""

import threading

from chalicelib.usecases import ports


class DuplicatingQueue(ports.Queue):
    """Puts every event on the queue twice, and every tenth three times: at-least-once, amplified."""

    def __init__(self, queue: ports.Queue) -> None:
        self._queue, self.sent = queue, 0

    def send(self, body: str, deadline: float | None = None) -> None:
        self._queue.send(body, deadline)
        copies = 2 if hash(body) % 10 == 0 else 1
        for _ in range(copies):
            self._queue.send(body, deadline)
        self.sent += copies

    def depth(self) -> int:
        return self._queue.depth()

    def dead_letters(self) -> list[str]:
        return self._queue.dead_letters()


class DeadLetteringQueue(ports.Queue):
    """Sends every `every`-th creation to the dead-letter queue instead, as if the writer had
    failed it five times: accepted creates whose numbers only the DLQ holds."""

    def __init__(self, queue: ports.Queue, dead_letter_queue: ports.Queue, every: int = 40) -> None:
        self._queue, self._dead_letter_queue, self._every = queue, dead_letter_queue, every
        self._count, self._lock, self.sent = 0, threading.Lock(), 0

    def send(self, body: str, deadline: float | None = None) -> None:
        with self._lock:
            self._count += 1
            dead = self._count % self._every == 0
        if not dead:
            return self._queue.send(body, deadline)
        self._dead_letter_queue.send(body, deadline)
        with self._lock:
            self.sent += 1

    def depth(self) -> int:
        return self._queue.depth()

    def dead_letters(self) -> list[str]:
        return self._queue.dead_letters()


class LostQueue(ports.Queue):
    """Accepts events and drops them, as LocalStack's in-memory SQS does on a restart."""

    def send(self, body: str, deadline: float | None = None) -> None:
        pass

    def depth(self) -> int:
        return 0

    def dead_letters(self) -> list[str]:
        return []
