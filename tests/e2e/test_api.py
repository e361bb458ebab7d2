"""The chat API over HTTP, through LocalStack's API Gateway, the queue and the deployed writer."""

import json
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from tests.helpers import content, eventually


def make_chat(api, token) -> str:
    response = api.post(f"/applications/{token}/chats")
    assert response.status_code == 201, response.text
    return f"/applications/{token}/chats/{response.json()['number']}"


def test_a_message_reaches_lists_and_search_through_the_queue(api, application):
    chat = make_chat(api, application["token"])
    assert api.post(f"{chat}/messages", json={"body": "Greetings, Earthlings"}).json() == {"number": 1}
    listed = eventually(lambda: api.get(f"{chat}/messages").json())
    assert content(listed) == [{"number": 1, "body": "Greetings, Earthlings"}]
    assert listed[0]["created_at"] == api.get(f"{chat}/messages/1").json()["created_at"]
    found = eventually(lambda: api.get(f"{chat}/messages/search", params={"q": "earth"}).json())
    assert [m["number"] for m in found] == [1]


def test_writes_are_readable_at_once(api, application):
    chat = make_chat(api, application["token"])
    assert content(api.get(chat).json()) == {"number": 1, "messages_count": 0}
    number = api.post(f"{chat}/messages", json={"body": "draft"}).json()["number"]
    assert content(api.get(f"{chat}/messages/{number}").json()) == {"number": number, "body": "draft"}
    assert api.put(f"{chat}/messages/{number}", json={"body": "final"}).status_code == 200
    eventually(lambda: content(api.get(f"{chat}/messages").json()) == [{"number": number, "body": "final"}])
    assert api.get(f"{chat}/messages/{number}").json()["body"] == "final"
    eventually(lambda: api.get(f"{chat}/messages/search", params={"q": "final"}).json())
    assert api.get(f"{chat}/messages/search", params={"q": "draft"}).json() == []


def test_fifty_parallel_creates_in_one_chat_get_numbers_one_to_fifty(api, application):
    chat = make_chat(api, application["token"])

    def create(i):
        response = api.post(f"{chat}/messages", json={"body": f"message {i}"})
        assert response.status_code == 201, response.text
        return response.json()["number"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        numbers = list(pool.map(create, range(50)))
    assert sorted(numbers) == list(range(1, 51))
    persisted = eventually(
        lambda: (lambda page: page if len(page) == 50 else None)(
            api.get(f"{chat}/messages", params={"limit": 100}).json()
        ),
        timeout=60,
    )
    assert [m["number"] for m in persisted] == list(range(1, 51))


def test_parallel_chat_creates_get_distinct_numbers(api, application):
    token = application["token"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(
            pool.map(lambda _: api.post(f"/applications/{token}/chats").json()["number"], range(20))
        )
    assert sorted(numbers) == list(range(1, 21))


def test_the_counter_sets_counts_equal_to_the_rows(api, application, stack_outputs):
    token = application["token"]
    chat = make_chat(api, token)
    make_chat(api, token)
    for body in ("one", "two", "three"):
        api.post(f"{chat}/messages", json={"body": body})
    eventually(lambda: len(api.get(f"{chat}/messages").json()) == 3)
    eventually(lambda: len(api.get(f"/applications/{token}/chats").json()) == 2)
    result = boto3.client("lambda").invoke(FunctionName=stack_outputs["CounterFunctionName"])
    assert "FunctionError" not in result, result["Payload"].read()
    assert api.get(f"/applications/{token}").json()["chats_count"] == 2
    assert content(api.get(chat).json()) == {"number": 1, "messages_count": 3}


@pytest.mark.slow
def test_the_schedule_refreshes_counts_without_being_asked(api, application):
    # Locally the counter's rule fires every minute (hourly on AWS): wait for one firing.
    token = application["token"]
    chat = make_chat(api, token)
    api.post(f"{chat}/messages", json={"body": "tick"})
    eventually(lambda: api.get(chat).json()["messages_count"] == 1, timeout=150, interval=2)
    assert api.get(f"/applications/{token}").json()["chats_count"] == 1


def test_errors_are_json_with_a_message_and_a_code(api):
    response = api.get("/applications/not-a-token")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert set(response.json()) == {"message", "code"}
    bad = api.post("/applications", data=b"{oops", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    assert "Traceback" not in json.dumps(bad.json())
