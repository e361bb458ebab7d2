"""`make audit` (python -m ops.audit [--redrive]): numbers handed out that never reached MySQL.

Redis holds, per chat, the last message number handed out and the bodies of messages not yet
persisted; per application, the last chat number. Compared with MySQL once the queue is empty,
a pending body whose row is missing is an accepted message that was lost on the way (say, with
the queue of a restarted LocalStack, which keeps SQS in memory). `--redrive` queues those
events again (the writer's inserts are idempotent, so a redrive of something still queued is
harmless). A missing number with no pending body is a gap: a create answered 503 after its
number was reserved, never told to a client. Run it after any restart of the queue's host.

It also lists the clashes the writer kept in `create_conflicts`: creates that found their number
stored for another create (both bodies are kept; a person decides which number each gets).
"""

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from chalicelib.adapters.redis import keys as redis_keys
from chalicelib.adapters.redis import pending_record
from chalicelib.domain import events
from chalicelib.domain.models import Author
from chalicelib.wiring import clients, settings, stores

from .sql import rows


class Stores(Protocol):
    """What the audit reads: MySQL's rows, and how many events are still queued."""

    def rows(self, sql: str, args: Any) -> list[Any]: ...
    def queue_depth(self) -> int: ...


@dataclass
class Audit:
    queue_depth: int = 0
    # (application id, chat, number, body, accept instant in ms, author): what a redrive sends
    lost_messages: list[tuple[int, int, int, str, int | None, Author | None]] = field(default_factory=list)
    lost_chats: list[tuple[int, int]] = field(
        default_factory=list
    )  # (application id, number), reserved, no row
    gaps: int = 0  # message numbers reserved without a row or a body: never told to anyone
    redriven: int = 0
    clashes: list[tuple[Any, ...]] = field(default_factory=list)  # rows of create_conflicts

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_depth": self.queue_depth,
            "lost_messages": len(self.lost_messages),
            "lost_chats": len(self.lost_chats),
            "gaps": self.gaps,
            "redriven": self.redriven,
            "examples": [f"{a}:{c}:{n}" for a, c, n, *_ in self.lost_messages[:10]],
            "clashes": len(self.clashes),
            "clash_examples": [
                {"kind": k, "application_id": a, "chat": c, "number": n, "create_id": i, "body": b}
                for k, a, c, n, i, b in self.clashes[:10]
            ],
        }


def _scan(r: redis.Redis, pattern: str) -> dict[str, int]:
    """{counter key: the highest number it handed out} (counters are hashes: n, and a floor f)."""
    keys = list(r.scan_iter(match=pattern, count=1000))
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.hmget(k, "n", "f")
    values = [max(int(n or 0), int(f or 0)) for n, f in pipe.execute()] if keys else []
    return dict(zip((k.decode() for k in keys), values, strict=True))


def clashes(stores: Stores, application_ids: Iterable[int] | None = None) -> list[Any]:
    """The creates kept in create_conflicts (all, or those of some applications)."""
    sql = "SELECT kind, application_id, chat_number, number, create_id, body FROM create_conflicts"
    if application_ids is None:
        return stores.rows(sql + " ORDER BY id", ())
    return stores.rows(sql + " WHERE application_id IN %s ORDER BY id", (list(application_ids),))


def audit(stores: Stores, r: redis.Redis, application_ids: Iterable[int] | None = None) -> Audit:
    """Compares Redis's counters and pending bodies with MySQL (optionally for some applications)."""
    result = Audit(queue_depth=stores.queue_depth())
    result.clashes = [tuple(row) for row in clashes(stores, application_ids)]
    wanted = set(application_ids) if application_ids is not None else None
    chat_counters = {
        int(k.split(":")[2]): int(v) for k, v in _scan(r, redis_keys.ALL_CHATS_COUNTERS).items() if v
    }
    message_counters = {
        tuple(map(int, k.split(":")[2:])): int(v)
        for k, v in _scan(r, redis_keys.ALL_MESSAGES_COUNTERS).items()
        if v
    }
    if wanted is not None:
        chat_counters = {a: n for a, n in chat_counters.items() if a in wanted}
        message_counters = {k: n for k, n in message_counters.items() if k[0] in wanted}
    apps = sorted({*chat_counters, *(a for a, _ in message_counters)})
    if not apps:
        return result
    chats = {
        (a, n)
        for a, n in stores.rows(
            "SELECT application_id, number FROM chats WHERE application_id IN %s", (apps,)
        )
    }
    messages = {
        (a, c, n)
        for a, c, n in stores.rows(
            "SELECT c.application_id, c.number, m.number FROM messages m JOIN chats c ON c.id = m.chat_id "
            "WHERE c.application_id IN %s",
            (apps,),
        )
    }
    for app_id, last in chat_counters.items():
        result.lost_chats += [(app_id, n) for n in range(1, last + 1) if (app_id, n) not in chats]
    for (app_id, chat), last in message_counters.items():
        stored: dict[bytes, bytes] = r.hgetall(redis_keys.pending(app_id, chat))  # type: ignore[assignment]
        pending = {int(n): pending_record.decode(int(n), value.decode()) for n, value in stored.items()}
        for n in range(1, last + 1):
            if (app_id, chat, n) in messages:
                continue
            if n in pending:
                m = pending[n]
                result.lost_messages.append((app_id, chat, n, m.body, m.created_at_ms, m.author))
            else:
                result.gaps += 1
    return result


def redrive(send: Callable[[str], None], found: Audit) -> int:
    """Queues the events of what `audit` found missing again (`send(body)`); returns how many."""
    bodies = [events.chat_created(a, n) for a, n in found.lost_chats]
    bodies += [
        events.message_created(a, c, n, body, created_at_ms=at, author=author)
        for a, c, n, body, at, author in found.lost_messages
    ]
    for body in bodies:
        send(body)
    found.redriven = len(bodies)
    return len(bodies)


class Stack:
    """The stores of the stack the settings name (the environment, as the functions read it)."""

    def __init__(self, s: settings.Settings):
        self._connect = clients.mysql_connect(s)
        self.deps = stores.build(s)

    def rows(self, sql: str, args: Any) -> list[Any]:
        return rows(self._connect, sql, args)

    def queue_depth(self) -> int:
        return self.deps.queue.depth()


def main() -> int:
    parser = argparse.ArgumentParser(prog="make audit", description=__doc__.splitlines()[0])
    parser.add_argument("--redrive", action="store_true", help="queue the lost events again")
    args = parser.parse_args()
    target = Stack(settings.get())
    found = audit(target, target.deps.redis)
    if args.redrive:
        redrive(target.deps.queue.send, found)
    print(json.dumps(found.to_json(), indent=2))
    if found.queue_depth:
        print(
            f"note: {found.queue_depth} events still queued; missing numbers may only be late",
            file=sys.stderr,
        )
    if found.clashes:
        print(
            f"CLASHES: {len(found.clashes)} creates found their number stored for another create; "
            "both bodies are kept (create_conflicts)",
            file=sys.stderr,
        )
    if (found.lost_messages or found.lost_chats) and not args.redrive:
        print(
            "LOST: numbers handed out never reached MySQL; `make audit REDRIVE=1` queues them again",
            file=sys.stderr,
        )
        return 1
    return 1 if found.clashes else 0


if __name__ == "__main__":
    sys.exit(main())
