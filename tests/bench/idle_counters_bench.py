"""Redis memory before and after the counter's sweep of idle counters (counter.sweep_idle_counters).

N chats, each with one message, in applications of 1,000 chats: their rows in MySQL (database
`chat_bench_w`, emptied first) and their counters made by the product's own reservations in Redis
database 7 (flushed first), the queued bodies forgotten as the writer does. Then: a sweep that
finds nothing idle (the hourly run's usual cost), and a sweep with every counter idle, with the
keys, Redis's used_memory (the whole server's: the stack's other databases are in it, and were
idle during the runs) and the sweep's time around each.

    .local/venvs/app/bin/python -m tests.bench.idle_counters_bench [--chats 100000]
"""

import argparse
import json
import time
import uuid

from tests.bench import common

DATABASE = common.WRITE_DB
PER_APPLICATION = 1000
IDLE_SECONDS = 1


def _memory(r) -> dict:
    r.memory_purge()  # allocator pages no longer used go back, so used_memory is what is held
    info = r.info("memory")
    return {
        "keys": r.dbsize(),
        "used_memory_mb": round(info["used_memory"] / 2**20, 2),
        "used_memory_dataset_mb": round(info["used_memory_dataset"] / 2**20, 2),
    }


def _make_counters(deps, chats: int, progress) -> None:
    from chalicelib.domain.models import NewChat, NewMessage

    for first in range(0, chats, PER_APPLICATION):
        app_id = deps.db.insert_application(f"bench-idle-{uuid.uuid4().hex}", "bench idle").id
        numbers = range(1, min(PER_APPLICATION, chats - first) + 1)
        new_chats = [NewChat(app_id, c) for c in numbers]
        messages = [NewMessage(app_id, c, 1, "hello") for c in numbers]
        for c in numbers:
            deps.reservations.reserve_chat_number(app_id, seed=lambda: 0)
            deps.reservations.reserve_message_number(app_id, c, "hello", seed=lambda: 0)
        deps.batches.persist(new_chats, messages)
        deps.changes.record_persisted(new_chats, messages)  # as the writer does: bodies forgotten
        if (first // PER_APPLICATION) % 10 == 9:
            progress(f"{first + len(numbers)} chats made")


def _sweep(deps, r, idle_seconds: int) -> dict:
    from chalicelib.usecases import counter

    deps.sweep.save_sweep_cursor(0)
    started = time.perf_counter()
    result = counter.sweep_idle_counters(deps, idle_seconds, max_keys=10**9)
    return {**result.fields(), "wall_s": round(time.perf_counter() - started, 2), "after": _memory(r)}


def run(chats: int = 100_000, progress=print) -> dict:
    from chalicelib.adapters.redis import keys as redis_keys
    from chalicelib.usecases import counter

    common.ensure_database(DATABASE)
    common.empty_tables(DATABASE)
    deps = common.deps(DATABASE)
    r = deps.redis
    r.flushdb()
    deps.epoch.open_epoch(f"bench-{uuid.uuid4().hex}")
    out: dict = {"chats": chats, "load_average_before": common.load_average(), "empty": _memory(r)}
    started = time.perf_counter()
    _make_counters(deps, chats, progress)
    out["making_s"] = round(time.perf_counter() - started, 1)
    # The hourly run recounts before it sweeps: the writer's change marks (a set member per chat
    # written) are gone by then, and only the counters remain.
    out["recount"] = counter.refresh_counts(deps).fields()
    out["with_counters"] = _memory(r)
    progress(f"with counters: {out['with_counters']}")
    time.sleep(IDLE_SECONDS + 1.2)  # OBJECT IDLETIME counts whole seconds
    out["sweep, nothing idle (7 days)"] = _sweep(deps, r, 7 * 86400)
    progress(f"sweep finding nothing idle: {out['sweep, nothing idle (7 days)']}")
    time.sleep(IDLE_SECONDS + 1.2)  # that sweep read no counter: their idle time goes on
    out["sweep, all idle"] = _sweep(deps, r, IDLE_SECONDS)
    progress(f"sweep of idle counters: {out['sweep, all idle']}")
    epoch = r.hgetall(redis_keys.EPOCH)
    out["epoch_after"] = {"open": deps.epoch.epoch_state().is_open, "seeded": int(epoch[b"seeded"])}
    out["seeded_set_after"] = r.scard(redis_keys.SEEDED)
    out["load_average_after"] = common.load_average()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chats", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(run(args.chats, progress=common.Progress("idle-counters")), indent=2))
