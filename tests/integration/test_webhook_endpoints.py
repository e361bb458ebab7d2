"""Webhook endpoints through the in-process API, on real MariaDB: register, list, change, rotate, remove."""

import json

from chalicelib.domain.webhooks import MAX_ENDPOINTS
from tests.integration.support import JSON, call, get, patch, post

URL = "https://hooks.example.com/in"


def hooks(token: str) -> str:
    return f"/applications/{token}/webhooks"


def register(client, token: str, **fields) -> tuple[int, dict]:
    return post(client, hooks(token), {"url": URL, "events": ["message.created"], **fields})


def test_an_endpoint_is_registered_listed_changed_rotated_and_removed(client, application):
    token = application["token"]
    status, created = register(client, token, description="moderation bot")
    assert status == 201 and created["secret"].startswith("whsec_")
    assert created["created_at"].endswith("Z") and created["enabled"] is True
    path = f"{hooks(token)}/{created['number']}"
    listed = get(client, hooks(token))[1]["endpoints"]
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]

    status, changed = patch(client, path, {"events": ["chat.created", "message.deleted"], "enabled": False})
    assert status == 200
    assert changed["events"] == ["message.deleted", "chat.created"] and changed["enabled"] is False
    assert changed["url"] == URL and changed["description"] == "moderation bot"

    status, rotated = post(client, f"{path}/secret", {"grace_seconds": 60})
    assert status == 200 and rotated["secret"] not in (created["secret"], None)

    assert client.http.delete(path).status_code == 204
    assert get(client, path)[0] == 404
    assert client.http.delete(path).status_code == 404


def test_the_endpoint_limit_is_kept_and_answered_as_a_409(client, application):
    token = application["token"]
    for _ in range(MAX_ENDPOINTS):
        assert register(client, token)[0] == 201
    status, answer = register(client, token)
    assert status == 409 and answer["code"] == "limit_reached"


def test_bad_endpoint_requests_are_clear_400s_and_store_nothing(client, application):
    token = application["token"]
    for body in (
        {"url": "http://hooks.example.com/in", "events": ["message.created"]},
        {"url": "https://169.254.169.254/latest", "events": ["message.created"]},
        {"url": URL, "events": ["message.exploded"]},
        {"url": URL, "events": []},
        {"url": URL, "events": ["message.created"], "secret": "whsec_mine"},
        {"url": URL, "events": ["message.created"], "description": "x" * 256},
        {"url": URL, "events": ["message.created"], "description": "\ud800"},
    ):
        status, answer = call(client, "post", hooks(token), json.dumps(body))
        assert (status, answer["code"]) == (400, "bad_request"), body
    assert get(client, hooks(token))[1] == {"endpoints": []}
    assert call(client, "get", f"{hooks(token)}/x1", None, {})[0] == 400
    assert call(client, "get", f"{hooks(token)}/99999", None, {})[0] == 404


def test_another_applications_endpoint_is_not_found(client, application):
    created = register(client, application["token"])[1]
    other = post(client, "/applications", {"name": "other"})[1]["token"]
    path = f"{hooks(other)}/{created['number']}"
    assert get(client, path)[0] == 404
    assert patch(client, path, {"enabled": False})[0] == 404
    assert post(client, f"{path}/secret", {})[0] == 404
    assert client.http.delete(path, headers=JSON).status_code == 404
