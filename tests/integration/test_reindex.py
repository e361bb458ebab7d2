"""Rebuilding the index behind the alias while the API edits and creates messages (reindex.py)."""

import json
import uuid

from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.mysql.stored_messages import StoredMessages
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import IndexVersions, doc_id, index_body, routing
from chalicelib.domain.models import Message, NewMessage
from chalicelib.usecases import reindex
from chalicelib.wiring import clients, settings
from tests.integration.support import JSON


def test_rebuild_keeps_what_was_written_while_it_ran(client, application, writer, deps):

    token = application["token"]
    app_id = deps.db.application(token).id
    path = f"/applications/{token}/chats/1/messages"
    client.http.post(f"/applications/{token}/chats")
    for n in range(1, 31):
        client.http.post(path, headers=JSON, body=json.dumps({"body": f"original {n}"}))
    writer.drain()
    es, alias = deps.elasticsearch, deps.settings.messages_index
    versions = IndexVersions(es, alias)
    old = versions.serving()
    seen = []

    def meanwhile(p: reindex.Progress) -> None:
        seen.append(p.phase)
        if p.phase == "copy" and p.done >= p.total and "edited" not in seen:
            seen.append("edited")
            # The copy has passed every message of the chat: these go through the API and the
            # writer into the index the alias still points at, the old one.
            for n in range(1, 6):
                client.http.patch(f"{path}/{n}", headers=JSON, body=json.dumps({"body": f"copy-time {n}"}))
            for n in range(31, 34):
                client.http.post(path, headers=JSON, body=json.dumps({"body": f"copy-time new {n}"}))
            writer.drain()
        if p.phase == "swapped":
            # A writer batch that indexed into the old index just before the swap and writes
            # MySQL after the catch-up read it: only the last catch-up can bring it over.
            version = deps.batches.current_messages([(app_id, 1, 6)])[0].version
            Indexer(es, old).index([NewMessage(app_id, 1, 6, "swap-time 6", version + 1)])
            deps.db.edit_message(app_id, 1, Message(6, "swap-time 6"))

    result = reindex.rebuild(
        StoredMessages(MySQL(clients.mysql_connect(settings.get()))),
        versions,
        lambda name: Indexer(es, name),
        page=200,
        settle=0,
        progress=meanwhile,
    )

    assert result.old == old and versions.serving() == result.new != old
    assert {"copy", "edited", "catch-up", "swapped"} <= set(seen)
    es.indices.refresh(index=alias)
    stored = deps.batches.current_messages([(app_id, 1, n) for n in range(1, 34)])
    assert len(stored) == 33
    indexed = {}
    for m in stored:
        doc = es.get(index=alias, id=doc_id(*m.key), routing=routing(*m.key[:2]))
        indexed[m.number] = (doc["_source"]["body"], doc["_version"])
    assert indexed == {m.number: (m.body, m.version) for m in stored}
    assert indexed[1][0] == "copy-time 1" and indexed[33][0] == "copy-time new 33"
    assert indexed[6] == ("swap-time 6", 2)
    found = json.loads(client.http.get(f"{path}/search?q=swap-time").body)
    assert [m["number"] for m in found] == [6]


def test_an_index_from_before_aliases_is_replaced_by_a_version_with_its_replicas(
    client, application, writer, deps
):

    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    client.http.post(f"/applications/{token}/chats/1/messages", headers=JSON, body='{"body": "kept"}')
    writer.drain()
    es, name = deps.elasticsearch, f"legacy-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=name, **index_body())  # what deploys made before the alias
    # A replica, as docs/deploy-aws.md has one added on AWS (unassigned on this single node).
    es.indices.put_settings(index=name, settings={"number_of_replicas": 1})
    versions = IndexVersions(es, name)
    try:
        result = reindex.rebuild(
            StoredMessages(MySQL(clients.mysql_connect(settings.get()))),
            versions,
            lambda index: Indexer(es, index),
            settle=0,
        )
        assert (result.old, result.new) == (name, f"{name}-v1")
        assert versions.serving() == f"{name}-v1"
        replicas = es.indices.get_settings(index=f"{name}-v1", name="index.number_of_replicas")
        assert replicas[f"{name}-v1"]["settings"]["index"]["number_of_replicas"] == "1"
        app_id = deps.db.application(token).id
        assert (
            es.get(index=name, id=doc_id(app_id, 1, 1), routing=routing(app_id, 1))["_source"]["body"]
            == "kept"
        )
    finally:
        es.indices.delete(index=f"{name}-v1", ignore_unavailable=True)
