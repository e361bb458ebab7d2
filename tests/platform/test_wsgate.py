"""The local WebSocket gateway speaks API Gateway's WebSocket contract to a function deployed in
LocalStack: route events with AWS's requestContext, route selection on the body's action, and the
@connections API boto3's apigatewaymanagementapi client calls (docs/platform.md, "WebSockets")."""

import base64
import json
import os
import socket as socket_module
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import boto3
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local.stack import config
from tests.conftest import ROOT, STATE

from .wsgate_stack import EchoStack, echo_stack

GATEWAY_PORT = config.load().wsgate_port


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoStack]:
    with echo_stack(STATE, GATEWAY_PORT) as stack:
        yield stack


def _open(echo: EchoStack, query: str = "", **kwargs) -> ClientConnection:
    return connect(echo.url + query, proxy=None, open_timeout=30, **kwargs)


def _echoed(socket: ClientConnection, message: str | bytes) -> dict:
    socket.send(message)
    return json.loads(socket.recv(timeout=30))


def _connection_id(socket: ClientConnection) -> str:
    return _echoed(socket, "who am I")["connectionId"]


def test_a_connect_answered_2xx_opens_the_socket_with_awss_request_context(echo):
    with _open(echo, "?token=abc&token=def&lang=en", additional_headers={"X-Client": "tests"}) as socket:
        connection_id = _connection_id(socket)
        event = echo.event(connection_id, "$connect")
    context = event["requestContext"]
    assert context["eventType"] == "CONNECT"
    assert context["apiId"] == echo.api_id and context["stage"] == echo.stage
    assert context["domainName"] == f"127.0.0.1:{GATEWAY_PORT}"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["requestId"] and context["connectedAt"] > 1.7e12
    assert event["queryStringParameters"] == {"token": "def", "lang": "en"}
    assert event["multiValueQueryStringParameters"] == {"token": ["abc", "def"], "lang": ["en"]}
    assert event["headers"]["X-Client"] == "tests"
    assert event["headers"]["Sec-WebSocket-Version"] == "13"


def test_a_connect_answered_non_2xx_refuses_the_socket_with_that_status(echo):
    with pytest.raises(InvalidStatus) as refused:
        _open(echo, "?status=401")
    assert refused.value.response.status_code == 401


def test_a_connect_whose_function_fails_refuses_the_socket(echo):
    with pytest.raises(InvalidStatus) as refused:
        _open(echo, "?fail=1")
    assert refused.value.response.status_code == 500


def test_an_unknown_api_or_stage_is_refused(echo):
    for url in (echo.url.replace(echo.api_id, "nosuchapi0"), echo.url.rsplit("/", 1)[0] + "/other"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, proxy=None)
        assert refused.value.response.status_code == 403


def test_messages_reach_the_function_by_their_action_else_default(echo):
    with _open(echo) as socket:
        plain = _echoed(socket, "hello")
        shout = _echoed(socket, json.dumps({"action": "shout", "text": "hi"}))
        unknown = _echoed(socket, json.dumps({"action": "nosuchroute"}))
        not_text = _echoed(socket, json.dumps({"action": 7}))
        event = echo.event(plain["connectionId"], "shout")
    assert (plain["route"], plain["body"]) == ("$default", "hello")
    assert (shout["route"], json.loads(shout["body"])) == ("shout", {"action": "shout", "text": "hi"})
    assert unknown["route"] == not_text["route"] == "$default"
    context = event["requestContext"]
    assert context["eventType"] == "MESSAGE" and context["messageId"]
    assert context["connectionId"] == plain["connectionId"] and context["apiId"] == echo.api_id
    assert event["isBase64Encoded"] is False


def test_a_binary_message_reaches_the_function_base64_encoded(echo):
    with _open(echo) as socket:
        echoed = _echoed(socket, b"\x00\xffbytes")
    assert echoed["isBase64Encoded"] is True
    assert base64.b64decode(echoed["body"]) == b"\x00\xffbytes"


def test_a_route_with_a_route_response_answers_with_the_functions_body(echo):
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        assert _echoed(socket, json.dumps({"action": "reply", "n": 1})) == {
            "replied": {"action": "reply", "n": 1},
            "connectionId": connection_id,
        }


def test_a_failing_function_tells_the_client_internal_server_error_and_keeps_the_socket(echo):
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        answer = _echoed(socket, json.dumps({"action": "fail"}))
        assert answer["message"] == "Internal server error"
        assert answer["connectionId"] == connection_id and answer["requestId"]
        assert _connection_id(socket) == connection_id


def test_post_get_and_delete_through_boto3s_management_client(echo):
    management = echo.management()
    with _open(echo, user_agent_header="wsgate-tests") as socket:
        connection_id = _connection_id(socket)
        management.post_to_connection(ConnectionId=connection_id, Data=b'{"pushed": 1}')
        assert json.loads(socket.recv(timeout=10)) == {"pushed": 1}

        info = management.get_connection(ConnectionId=connection_id)
        assert isinstance(info["ConnectedAt"], datetime) and info["LastActiveAt"] >= info["ConnectedAt"]
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "wsgate-tests"}

        management.delete_connection(ConnectionId=connection_id)
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
        assert closed.value.rcvd.code == 1000
    disconnect = echo.event(connection_id, "$disconnect")
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection_id, Data=b"late")


def test_a_connection_the_client_closed_is_gone_and_its_disconnect_fired(echo):
    management = echo.management()
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        socket.close(code=4001, reason="bye")
    event = echo.event(connection_id, "$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 4001
    for call in (management.post_to_connection, management.get_connection, management.delete_connection):
        kwargs = {"Data": b"x"} if call == management.post_to_connection else {}
        with pytest.raises(management.exceptions.GoneException):
            call(ConnectionId=connection_id, **kwargs)


def test_the_management_api_answers_for_its_own_api_and_stage_only(echo):
    elsewhere = echo.management(echo.management_endpoint.rsplit("/", 1)[0] + "/other")
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        with pytest.raises(elsewhere.exceptions.GoneException):
            elsewhere.post_to_connection(ConnectionId=connection_id, Data=b"x")


def test_a_post_past_128_kb_is_refused_as_too_large(echo):
    management = echo.management()
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        with pytest.raises(management.exceptions.PayloadTooLargeException):
            management.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        management.post_to_connection(ConnectionId=connection_id, Data=b"y" * (128 * 1024))
        assert len(socket.recv(timeout=10)) == 128 * 1024


def test_the_function_reads_the_local_endpoint_from_the_configuration_written_the_aws_way(echo):
    # The template says https://${EchoApi}.execute-api.${AWS::Region}.amazonaws.com/${EchoStage}.
    function = boto3.client("lambda").get_function_configuration(FunctionName=echo.function)
    assert function["Environment"]["Variables"]["CONNECTIONS_ENDPOINT"] == echo.management_endpoint


def test_a_client_message_past_128_kb_closes_the_socket_as_too_big(echo):
    with _open(echo, max_size=None) as socket:
        connection_id = _connection_id(socket)
        socket.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == 1009
    assert echo.event(connection_id, "$disconnect")["requestContext"]["disconnectStatusCode"] == 1009


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen


@pytest.fixture
def short_lived(echo) -> Iterator[Gateway]:
    """A second gateway on the same APIs with AWS's idle and lifetime limits cut to seconds."""
    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [str(STATE / "venvs" / "wsgate" / "bin" / "python"), "-m", "local.wsgate", "--port", str(port)]
    argv += ["--apis", str(STATE / "wsgate" / "apis"), "--lambda-endpoint", os.environ["AWS_ENDPOINT_URL"]]
    argv += ["--idle-timeout", "1.5", "--max-lifetime", "4"]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            assert process.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        yield Gateway(f"ws://127.0.0.1:{port}/{echo.api_id}/{echo.stage}", process)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _listening(port: int) -> bool:
    with socket_module.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _replied_id(socket: ClientConnection) -> str:
    # The two-way route: the echo's $default would send through the main gateway's endpoint.
    return _echoed(socket, json.dumps({"action": "reply"}))["connectionId"]


def test_an_idle_connection_is_closed_as_going_away_and_its_disconnect_fired(echo, short_lived):
    with connect(short_lived.url, proxy=None, ping_interval=None) as socket:
        connection_id = _replied_id(socket)
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == 1001
    assert 1.0 < time.monotonic() - started < 5
    assert echo.event(connection_id, "$disconnect")["requestContext"]["disconnectStatusCode"] == 1001


def _talk_until_closed(socket: ClientConnection, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _replied_id(socket)  # a message every ~0.5 s: never idle
        time.sleep(0.5)


def test_a_busy_connection_is_still_closed_at_its_maximum_lifetime(echo, short_lived):
    with connect(short_lived.url, proxy=None) as socket:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            _talk_until_closed(socket, 10)
    assert closed.value.rcvd.code == 1001
    assert 3 < time.monotonic() - started < 7


def test_connections_are_closed_and_disconnected_when_the_gateway_stops(echo, short_lived):
    with connect(short_lived.url, proxy=None) as socket:
        connection_id = _replied_id(socket)
        short_lived.process.terminate()
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd.code == 1001
    assert echo.event(connection_id, "$disconnect")["requestContext"]["disconnectStatusCode"] == 1001


def test_a_dropped_tcp_connection_is_disconnected_as_abnormal_closure(echo):
    with _open(echo) as socket:
        connection_id = _connection_id(socket)
        socket.socket.shutdown(socket_module.SHUT_RDWR)  # no close frame: the network went away
    event = echo.event(connection_id, "$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1006
