"""Live delivery end to end: sockets through the local WebSocket gateway to the deployed socket
function, changes sent by the deployed push function through @connections."""

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from chalicelib.domain.tokens import token_hash
from chalicelib.wiring import settings, stores

TIMEOUT = 20


@pytest.fixture(scope="module")
def socket_url(stack_outputs) -> str:
    return stack_outputs["WebSocketApis"]["ChatWebSocket"]["Url"]


@pytest.fixture(scope="module")
def push(stack_outputs):
    client = boto3.client("lambda")

    def invoke(changes: list[tuple[int, int, int]]) -> dict:
        answer = client.invoke(
            FunctionName=stack_outputs["PushFunctionName"],
            Payload=json.dumps({"changes": changes}).encode(),
        )
        return json.loads(answer["Payload"].read())

    return invoke


@pytest.fixture(scope="module")
def mysql():
    return stores.build(settings.from_env()).mysql


def application_id(mysql, token: str) -> int:
    return mysql.count("SELECT id FROM applications WHERE token = %s", (token_hash(token),))


@pytest.fixture
def sockets() -> Iterator[ExitStack]:
    with ExitStack() as opened:
        yield opened


def open_socket(socket_url: str, token: str, opened: ExitStack) -> ClientConnection:
    return opened.enter_context(connect(f"{socket_url}?token={token}", open_timeout=TIMEOUT))


def following(api, token: str, socket_url: str, opened: ExitStack) -> ClientConnection:
    """A socket following chat 1 of the application, made for it."""
    assert api.post(f"/applications/{token}/chats").status_code == 201
    ws = open_socket(socket_url, token, opened)
    assert ask(ws, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
    return ws


def ask(ws: ClientConnection, frame: str | dict) -> dict:
    ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(ws.recv(timeout=TIMEOUT))


def test_a_subscribed_socket_is_told_of_a_change_and_a_bystander_is_not(
    api, application, socket_url, sockets, push, mysql
):
    token = application["token"]
    follower = following(api, token, socket_url, sockets)
    bystander = open_socket(socket_url, token, sockets)
    bystander.send(json.dumps({"action": "ping"}))  # answered with nothing
    totals = push([(application_id(mysql, token), 1, 7)])
    assert totals["sent"] == 1
    assert json.loads(follower.recv(timeout=TIMEOUT)) == {"type": "change", "chat": 1, "position": 7}
    with pytest.raises(TimeoutError):
        bystander.recv(timeout=1)


def test_a_socket_with_an_unknown_or_missing_token_is_refused(socket_url):
    for query in ("?token=no-such-token", ""):
        with pytest.raises(InvalidStatus) as refused:
            connect(socket_url + query, open_timeout=TIMEOUT)
        assert refused.value.response.status_code in (400, 404)


def test_a_bad_frame_is_answered_with_an_error_and_the_socket_stays_open(application, socket_url, sockets):
    ws = open_socket(socket_url, application["token"], sockets)
    assert ask(ws, "not json")["code"] == "bad_frame"
    assert ask(ws, {"action": "subscribe", "chat": -1})["code"] == "bad_frame"
    assert ask(ws, "x" * 10_000)["code"] == "frame_too_large"
    ws.send(json.dumps({"action": "ping"}))  # answered with nothing: the next answer is the subscribe's
    assert ask(ws, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}


def test_a_socket_gone_without_a_disconnect_is_forgotten_at_the_next_push(application, push, mysql):
    # AWS sends $disconnect on a best-effort basis: a row may outlive its socket.
    app_id = application_id(mysql, application["token"])
    stale = f"stale-{uuid.uuid4().hex}"
    mysql.all(
        "INSERT INTO socket_connections (connection_id, application_id, expires_at) "
        "VALUES (%s, %s, DATE_ADD(UTC_TIMESTAMP(6), INTERVAL 1 HOUR))",
        (stale, app_id),
    )
    mysql.all(
        "INSERT INTO socket_subscriptions (connection_id, application_id, chat_number) VALUES (%s, %s, 1)",
        (stale, app_id),
    )
    totals = push([(app_id, 1, 1)])
    assert totals["gone"] == 1 and totals["sent"] == 0
    assert mysql.count("SELECT COUNT(*) FROM socket_connections WHERE application_id = %s", (app_id,)) == 0


def test_a_revoked_tokens_socket_is_closed_at_the_next_change(
    api, application, socket_url, sockets, push, mysql
):
    token = application["token"]
    ws = following(api, token, socket_url, sockets)
    app_id = application_id(mysql, token)
    rotated = api.post(f"/applications/{token}/token", json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    assert push([(app_id, 1, 2)])["revoked"] == 1
    with pytest.raises(ConnectionClosed):  # closed by the gateway (DELETE @connections), nothing sent
        ws.recv(timeout=TIMEOUT)


def test_a_change_announced_on_the_topic_reaches_a_follower(
    api, application, socket_url, sockets, stack_outputs, mysql
):
    from chalicelib.adapters.announce import topic
    from chalicelib.domain.changes import ChatChanged
    from chalicelib.wiring.observability import logger

    token = application["token"]
    ws = following(api, token, socket_url, sockets)
    announcer = topic.TopicAnnouncer(topic.client(), stack_outputs["ChangesTopicArn"], logger)
    announcer.announce(
        [ChatChanged(application_id(mysql, token), 1, 3), ChatChanged(application_id(mysql, token), 1, 4)]
    )
    assert json.loads(ws.recv(timeout=TIMEOUT)) == {"type": "change", "chat": 1, "position": 4}


def frames(ws: ClientConnection, count: int) -> dict[str, dict]:
    """The next `count` frames, by type (an `accepted` frame and a `change` frame travel apart,
    either may come first)."""
    received = [json.loads(ws.recv(timeout=TIMEOUT)) for _ in range(count)]
    return {frame["type"]: frame for frame in received}


def test_a_posted_message_and_its_edit_reach_a_follower_with_their_content(
    api, application, socket_url, sockets
):
    token = application["token"]
    ws = following(api, token, socket_url, sockets)
    posted = api.post(f"/applications/{token}/chats/1/messages", json={"body": "on its way"})
    assert posted.status_code == 201, posted.text
    number = posted.json()["number"]
    # Told twice: when accepted (from the API), and when stored (the queue, the writer's commit,
    # the topic, the push reading the feed).
    told = frames(ws, 2)
    assert told["accepted"]["message"] == api.get(f"/applications/{token}/chats/1/messages/{number}").json()
    change = told["change"]
    assert (change["position"], change["since"]) == (1, 0)
    [created] = change["changes"]
    feed = api.get(f"/applications/{token}/chats/1/changes?since=0").json()["changes"]
    assert created == feed[0] and created["message"]["body"] == "on its way"
    edited = api.patch(f"/applications/{token}/chats/1/messages/{number}", json={"body": "arrived"})
    assert edited.status_code == 200, edited.text
    change = json.loads(ws.recv(timeout=TIMEOUT))
    assert (change["position"], change["since"]) == (2, 1)
    assert [(c["kind"], c["message"]["body"]) for c in change["changes"]] == [("edited", "arrived")]


def _signing_secret() -> bytes:
    """The deployed functions' user-token secret (Secrets Manager in LocalStack)."""
    from local.stack.deploy import STACK

    found = boto3.client("cloudformation").describe_stack_resource(
        StackName=STACK, LogicalResourceId="UserTokenSecret"
    )
    arn = found["StackResourceDetail"]["PhysicalResourceId"]
    return boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"].encode()


def test_a_user_tokens_socket_is_closed_once_the_token_expired(api, application, socket_url, sockets, mysql):
    from chalicelib.domain.models import Author
    from chalicelib.domain.user_tokens import Grant, KeyId, mint

    token = application["token"]
    assert api.post(f"/applications/{token}/chats").status_code == 201
    # A token of the shortest lifetime (60 s), issued 56 s ago: it has 4 s left.
    signer = KeyId(application_id(mysql, token), 1)
    issued = int(time.time()) - 56
    user_token = mint(_signing_secret(), signer, Grant(Author("ana", "Ana"), lifetime_seconds=60), issued)
    ws = open_socket(socket_url, user_token, sockets)
    assert ask(ws, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
    time.sleep(max(0.0, issued + 60 - time.time()) + 1)
    assert api.post(f"/applications/{token}/chats/1/messages", json={"body": "after"}).status_code == 201
    with pytest.raises(ConnectionClosed):  # closed by the push (DELETE @connections), nothing sent
        ws.recv(timeout=TIMEOUT)


def user_token(api, token: str, user_id: str) -> str:
    issued = api.post(f"/applications/{token}/user_tokens", json={"user_id": user_id, "name": user_id})
    assert issued.status_code == 201, issued.text
    return issued.json()["token"]


def test_a_user_tokens_socket_is_closed_once_its_applications_token_is_rotated_and_revoked(
    api, application, socket_url, sockets
):
    token = application["token"]
    assert api.post(f"/applications/{token}/chats").status_code == 201
    ana = open_socket(socket_url, user_token(api, token, "ana"), sockets)
    assert ask(ana, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
    other = api.post("/applications", json={"name": f"test-{uuid.uuid4().hex[:8]}"}).json()["token"]
    others = following(api, other, socket_url, sockets)  # another application's, and its user's
    bo = open_socket(socket_url, user_token(api, other, "bo"), sockets)
    assert ask(bo, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
    rotated = api.post(f"/applications/{token}/token", json={"grace_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    new_token = rotated.json()["token"]
    # Within the grace the user token's key still verifies: the socket is answered.
    assert ask(ana, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
    assert api.delete(f"/applications/{new_token}/previous_token").status_code == 204
    posted = api.post(f"/applications/{new_token}/chats/1/messages", json={"body": "after"})
    assert posted.status_code == 201, posted.text
    with pytest.raises(ConnectionClosed):  # closed by the push (DELETE @connections), nothing sent
        ana.recv(timeout=TIMEOUT)
    for untouched in (others, bo):
        assert ask(untouched, {"action": "subscribe", "chat": 1}) == {"type": "subscribed", "chat": 1}
