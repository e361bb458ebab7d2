"""Requests another site's page could make a visitor send, and headers a client may forge: the
API serves neither (a body must be JSON; links come from the configured base URL)."""

import dataclasses
import json

import pytest

from tests.integration.support import JSON


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"]
)
def test_a_body_a_page_may_send_without_a_preflight_is_415_and_changes_nothing(
    client, application, content_type
):
    token = application["token"]
    headers = {"content-type": content_type}
    requests = [
        ("post", "/applications", '{"name": "from a foreign page"}'),
        ("patch", f"/applications/{token}", '{"name": "renamed by a foreign page"}'),
        ("post", f"/applications/{token}/chats", "{}"),
    ]
    for method, path, body in requests:
        response = getattr(client.http, method)(path, headers=headers, body=body)
        assert response.status_code == 415, (method, path)
        assert json.loads(response.body)["code"] == "unsupported_media_type"
    assert json.loads(client.http.get(f"/applications/{token}").body)["name"] == application["name"]
    assert json.loads(client.http.get(f"/applications/{token}/chats").body) == []


def test_a_json_body_and_a_bodyless_post_are_served(client, application):
    token = application["token"]
    assert client.http.post(f"/applications/{token}/chats").status_code == 201
    response = client.http.post(
        "/applications", headers={"content-type": "application/json; charset=utf-8"}, body='{"name": "x"}'
    )
    assert response.status_code == 201


@pytest.fixture
def base_url(monkeypatch):
    from chalicelib.wiring import settings

    configured = dataclasses.replace(settings.api(), api_base_url="https://chat.example.com/v1")
    monkeypatch.setattr(settings, "api", lambda: configured)
    return configured.api_base_url


def test_next_page_links_ignore_the_host_and_forwarded_headers_a_client_sends(
    client, application, base_url, writer
):
    token = application["token"]
    for _ in range(2):
        client.http.post(f"/applications/{token}/chats")
    writer.drain()
    forged = {"host": "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "http"}
    response = client.http.get(f"/applications/{token}/chats?limit=1", headers=forged)
    link = response.headers["Link"]
    assert link == f'<{base_url}/applications/{token}/chats?after=1&limit=1>; rel="next"'
    assert "evil" not in json.dumps(dict(response.headers))


def test_search_links_use_the_configured_base_url_too(client, application, base_url, writer):
    token = application["token"]
    client.http.post(f"/applications/{token}/chats")
    for _ in range(2):
        client.http.post(f"/applications/{token}/chats/1/messages", headers=JSON, body='{"body": "hello"}')
    writer.drain()
    response = client.http.get(
        f"/applications/{token}/chats/1/messages/search?q=hello&limit=1", headers={"host": "evil.example"}
    )
    assert response.headers["Link"].startswith(f"<{base_url}/applications/{token}/chats/1/messages/search?")
