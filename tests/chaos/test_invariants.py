"""The invariant checker is not vacuous: it sees a lost row, a missing document and a number told twice."""

from chalicelib.adapters.search.search_index import doc_id, routing
from tests.chaos.invariants import check, settle
from tests.chaos.load import InProcess, Ledger, offer, setup


def test_the_checker_reports_lost_unindexed_and_duplicated_creates(cfg, stores, deps):
    client, ledger = InProcess(deps), Ledger()
    targets = setup(client, ledger, applications=1, chats_per_application=2)
    offer(client, ledger, targets, messages=10, rate=0, threads=2)
    settle(stores, ledger, timeout=60)
    assert check(stores, ledger, "checker baseline", client.name, counter=False).ok

    app_id = next(iter(ledger.applications.values()))
    (_, lost_chat, lost, _), (_, unindexed_chat, unindexed, _), (token, chat, told, _) = ledger.messages[:3]
    stores.rows(
        "DELETE m FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE c.application_id = %s AND c.number = %s AND m.number = %s",
        (app_id, lost_chat, lost),
    )
    stores.es.delete(
        index="messages",
        id=doc_id(app_id, unindexed_chat, unindexed),
        routing=routing(app_id, unindexed_chat),
        refresh=True,
    )
    ledger.messages.append((token, chat, told, "a second client told the same number"))

    report = check(stores, ledger, "checker with faults planted", client.name, counter=False)
    assert not report.ok
    assert report.lost == 1
    assert report.duplicated == 2  # the number told twice, and the second body not in its row
    assert report.not_indexed == 2  # the document deleted, and the second body never indexed
