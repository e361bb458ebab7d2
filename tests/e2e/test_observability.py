"""What an operator sees of a request in the deployed functions' logs, and the links clients follow."""

import json
import time

import boto3
import pytest

from tests.helpers import eventually


@pytest.fixture(scope="module")
def log_lines(stack_outputs):
    """Reads the log lines a deployed function wrote since `since_ms`, JSON ones as dicts."""
    logs = boto3.client("logs")

    def read(output_key: str, since_ms: int) -> list:
        group = f"/aws/lambda/{stack_outputs[output_key]}"
        pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=since_ms)
        messages = [e["message"] for page in pages for e in page["events"]]
        return [json.loads(m) if m.startswith("{") else {"raw": m} for m in messages]

    return read


def test_one_search_for_a_requests_id_finds_its_post_and_the_writers_line(api, application, log_lines):
    since = int(time.time() * 1000) - 1000
    chat = api.post(f"/applications/{application['token']}/chats")
    posted = api.post(f"/applications/{application['token']}/chats/1/messages", json={"body": "traced"})
    for response in (chat, posted):
        assert response.status_code == 201
        request_id = response.headers["x-amzn-RequestId"]
        [answered] = eventually(
            lambda rid=request_id: [
                x for x in log_lines("ApiFunctionName", since) if x.get("correlation_id") == rid
            ]
        )
        assert (answered["message"], answered["status"], answered["method"]) == ("answered", 201, "POST")
        assert {"cold_start", "function_request_id"} <= set(answered)
        written = eventually(
            lambda rid=request_id: [
                x for x in log_lines("WriterFunctionName", since) if rid in x.get("correlation_ids", [])
            ]
        )
        assert written[0]["message"] == "batch written"


def test_no_log_line_of_the_api_or_the_writer_holds_a_token(api, application, log_lines):
    since = int(time.time() * 1000) - 1000
    token = application["token"]
    base = f"/applications/{token}"
    assert api.get(base).status_code == 200
    assert api.post(f"{base}/chats").status_code == 201
    assert api.post(f"{base}/chats/1/messages", json={"body": "hello"}).status_code == 201
    bad = api.post(f"{base}/chats/1/messages", data="not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert api.get(f"{base}/chats/99").status_code == 404
    assert api.get(f"{base}/chats/1/messages/search", params={"q": "hello"}).status_code == 200
    assert api.patch(f"{base}/chats/1/messages/1", json={"body": "edited"}).status_code == 200
    eventually(
        lambda: [x for x in log_lines("WriterFunctionName", since) if x.get("message") == "batch written"]
    )
    lines = log_lines("WriterFunctionName", since) + log_lines("ApiFunctionName", since)
    assert len([line for line in lines if line.get("message") == "answered"]) >= 7
    assert not [line for line in lines if token in json.dumps(line)]
    assert {line["path"] for line in lines if "path" in line} >= {"/applications/{token}/chats"}


def test_the_next_page_link_is_followed_as_it_is(api, application):
    for _ in range(3):
        assert api.post(f"/applications/{application['token']}/chats").status_code == 201
    path = f"/applications/{application['token']}/chats"
    first = eventually(lambda: (r := api.get(path, params={"limit": 2})).links and r)
    assert first.links["next"]["url"].startswith(api.base_url + path + "?")
    second = api.session.get(first.links["next"]["url"], timeout=30)  # no join with the request URL
    assert [c["number"] for c in first.json() + second.json()] == [1, 2, 3]
    assert "next" not in second.links
