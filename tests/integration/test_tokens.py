"""Tokens kept as hashes, and rotated or revoked through the API (in-process handlers)."""

import hashlib
import json
import secrets

from chalicelib.adapters.redis import keys
from tests.integration.support import JSON, get, post


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_mysql_and_redis_keep_a_token_only_as_its_hash(client, application, deps):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats")[0] == 201
    app_id = deps.db.application(token).id
    with deps.mysql.cursor() as cur:
        cur.execute("SELECT token FROM applications WHERE id = %s", (app_id,))
        assert cur.fetchone() == (sha256(token),)
    names = [k.decode() for k in deps.redis.scan_iter(count=1000)]
    assert keys.token(token) in names and not any(token in n for n in names)


def test_the_migration_hashes_the_tokens_of_existing_rows_once_however_often_it_runs(deps):
    from chalicelib.adapters.mysql.schema import MIGRATIONS

    statements = dict(MIGRATIONS)
    with deps.mysql.cursor() as cur:  # a temporary table hides the real one on this connection
        cur.execute(
            "CREATE TEMPORARY TABLE applications (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "token VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, name VARCHAR(255) NOT NULL, "
            "UNIQUE KEY uq_applications_token (token))"
        )
        try:
            cur.execute(
                "INSERT INTO applications (token, name) VALUES ('plain-token-1', 'a'), ('plain-2', 'b')"
            )
            cur.execute(statements["0009_applications_rotation"])
            cur.execute(statements["0010_applications_token_hashed"])
            # Run again, as after a run whose record was lost (a timeout after the commit).
            cur.execute(statements["0010_applications_token_hashed"])
            cur.execute("SELECT token, token_version, previous_token FROM applications ORDER BY id")
            assert cur.fetchall() == ((sha256("plain-token-1"), 1, None), (sha256("plain-2"), 1, None))
        finally:
            cur.execute("DROP TEMPORARY TABLE applications")


def rotate(client, token: str, body: object, key: str | None = None) -> tuple[int, dict]:
    headers = {**JSON, **({"Idempotency-Key": key} if key else {})}
    response = client.http.post(f"/applications/{token}/token", headers=headers, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def test_a_rotation_answers_a_new_token_and_the_old_one_keeps_its_grace_until_revoked(client, application):
    token = application["token"]
    status, rotated = rotate(client, token, {"grace_seconds": 3600})
    assert status == 200 and rotated == {**application, "token": rotated["token"]}
    new = rotated["token"]
    assert get(client, f"/applications/{token}")[0] == 200  # in its grace
    status, answer = rotate(client, token, {"grace_seconds": 0})
    assert (status, answer["code"]) == (409, "token_rotated")
    response = client.http.delete(f"/applications/{new}/previous_token")
    assert response.status_code == 204
    assert get(client, f"/applications/{new}")[1]["name"] == application["name"]


def test_without_grace_the_old_token_is_404_at_once(client, application):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats")[0] == 201
    status, rotated = rotate(client, token, {})
    assert status == 200
    assert get(client, f"/applications/{token}")[0] == 404
    assert post(client, f"/applications/{token}/chats")[0] == 404
    assert post(client, f"/applications/{rotated['token']}/chats") == (201, {"number": 2})


def test_a_grace_out_of_bounds_is_a_400(client, application):
    for grace in (-1, 86401, "60", 1.5, True):
        status, answer = rotate(client, application["token"], {"grace_seconds": grace})
        assert (status, answer["code"]) == (400, "bad_request"), grace


def test_a_keyed_rotation_without_grace_is_replayed_from_the_old_token(client, application):
    token, key = application["token"], secrets.token_urlsafe(16)
    status, rotated = rotate(client, token, {}, key)
    assert status == 200
    assert get(client, f"/applications/{token}")[0] == 404  # no grace: the old token is refused
    assert rotate(client, token, {}, key) == (200, rotated)  # but its lost answer is replayed
    assert rotate(client, token, {}, secrets.token_urlsafe(16))[0] == 404  # with its own key only
    assert client.http.delete(f"/applications/{rotated['token']}/previous_token").status_code == 204
    assert rotate(client, token, {}, key)[0] == 404  # and not after a revocation
