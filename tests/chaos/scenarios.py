"""The fault matrix: each scenario offers creates, injects its fault mid-stream, lets the stack
recover, and checks the invariants. `python -m tests.chaos.scenarios NAME...` runs some by hand."""

import json
import os
import platform
import shutil
import sys
import threading
import time
from dataclasses import dataclass

from ops import audit
from tests.chaos import noisy, stack
from tests.chaos.doubles import DeadLetteringQueue, DuplicatingQueue
from tests.chaos.invariants import Report, Stores, check, read_dead_letters, settle
from tests.chaos.load import InProcess, Ledger, Retrying, offer, setup
from tests.helpers import RedisServer


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# `make chaos QUICK=1` (CI): a stream of seconds with the fault inside it, not minutes.
QUICK = os.environ.get("CHAOS_QUICK") == "1"


@dataclass
class Plan:
    messages: int = _env_int("CHAOS_N", 400 if QUICK else 10_000)
    rate: float = float(os.environ.get("CHAOS_RATE", 40 if QUICK else 150))  # creates offered per second
    applications: int = 2 if QUICK else 4
    chats_per_application: int = 5 if QUICK else 25
    chat_every: int = 50  # a chat create after every 50 message creates
    threads: int = 16
    outage_seconds: int = _env_int("CHAOS_OUTAGE_SECONDS", 5 if QUICK else 60)
    lag_seconds: float = 3.0  # how long the stack's Redis runs on after its replica stopped following
    settle_timeout: int = _env_int("CHAOS_SETTLE_SECONDS", 900)


class Run:
    """One scenario's moving parts: the stack, a client, the ledger, and the offering thread."""

    def __init__(self, name: str, plan: Plan, client=None):
        self.name, self.plan = name, plan
        self.cfg = stack.target()
        self.stores = Stores(self.cfg)
        self.deps = stack.app_deps(self.cfg)
        self.client = client or InProcess(self.deps)
        self.ledger = Ledger()
        self.targets = setup(self.client, self.ledger, plan.applications, plan.chats_per_application)
        self.notes: list[str] = []
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._offer, daemon=True)

    def _offer(self) -> None:
        try:
            offer(
                self.client,
                self.ledger,
                self.targets,
                self.plan.messages,
                self.plan.rate,
                self.plan.threads,
                self.plan.chat_every,
            )
        except BaseException as exc:  # reported by finish()
            self._failure = exc
        finally:
            self.offered_until = time.monotonic()

    def start(self) -> "Run":
        self.started = time.monotonic()
        self._thread.start()
        return self

    def at_fraction(self, fraction: float) -> None:
        """Waits until that fraction of the stream has been offered."""
        total = self.plan.messages * (1 + 1 / self.plan.chat_every)
        while self.ledger.offered < fraction * total and self._thread.is_alive():
            time.sleep(0.2)

    def offered(self) -> None:
        """Waits until the whole stream has been offered."""
        self._thread.join()

    def finish(self, restored_at: float, dead_letters=None) -> Report:
        self.offered()
        if self._failure:
            raise self._failure
        settle(self.stores, self.ledger, self.plan.settle_timeout)
        # Recovery: from the later of the fault's end and the last create offered, until every
        # accepted create is in MySQL and ES and the queue is empty.
        settled_at = time.monotonic()
        report = check(self.stores, self.ledger, self.name, self.client.name, dead_letters=dead_letters)
        report.recovery_seconds = round(settled_at - max(restored_at, self.offered_until), 1)
        report.notes = (
            self.notes
            + report.notes
            + [
                f"offered over {self.offered_until - self.started:.0f} s at {self.plan.rate:g}/s asked",
                f"slowest create {self.ledger.slowest_seconds:.2f} s",
            ]
        )
        if self.ledger.unexpected():
            report.notes.append(f"UNEXPECTED answers: {self.ledger.unexpected()}")
        return report


def save(cfg, report: Report) -> None:
    out = cfg.state / "chaos" / "results.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    row = {
        **report.to_json(),
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    with open(out, "a") as f:
        f.write(json.dumps(row) + "\n")


# -- the faults ----------------------------------------------------------------------------------------


def baseline(plan: Plan) -> Report:
    run = Run("no fault (baseline)", plan).start()
    return run.finish(time.monotonic())


def writer_killed(plan: Plan, kills: int = 5, every: float = 3.0) -> Report:
    run = Run("writer environment killed mid-batch", plan).start()
    run.at_fraction(0.3)
    log = stack.SERVICES["localstack"].process(run.cfg).log
    mark = log.stat().st_size
    killed = 0
    for _ in range(kills):
        killed += stack.kill_environments(run.cfg, "WriterFunctionName")
        time.sleep(every)
    report = run.finish(time.monotonic())
    with open(log, "rb") as f:
        f.seek(mark)
        failed_batches = f.read().count(b"Polling or batch processing failed")
    report.notes.append(
        f"SIGKILLed {killed} writer environments in {kills} rounds {every:g} s apart; "
        f"{failed_batches} batches were in flight (failed, redelivered)"
    )
    return report


def duplicate_deliveries(plan: Plan) -> Report:
    cfg = stack.target()
    deps = stack.app_deps(cfg)
    deps.queue = queue = DuplicatingQueue(deps.queue)
    run = Run("duplicate deliveries (every event 2-3 times)", plan, InProcess(deps)).start()
    report = run.finish(time.monotonic())
    report.notes.append(f"{queue.sent} extra copies sent")
    return report


def poison(plan: Plan, count: int = 30) -> Report:
    from chalicelib.domain import events

    run = Run("poison events (malformed, vanished application)", plan).start()
    run.at_fraction(0.3)
    vanished = 4_000_000_000  # no application has this id
    bodies = [f"not json {run.ledger.run} {i}" for i in range(count // 3)]
    bodies += [
        json.dumps({"type": "message", "run": run.ledger.run, "application_id": 0}) for _ in range(count // 3)
    ]
    bodies += [
        events.message_created(vanished, 1, i + 1, f"poison {run.ledger.run}")
        for i in range(count - 2 * (count // 3))
    ]
    for body in bodies:
        run.deps.queue.send(body)
    poisoned_at = time.monotonic()
    run.offered()
    # Nothing held back: every accepted create lands while the poison is still being retried.
    landed = settle(run.stores, run.ledger, plan.settle_timeout, empty_queue=False)
    run.notes.append(f"the rest landed {time.monotonic() - poisoned_at:.0f} s after the poison was queued")

    def arrived():
        dead = read_dead_letters(run.stores)
        return sum(run.ledger.run in b or str(vanished) in b for b in dead) >= len(bodies)

    stack.wait(arrived, plan.settle_timeout, 5)
    dead = [b for b in read_dead_letters(run.stores) if run.ledger.run in b or str(vanished) in b]
    run.notes.append(
        f"{len(dead)}/{len(bodies)} poison events in the DLQ "
        f"{time.monotonic() - poisoned_at:.0f} s after they were queued"
    )
    report = run.finish(poisoned_at, dead_letters=dead)
    report.dead_lettered = len(dead)
    report.recovery_seconds = round(landed, 1)
    return report


def _outage(name: str, service: str, plan: Plan) -> Report:
    run = Run(f"{service} down for {plan.outage_seconds} s", plan).start()
    run.at_fraction(0.3)
    refused_before = sum(run.ledger.refused.values())
    stack.stop(run.cfg, service)
    time.sleep(plan.outage_seconds)
    stack.start(run.cfg, service)
    restored = time.monotonic()
    run.notes.append(f"{sum(run.ledger.refused.values()) - refused_before} creates refused during the outage")
    return run.finish(restored)


def elasticsearch_down(plan: Plan) -> Report:
    return _outage("elasticsearch", "elasticsearch", plan)


def mariadb_down(plan: Plan) -> Report:
    return _outage("mariadb", "mariadb", plan)


def redis_restarted_empty(plan: Plan) -> Report:
    run = Run("redis restarted empty while events are queued", plan).start()
    run.at_fraction(0.3)
    depth = run.stores.queue_depth()
    stack.stop(run.cfg, "redis")
    stack.start(run.cfg, "redis")
    restored = time.monotonic()
    run.notes.append(f"{depth} events queued when Redis went")
    report = run.finish(restored)
    return report


def localstack_restarted(plan: Plan) -> Report:
    run = Run("localstack restarted (SQS in memory)", plan).start()
    run.at_fraction(0.3)
    depth = run.stores.queue_depth()
    stack.restart_localstack(run.cfg)
    restored = time.monotonic()
    run.stores.refresh()
    run.deps.queue = stack.creation_queue(run.cfg)  # the redeployed stack's new queue
    run.notes.append(
        f"{depth} events were queued when LocalStack went; redeployed in "
        f"{restored - run.started:.0f} s since the start"
    )
    run.offered()
    settle(run.stores, run.ledger, plan.settle_timeout)
    app_ids = list(run.ledger.applications.values())
    found = audit.audit(run.stores, stack.redis_client(run.cfg), app_ids)
    run.notes.append(
        f"audit before redrive: {len(found.lost_messages)} messages and "
        f"{len(found.lost_chats)} chats handed out but not in MySQL"
    )
    audit.redrive(run.stores.send, found)
    report = run.finish(restored)
    report.notes.append(f"redriven from Redis: {found.redriven}")
    return report


# -- Redis losing what it told: failover, old snapshot, lost counters, dead letters ---------------------


def _restart_redis_from(cfg, dump) -> None:
    """Stops the stack's Redis and starts it again at its address from `dump` (an RDB file)."""
    stack.stop(cfg, "redis")
    target = cfg.data / "dump.rdb"
    if dump != target:
        shutil.copy(dump, target)
    stack.start(cfg, "redis")
    target.unlink()  # later restarts come back empty, as the stack's Redis keeps no data


def _retrying_run(name: str, plan: Plan) -> tuple:
    client = Retrying(stack.app_deps(stack.target()))
    return Run(name, plan, client), client


def _retry_notes(report: Report, client: Retrying) -> None:
    report.notes.append(
        f"every create keyed: {client.retries} retries after 503/409, {client.answers_lost} answers "
        "dropped on purpose and asked again with the same key"
    )


def redis_failover(plan: Plan) -> Report:
    """A real second redis-server follows the stack's Redis, stops following (it lags from then
    on), and its data is promoted at the primary's address, under load, as ElastiCache fails over."""
    cfg = stack.target()
    ports = range(cfg.redis_port + 1, cfg.redis_port + 6)
    replica = RedisServer(ports, cfg.state / "chaos" / "replica", replica_of=cfg.redis_port)
    replica.start()
    try:
        stack.wait(replica.in_sync, 30, 0.2)
        run, client = _retrying_run("redis failover to a replica that missed the last writes", plan)
        run.start()
        run.at_fraction(0.3)
        replica.client.replicaof("NO", "ONE")  # from now on it misses every write
        lag_from = run.ledger.accepted
        time.sleep(plan.lag_seconds)
        missed = run.ledger.accepted - lag_from
        replica.client.save()
        _restart_redis_from(cfg, replica.dir / "dump.rdb")
        restored = time.monotonic()
    finally:
        replica.stop()
    run.notes.append(
        f"{missed} creates were accepted after the replica stopped following, then it was promoted"
    )
    report = run.finish(restored)
    _retry_notes(report, client)
    return report


def redis_old_snapshot(plan: Plan) -> Report:
    cfg = stack.target()
    run, client = _retrying_run("redis restored from an older snapshot", plan)
    run.start()
    run.at_fraction(0.2)
    stack.redis_client(cfg).save()
    saved = run.ledger.accepted
    run.at_fraction(0.4)
    run.notes.append(f"{run.ledger.accepted - saved} creates accepted after the snapshot was taken")
    _restart_redis_from(cfg, cfg.data / "dump.rdb")
    restored = time.monotonic()
    report = run.finish(restored)
    _retry_notes(report, client)
    return report


def redis_counters_lost(plan: Plan) -> Report:
    cfg = stack.target()
    run, client = _retrying_run(
        "redis lost counters (deleted or evicted) while their events are queued", plan
    )
    run.start()
    run.at_fraction(0.4)
    from chalicelib.adapters.redis import keys as redis_keys

    app_ids = [a for a in run.ledger.applications.values() if a is not None]
    chats = sorted({(app_ids[0], n) for t, n in run.ledger.chats if run.ledger.applications[t] == app_ids[0]})
    keys = [redis_keys.chats(app_ids[0])] + [redis_keys.messages(a, n) for a, n in chats[:5]]
    deleted = stack.redis_client(cfg).delete(*keys)
    restored = time.monotonic()
    run.notes.append(f"deleted {deleted} counters (one application's chats, five chats' messages) mid-stream")
    report = run.finish(restored)
    _retry_notes(report, client)
    return report


def _redrive(stores: Stores, app_ids: set) -> int:
    """Moves the dead-lettered creations of these applications back to the queue (the fix an
    operator makes); returns how many."""
    url, moved, keep = stores.outputs["DeadLetterQueueUrl"], 0, []
    while True:
        got = stores.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120).get(
            "Messages", []
        )
        if not got:
            break
        for m in got:
            try:
                mine = json.loads(m["Body"]).get("application_id") in app_ids
            except (ValueError, AttributeError):
                mine = False
            if not mine:
                keep.append(m["ReceiptHandle"])
                continue
            stores.sqs.send_message(QueueUrl=stores.outputs["QueueUrl"], MessageBody=m["Body"])
            stores.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    for handle in keep:
        stores.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return moved


def redis_restarted_with_dead_letters(plan: Plan) -> Report:
    cfg = stack.target()
    deps = stack.app_deps(cfg)
    stores = Stores(cfg)
    from chalicelib.adapters.sqs.queue import Queue

    dead_letters = Queue(stack.sqs(), stores.outputs["DeadLetterQueueUrl"])
    deps.queue = queue = DeadLetteringQueue(deps.queue, dead_letters)
    client = Retrying(deps)
    run = Run("redis restarted empty with accepted creates in the DLQ and the queue", plan, client)
    run.start()
    run.at_fraction(0.4)
    dead_before = queue.sent
    stack.stop(cfg, "redis")
    stack.start(cfg, "redis")
    restored = time.monotonic()
    run.offered()
    settle(run.stores, run.ledger, plan.settle_timeout)
    moved = _redrive(run.stores, set(run.ledger.applications.values()))
    run.notes.append(
        f"{dead_before} accepted creates were in the DLQ when Redis restarted, {queue.sent} in all; "
        f"{moved} redriven after the run"
    )
    report = run.finish(restored)
    _retry_notes(report, client)
    return report


SCENARIOS = {
    "baseline": baseline,
    "writer-killed": writer_killed,
    "duplicates": duplicate_deliveries,
    "poison": poison,
    "elasticsearch-down": elasticsearch_down,
    "mariadb-down": mariadb_down,
    "redis-restart": redis_restarted_empty,
    "localstack-restart": localstack_restarted,
    "redis-failover": redis_failover,
    "redis-old-snapshot": redis_old_snapshot,
    "redis-counters-lost": redis_counters_lost,
    "redis-restart-dlq": redis_restarted_with_dead_letters,
    "noisy-neighbour": noisy.noisy_neighbour,
}


def run_scenario(name: str, plan: Plan) -> Report:
    """Runs one scenario and records its report in $CHAT_STATE_DIR/chaos/results.jsonl."""
    report = SCENARIOS[name](plan)
    save(stack.target(), report)
    return report


def main(names: list) -> int:
    failed = 0
    for name in names or list(SCENARIOS):
        report = run_scenario(name, Plan())
        print(json.dumps(report.to_json()), flush=True)
        failed += not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
