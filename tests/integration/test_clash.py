"""A clash (another create told a number already stored) is never silent: both bodies are kept."""

import json
import uuid

from chalicelib.domain import events
from tests.integration.support import JSON


def rows(deps, sql, args):
    with deps.mysql.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_a_second_create_under_a_stored_number_is_kept_aside_and_counted(
    client, application, writer, deps, sqs, queue_url, capsys
):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    client.http.post(
        f"/applications/{token}/chats/1/messages", headers=JSON, body=json.dumps({"body": "first"})
    )
    writer.drain()
    app_id = deps.db.application(token).id
    (first_id,) = rows(
        deps,
        "SELECT m.create_id FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = %s",
        (app_id,),
    )[0]
    assert first_id is not None and len(first_id) == 32

    # What a Redis that lost its counter would cause: number 1 told again, to another create.
    other = uuid.uuid4().hex
    for body in (
        events.message_created(app_id, 1, 1, "second", other),
        events.message_created(app_id, 1, 1, "first", first_id),  # a replay of the first: no clash
        events.chat_created(app_id, 1, uuid.uuid4().hex),
    ):
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    capsys.readouterr()
    writer.drain()

    assert rows(
        deps,
        "SELECT m.body FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = %s",
        (app_id,),
    ) == [("first",)]
    kept = rows(
        deps,
        "SELECT kind, chat_number, number, create_id, stored_create_id, body "
        "FROM create_conflicts WHERE application_id = %s ORDER BY kind",
        (app_id,),
    )
    assert [k[:3] for k in kept] == [("chat", 1, 0), ("message", 1, 1)]
    assert kept[1][3:] == (other, first_id, "second")
    assert '"CreateClashes":[2.0]' in capsys.readouterr().out.replace(" ", "")

    sqs.send_message(QueueUrl=queue_url, MessageBody=events.message_created(app_id, 1, 1, "second", other))
    writer.drain()  # the clash delivered again is kept once
    assert len(rows(deps, "SELECT id FROM create_conflicts WHERE application_id = %s", (app_id,))) == 2
