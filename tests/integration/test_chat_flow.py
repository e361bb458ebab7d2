"""The chat flow in-process: accept, queue, persist, read back, through the real services."""

import json

import redis

from chalicelib.domain import events
from handlers import counter
from tests.helpers import content, eventually, invoke
from tests.integration.support import JSON, REDIS_URL, get, post


def test_an_application_is_created_read_and_renamed(client, application):
    token = application["token"]
    assert application["name"].startswith("it-") and application["chats_count"] == 0
    assert len(token) >= 32 and "id" not in application
    assert get(client, f"/applications/{token}")[1] == application
    response = client.http.patch(f"/applications/{token}", headers=JSON, body='{"name": "renamed"}')
    assert json.loads(response.body) == {**application, "name": "renamed"}
    assert get(client, f"/applications/{token}")[1]["name"] == "renamed"


def test_chat_numbers_count_from_one_in_each_application(client, application, writer):
    other = json.loads(client.http.post("/applications", headers=JSON, body='{"name": "b"}').body)
    first = [post(client, f"/applications/{application['token']}/chats")[1]["number"] for _ in range(3)]
    second = [post(client, f"/applications/{other['token']}/chats")[1]["number"] for _ in range(2)]
    assert (first, second) == ([1, 2, 3], [1, 2])


def test_a_new_chat_and_message_are_readable_before_the_writer_runs(client, application, writer):
    token = application["token"]
    assert post(client, f"/applications/{token}/chats") == (201, {"number": 1})
    assert post(client, f"/applications/{token}/chats/1/messages", {"body": "first!"}) == (201, {"number": 1})
    assert get(client, f"/applications/{token}/chats/1")[:2] == (
        200,
        {"number": 1, "messages_count": 0, "created_at": None, "last_message_at": None, "last_change": 0},
    )
    status, queued, _ = get(client, f"/applications/{token}/chats/1/messages/1")
    assert (status, content(queued)) == (200, {"number": 1, "body": "first!"})
    assert queued["created_at"].endswith("Z") and queued["author"] is None and queued["edited_at"] is None
    assert get(client, f"/applications/{token}/chats/1/messages")[1] == []  # lists wait for the writer
    writer.drain()
    # The same instant from MySQL as from Redis: it travelled with the event.
    assert get(client, f"/applications/{token}/chats/1/messages")[1] == [queued]
    chat = get(client, f"/applications/{token}/chats/1")[1]
    assert chat["created_at"] <= queued["created_at"] == chat["last_message_at"]


def five_messages(client, application, writer) -> str:
    """Chat 1 of the application holds m1 … m5, persisted; its token."""
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    for i in range(5):
        post(client, f"/applications/{token}/chats/1/messages", {"body": f"m{i + 1}"})
    writer.drain()
    return token


def test_lists_are_in_number_order_and_paged_by_cursor(client, application, writer):
    token = five_messages(client, application, writer)
    status, page, headers = get(client, f"/applications/{token}/chats/1/messages?limit=2", {"host": "api"})
    assert [m["number"] for m in page] == [1, 2]
    # No base URL configured here: the link is relative to the request, whatever its Host says
    # (tests/integration/test_foreign_requests.py has it absolute under a configured one).
    assert headers["Link"] == '<?after=2&limit=2>; rel="next"'
    _, page, headers = get(client, f"/applications/{token}/chats/1/messages?limit=2&after=4")
    assert content(page) == [{"number": 5, "body": "m5"}] and "Link" not in headers


def test_a_chat_opens_at_its_newest_page_and_links_to_the_older_ones(client, application, writer):
    token = five_messages(client, application, writer)
    _, page, headers = get(client, f"/applications/{token}/chats/1/messages?before=2147483647&limit=2")
    assert [m["number"] for m in page] == [4, 5]
    assert headers["Link"] == '<?before=4&limit=2>; rel="prev"'
    _, page, headers = get(client, f"/applications/{token}/chats/1/messages?before=2&limit=2")
    assert content(page) == [{"number": 1, "body": "m1"}] and "Link" not in headers
    for bad in ("0", "-1", "x", "2147483648"):
        status, answer, _ = get(client, f"/applications/{token}/chats/1/messages?before={bad}")
        assert status == 400 and answer["code"] == "bad_request"


def test_redelivered_events_change_nothing(client, application, writer, deps):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    post(client, f"/applications/{token}/chats/1/messages", {"body": "once"})
    batch = writer.receive()
    assert writer.deliver(batch) == []
    assert writer.deliver(batch) == []  # the same records again, as SQS may deliver them
    writer.drain()
    assert content(get(client, f"/applications/{token}/chats/1/messages")[1]) == [
        {"number": 1, "body": "once"}
    ]
    hits = client.http.get(f"/applications/{token}/chats/1/messages/search?q=once")
    assert len(json.loads(hits.body)) == 1


def test_a_message_reaching_the_writer_before_its_chat_is_kept(client, application, writer):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    post(client, f"/applications/{token}/chats/1/messages", {"body": "early bird"})
    batch = writer.receive()
    message_first = sorted(batch, key=lambda m: json.loads(m["Body"])["type"] != "message")
    for m in message_first:  # one record per batch, the message before its chat
        assert writer.deliver([m]) == []
    writer.drain()
    found = get(client, f"/applications/{token}/chats/1/messages")[1]
    assert content(found) == [{"number": 1, "body": "early bird"}]


def test_a_poison_event_fails_alone_and_the_rest_of_its_batch_lands(
    client, application, writer, sqs, queue_url
):
    token = application["token"]
    vanished_app = events.message_created(2**31, 1, 1, "orphan")
    poison = sorted(
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"]
        for body in (vanished_app, "{not json")
    )
    post(client, f"/applications/{token}/chats")
    batch = writer.receive()
    assert len(batch) == 3
    assert writer.deliver(batch) == poison
    assert content(get(client, f"/applications/{token}/chats")[1]) == [{"number": 1, "messages_count": 0}]
    for m in batch:  # SQS would retry the poison and then dead-letter it; here it is dropped
        if m["MessageId"] in poison:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def test_an_edit_of_a_queued_message_survives_the_writer(client, application, writer):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    post(client, f"/applications/{token}/chats/1/messages", {"body": "original words"})
    response = client.http.patch(
        f"/applications/{token}/chats/1/messages/1", headers=JSON, body='{"body": "edited text"}'
    )
    edited = json.loads(response.body)
    assert content(edited) == {"number": 1, "body": "edited text"} and edited["edited_at"] is not None
    writer.drain()
    assert get(client, f"/applications/{token}/chats/1/messages/1")[1] == edited

    def search(q):
        return json.loads(client.http.get(f"/applications/{token}/chats/1/messages/search?q={q}").body)

    assert [m["number"] for m in search("edited")] == [1]
    assert search("original") == []


def test_numbers_are_never_reused_after_redis_restarts_empty(client, application, writer):
    token = application["token"]
    assert [post(client, f"/applications/{token}/chats")[1]["number"] for _ in range(2)] == [1, 2]
    redis.Redis.from_url(REDIS_URL).flushdb()  # the cache comes back empty
    status, body = post(client, f"/applications/{token}/chats")
    assert status == 503 and body["code"] == "unavailable"  # chats 1 and 2 are still queued
    writer.drain()
    # It reopens API_TIMEOUT_SECONDS + 2 s after it was found closed (a request's longest life).
    assert eventually(
        lambda: (a := post(client, f"/applications/{token}/chats"))[0] == 201 and a, 20, 0.5
    ) == (
        201,
        {"number": 3},
    )


def test_counts_match_the_rows_after_the_counter_runs(client, application, writer):
    token = application["token"]
    for _ in range(2):
        post(client, f"/applications/{token}/chats")
    for body in ("a1", "a2", "a3"):
        post(client, f"/applications/{token}/chats/1/messages", {"body": body})
    writer.drain()
    invoke(counter.refresh_counts, {})
    assert get(client, f"/applications/{token}")[1]["chats_count"] == 2
    assert content(get(client, f"/applications/{token}/chats")[1]) == [
        {"number": 1, "messages_count": 3},
        {"number": 2, "messages_count": 0},
    ]


def test_the_counter_recounts_only_what_changed_until_redis_forgets(client, application, writer):
    token = application["token"]
    post(client, f"/applications/{token}/chats")
    post(client, f"/applications/{token}/chats/1/messages", {"body": "one"})
    writer.drain()
    invoke(counter.refresh_counts, {})  # a first run settles everything
    post(client, f"/applications/{token}/chats/1/messages", {"body": "two"})
    post(client, f"/applications/{token}/chats")
    writer.drain()
    result = invoke(counter.refresh_counts, {})
    assert result["mode"] == "incremental"
    assert content(get(client, f"/applications/{token}/chats")[1]) == [
        {"number": 1, "messages_count": 2},
        {"number": 2, "messages_count": 0},
    ]
    assert get(client, f"/applications/{token}")[1]["chats_count"] == 2
    redis.Redis.from_url(REDIS_URL).flushdb()  # the change marks are gone with the cache
    assert invoke(counter.refresh_counts, {})["mode"] == "full"
