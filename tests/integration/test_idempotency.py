"""Client retries with an Idempotency-Key: the first answer again, one row, never a second create."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.integration.support import JSON


def post(client, path, body=None, key=None):
    headers = {**JSON, **({"Idempotency-Key": f'"{key}"'} if key else {})}
    response = client.http.post(path, headers=headers, body=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.body)


def rows(deps, sql, args):
    with deps.db._mysql.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_every_create_sent_twice_with_its_key_is_created_once(client, application, writer, deps):
    token = application["token"]
    chats = [post(client, f"/applications/{token}/chats", key=f"chat-{i}") for i in range(3)]
    again = [post(client, f"/applications/{token}/chats", key=f"chat-{i}") for i in range(3)]
    assert chats == again == [(201, {"number": n}) for n in (1, 2, 3)]

    sent = {}
    for i in range(12):
        path, body = f"/applications/{token}/chats/{i % 3 + 1}/messages", {"body": f"retried {i}"}
        first = post(client, path, body, key=f"message-{i}")
        assert first[0] == 201
        assert post(client, path, body, key=f"message-{i}") == first  # the same number again
        sent[(i % 3 + 1, first[1]["number"])] = body["body"]

    # The key, reused with another body, is refused and creates nothing.
    status, answer = post(
        client, f"/applications/{token}/chats/1/messages", {"body": "other"}, key="message-0"
    )
    assert (status, answer["code"]) == (422, "idempotency_key_reused")
    writer.drain()

    app_id = deps.db.application(token).id
    stored = rows(
        deps,
        "SELECT c.number, m.number, m.body FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE c.application_id = %s",
        (app_id,),
    )
    assert {(c, n): b for c, n, b in stored} == sent and len(stored) == 12
    assert len(rows(deps, "SELECT id FROM chats WHERE application_id = %s", (app_id,))) == 3


def test_ten_concurrent_duplicates_create_one_message(client, application, writer, deps):
    from chalicelib.adapters.redis.idempotency import RequestKey
    from chalicelib.domain.errors import InFlight
    from chalicelib.usecases import service

    token = application["token"]
    assert post(client, f"/applications/{token}/chats")[0] == 201
    key = RequestKey(f"concurrent-{uuid.uuid4().hex}", "the same request")

    def attempt(_):
        try:
            return service.create_message(deps, token, 1, "once, ten times", key)
        except InFlight:
            return 409

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(attempt, range(10)))
    numbers = {a for a in answers if a != 409}
    assert numbers == {1}, answers  # everyone told a number was told the same one
    assert service.create_message(deps, token, 1, "once, ten times", key) == 1  # and after, all are
    writer.drain()
    app_id = deps.db.application(token).id
    assert rows(
        deps,
        "SELECT m.number FROM messages m JOIN chats c ON c.id = m.chat_id WHERE c.application_id = %s",
        (app_id,),
    ) == [(1,)]


def test_a_retried_create_finds_its_first_attempt_in_mysql_when_redis_lost_the_record(
    client, application, writer, deps
):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 1})
    first = post(client, f"/applications/{token}/chats/1/messages", {"body": "kept"}, key="lost-record")
    writer.drain()
    r = deps.numbers._redis
    for k in r.scan_iter("idem:*"):
        r.delete(k)  # what a failover to a lagging replica does to the record
    assert deps.numbers.epoch_state()[0]  # open, and younger than a record lives: MySQL is asked
    assert (
        post(client, f"/applications/{token}/chats/1/messages", {"body": "kept"}, key="lost-record") == first
    )
    status, answer = post(
        client, f"/applications/{token}/chats/1/messages", {"body": "nope"}, key="lost-record"
    )
    assert (status, answer["code"]) == (422, "idempotency_key_reused")
    writer.drain()
    assert len(rows(deps, "SELECT id FROM messages WHERE create_id IS NOT NULL AND body = 'kept'", ())) >= 1


def test_applications_are_keyed_by_the_key_alone_and_patches_answer_the_first_answer(client):
    key = f"app-{uuid.uuid4().hex}"
    first = post(client, "/applications", {"name": "keyed"}, key=key)
    assert first[0] == 201
    assert post(client, "/applications", {"name": "keyed"}, key=key) == first
    assert post(client, "/applications", {"name": "another"}, key=key)[0] == 422
    token = first[1]["token"]

    def patch(name, k):
        headers = {**JSON, "Idempotency-Key": k}
        response = client.http.patch(
            f"/applications/{token}", headers=headers, body=json.dumps({"name": name})
        )
        return response.status_code, json.loads(response.body)

    renamed = patch("renamed", "rename-1")
    assert renamed == (200, {**first[1], "name": "renamed"})
    patch("again", "rename-2")
    assert patch("renamed", "rename-1") == renamed  # the first answer, not the current state
    assert patch("other", "rename-1")[0] == 422


def test_a_malformed_key_is_a_400(client):
    status, answer = post(client, "/applications", {"name": "x"}, key="\x01bad")
    assert (status, answer["code"]) == (400, "bad_request")


def test_the_key_record_is_the_row_for_applications(client, deps):
    """A created application is found by its key in MySQL even when Redis lost the record."""
    key = f"app-{uuid.uuid4().hex}"
    first = post(client, "/applications", {"name": "durable"}, key=key)
    for k in deps.numbers._redis.scan_iter("idem:applications:*"):
        deps.numbers._redis.delete(k)
    assert post(client, "/applications", {"name": "durable"}, key=key) == first
