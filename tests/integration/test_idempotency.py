"""Client retries with an Idempotency-Key: the first answer again, one row, never a second create."""

import json
import secrets
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.adapters.redis import keys as redis_keys
from tests.integration.support import JSON


def post(client, path, body=None, key=None):
    headers = {**JSON, **({"Idempotency-Key": f'"{key}"'} if key else {})}
    response = client.http.post(path, headers=headers, body=json.dumps(body) if body is not None else None)
    return response.status_code, json.loads(response.body)


def rows(deps, sql, args):
    with deps.mysql.cursor() as cur:
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
    from chalicelib.domain.errors import InFlight
    from chalicelib.domain.request_keys import RequestKey
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
    r = deps.redis
    for k in r.scan_iter(redis_keys.ALL_IDEMPOTENCY):
        r.delete(k)  # what a failover to a lagging replica does to the record
    assert deps.epoch.epoch_state().is_open  # open, and younger than a record lives: MySQL is asked
    assert (
        post(client, f"/applications/{token}/chats/1/messages", {"body": "kept"}, key="lost-record") == first
    )
    status, answer = post(
        client, f"/applications/{token}/chats/1/messages", {"body": "nope"}, key="lost-record"
    )
    assert (status, answer["code"]) == (422, "idempotency_key_reused")
    writer.drain()
    assert len(rows(deps, "SELECT id FROM messages WHERE create_id IS NOT NULL AND body = 'kept'", ())) >= 1


def test_an_application_key_replays_only_its_own_request_at_every_age(client, deps):
    key = secrets.token_urlsafe(16)
    first = post(client, "/applications", {"name": "keyed"}, key=key)
    assert first[0] == 201
    assert post(client, "/applications", {"name": "keyed"}, key=key) == first
    other = post(client, "/applications", {"name": "another"}, key=key)
    # Another request with the key is another create: no 422 tells a caller the key is in use.
    assert other[0] == 201 and other[1]["token"] != first[1]["token"]
    for k in deps.redis.scan_iter(redis_keys.ALL_IDEMPOTENCY):
        deps.redis.delete(k)
    again = post(client, "/applications", {"name": "a third"}, key=key)
    assert again[0] == 201 and again[1]["token"] not in (first[1]["token"], other[1]["token"])
    assert post(client, "/applications", {"name": "keyed"}, key=key) == first


@pytest.mark.parametrize("key", ["1", "a" * 21, "0123456789abcdef0123456789abcde", str(uuid.uuid4())[:20]])
def test_an_application_key_of_fewer_than_128_bits_is_a_400_and_creates_nothing(client, key):
    status, answer = post(client, "/applications", {"name": "weak key"}, key=key)
    assert (status, answer["code"]) == (400, "bad_request") and "128 bits" in answer["message"]


def test_renames_answer_the_first_answer_and_another_request_with_the_key_is_a_422(client, application):
    token = application["token"]

    def patch(name, k):
        headers = {**JSON, "Idempotency-Key": k}
        response = client.http.patch(
            f"/applications/{token}", headers=headers, body=json.dumps({"name": name})
        )
        return response.status_code, json.loads(response.body)

    renamed = patch("renamed", "rename-1")
    assert renamed == (200, {**application, "name": "renamed"})
    patch("again", "rename-2")
    assert patch("renamed", "rename-1") == renamed  # the first answer, not the current state
    assert patch("other", "rename-1")[0] == 422


def test_a_key_replays_only_on_its_own_route(client, application):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats", key="one key") == (201, {"number": 1})
    status, answer = post(client, f"/applications/{token}/chats/1/messages", {"body": "x"}, key="one key")
    assert (status, answer["code"]) == (422, "idempotency_key_reused")


def test_a_malformed_key_is_a_400(client):
    status, answer = post(client, "/applications", {"name": "x"}, key="\x01bad")
    assert (status, answer["code"]) == (400, "bad_request")


def test_records_keep_digests_and_numbers_never_bodies(client, application, deps):
    token, body = application["token"], "a body nobody else should hold " * 2000
    assert post(client, f"/applications/{token}/chats", key="c")[0] == 201
    assert post(client, f"/applications/{token}/chats/1/messages", {"body": body}, key="m")[0] == 201
    headers = {**JSON, "Idempotency-Key": "e"}
    edit = client.http.patch(
        f"/applications/{token}/chats/1/messages/1", headers=headers, body=json.dumps({"body": body + "!"})
    )
    assert edit.status_code == 200
    r = deps.redis
    app_id = deps.db.application(token).id
    records = r.hgetall(redis_keys.idempotency(app_id)[0])
    assert len(records) == 3 and all(len(v) < 120 for v in records.values()), records
    assert not any(b"nobody else" in v for v in records.values())
    assert (
        r.memory_usage(redis_keys.idempotency(app_id)[0]) + r.memory_usage(redis_keys.idempotency(app_id)[1])
        < 1024
    )  # the body: 60 KB
