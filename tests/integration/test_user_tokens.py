"""User tokens through the routes (in-process handlers, real MySQL and Redis): issued with the
application token, sent as `Authorization: Bearer` on the chat routes without it."""

import json

from tests.integration.support import JSON, call, get, post


def issue(client, token: str, **grant) -> str:
    status, answer = post(
        client, f"/applications/{token}/user_tokens", {"user_id": "ana", "name": "Ana", **grant}
    )
    assert status == 201, answer
    return answer["token"]


def bearer(user_token: str) -> dict[str, str]:
    return {**JSON, "Authorization": f"Bearer {user_token}"}


def test_a_user_token_is_issued_with_its_grant_and_used_without_the_application_token(client, application):
    token = application["token"]
    status, answer = post(
        client, f"/applications/{token}/user_tokens", {"user_id": "ana", "name": "Ana", "expires_in": 600}
    )
    assert status == 201
    assert answer["user"] == {"id": "ana", "name": "Ana"} and answer["access"] == "read_write"
    assert "chats" not in answer and answer["expires_at"].endswith("Z")
    user = bearer(answer["token"])
    assert call(client, "post", "/chats", headers=user)[0] == 201
    status, created = call(client, "post", "/chats/1/messages", json.dumps({"body": "hi"}), user)
    assert (status, created) == (201, {"number": 1})
    status, message, _ = get(client, "/chats/1/messages/1", user)
    assert (status, message["body"]) == (200, "hi")
    # The application token works there too, in the header instead of the path.
    assert get(client, "/chats/1/messages/1", bearer(token))[0] == 200


def test_without_a_token_or_with_a_bad_one_the_bearer_routes_answer_401_with_a_code(client, application):
    response = client.http.get("/chats/1", headers={})
    assert response.status_code == 401 and json.loads(response.body)["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="chat"'
    for bad in ("a.b.c", "x" * 5000, "Basic abc", "no-application-has-this-token"):
        response = client.http.get("/chats/1", headers={"Authorization": f"Bearer {bad}"})
        assert response.status_code == 401 and json.loads(response.body)["code"] == "invalid_token", bad
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_read_only_user_token_writing_is_403(client, application):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    reader = bearer(issue(client, token, access="read"))
    status, answer = call(client, "post", "/chats/1/messages", json.dumps({"body": "no"}), reader)
    assert (status, answer["code"]) == (403, "read_only_token")
    assert get(client, "/chats/1", reader)[0] == 200


def test_a_token_for_some_chats_is_403_on_the_others(client, application):
    token = application["token"]
    for _ in range(2):
        post(client, f"/applications/{token}/chats")
    limited = bearer(issue(client, token, chats=[2]))
    assert get(client, "/chats/2", limited)[0] == 200
    status, answer, _ = get(client, "/chats/1", limited)
    assert (status, answer["code"]) == (403, "chat_not_allowed")


def test_a_rotation_revokes_the_user_tokens_issued_before_it(client, application):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    user = bearer(issue(client, token))
    assert get(client, "/chats/1", user)[0] == 200
    new = post(client, f"/applications/{token}/token", {"grace_seconds": 0})[1]["token"]
    status, answer, _ = get(client, "/chats/1", user)  # this process rotated: refused at once
    assert (status, answer["code"]) == (401, "token_revoked")
    assert get(client, "/chats/1", bearer(issue(client, new)))[0] == 200


def test_a_grant_that_cannot_be_is_400(client, application):
    token = application["token"]
    ana = {"user_id": "a", "name": "A"}
    for grant in (
        {"name": "no id"},
        {**ana, "access": "admin"},
        {**ana, "expires_in": 10**9},
        {**ana, "chats": "1"},
        {**ana, "chats": None},  # only a missing list means every chat
    ):
        status, answer = post(client, f"/applications/{token}/user_tokens", grant)
        assert (status, answer["code"]) == (400, "bad_request"), grant


def test_a_message_records_its_author_and_only_they_may_edit_it(client, application):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    ana = bearer(issue(client, token))
    ben_token = post(client, f"/applications/{token}/user_tokens", {"user_id": "ben", "name": "Ben"})[1]
    ben = bearer(ben_token["token"])
    created = call(client, "post", "/chats/1/messages", json.dumps({"body": "Ana's"}), ana)[1]
    _, message, _ = get(client, f"/chats/1/messages/{created['number']}", ana)
    assert message["author"] == {"id": "ana", "name": "Ana"}
    path = f"/chats/1/messages/{created['number']}"
    status, refused = call(client, "patch", path, json.dumps({"body": "Ben's now"}), ben)
    assert (status, refused["code"]) == (403, "not_author")
    assert call(client, "patch", path, json.dumps({"body": "Ana's, edited"}), ana)[0] == 200
    assert call(client, "patch", f"/applications/{token}/chats/1/messages/{created['number']}",
                json.dumps({"body": "moderated"}))[0] == 200  # fmt: skip
