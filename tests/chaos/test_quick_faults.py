"""Quick fault cases, safe on the shared stack (their own applications only): in `make test`."""

from ops import audit
from tests.chaos import stack
from tests.chaos.doubles import DuplicatingQueue, LostQueue
from tests.chaos.invariants import check, settle
from tests.chaos.load import InProcess, Ledger, offer, setup


def test_duplicate_deliveries_change_nothing(cfg, stores, deps):
    duplicating = deps.replace(queue=DuplicatingQueue(deps.queue))
    client, ledger = InProcess(duplicating), Ledger()
    targets = setup(client, ledger, applications=1, chats_per_application=3)
    offer(client, ledger, targets, messages=150, rate=0, threads=8, chat_every=50)
    settle(stores, ledger, timeout=120)
    report = check(stores, ledger, "duplicate deliveries (quick)", client.name)
    assert report.ok and report.persisted == report.accepted, report.to_json()
    assert report.indexed == 150 and report.unconfirmed_rows == 0


def test_the_audit_finds_accepted_creates_the_queue_lost_and_redrives_them(cfg, stores, deps):
    client, ledger = InProcess(deps), Ledger()
    targets = setup(client, ledger, applications=1, chats_per_application=2)
    lost = InProcess(deps.replace(queue=LostQueue()))
    offer(lost, ledger, targets, messages=20, rate=0, threads=4, chat_every=10)
    app_ids = list(ledger.applications.values())
    # Once the two chats set up through the real queue have landed, exactly what was lost is left.
    found = None

    def only_the_lost_are_missing() -> bool:
        nonlocal found
        found = audit.audit(stores, stack.redis_client(cfg), app_ids)
        return len(found.lost_chats) == 2

    stack.wait(only_the_lost_are_missing, timeout=60)
    assert found is not None and len(found.lost_messages) == 20
    assert {m[3] for m in found.lost_messages} == {body for *_, body in ledger.messages}

    audit.redrive(stores.send, found)
    settle(stores, ledger, timeout=120)
    report = check(stores, ledger, "queue lost its events, audit redrove them (quick)", client.name)
    assert report.ok and report.persisted == report.accepted, report.to_json()
    assert audit.audit(stores, stack.redis_client(cfg), app_ids).lost_messages == []
