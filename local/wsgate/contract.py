"""API Gateway's WebSocket contract with Lambda: the route events and how a message picks its route.

Shapes as AWS documents them for Lambda proxy integrations of WebSocket APIs ("Setting up data
transformations for WebSocket APIs", "WebSocket API route selection"); docs/platform.md lists
what the local gateway leaves out.
"""

import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONNECT, DEFAULT, DISCONNECT = "$connect", "$default", "$disconnect"
BODY_EXPRESSION_PREFIX = "$request.body."


@dataclass
class Client:
    """What the gateway knows of one connection, from its upgrade request on."""

    connection_id: str
    api_id: str
    stage: str
    domain_name: str
    source_ip: str
    user_agent: str
    headers: Sequence[tuple[str, str]]
    query: Sequence[tuple[str, str]]
    connected_at_ms: int = field(default_factory=lambda: now_ms())
    last_active_at_ms: int = field(default_factory=lambda: now_ms())


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_connection_id() -> str:
    # AWS's look like "L0SM9cOFvHcCIhw=": 12 characters of base64; URL-safe here, as they go in paths.
    return base64.urlsafe_b64encode(secrets.token_bytes(8)).decode()


def select_route(expression: str, body: str | bytes, routes: Sequence[str]) -> str | None:
    """The route a message takes: the value at `$request.body.<path>` when a route has that key,
    else `$default` when there is one, else None (AWS answers the client "Forbidden")."""
    key = _body_value(expression, body) if isinstance(body, str) else None
    if isinstance(key, str) and key in routes and not key.startswith("$"):
        return key
    return DEFAULT if DEFAULT in routes else None


def _body_value(expression: str, body: str) -> object:
    if not expression.startswith(BODY_EXPRESSION_PREFIX):
        return None
    try:
        value: object = json.loads(body)
    except ValueError:
        return None
    for part in expression.removeprefix(BODY_EXPRESSION_PREFIX).split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _request_context(client: Client, route_key: str, event_type: str) -> dict[str, Any]:
    request_time_ms = now_ms()
    request_id = str(uuid.uuid4())
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request_time_ms / 1000)),
        "messageDirection": "IN",
        "stage": client.stage,
        "connectedAt": client.connected_at_ms,
        "requestTimeEpoch": request_time_ms,
        "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
        "requestId": request_id,
        "domainName": client.domain_name,
        "connectionId": client.connection_id,
        "apiId": client.api_id,
    }


def _multi(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value  # the last value, as API Gateway keeps it
        multi.setdefault(name, []).append(value)
    return single, multi


def _with_headers(event: dict[str, Any], client: Client) -> dict[str, Any]:
    headers, multi_headers = _multi(client.headers)
    event.update(headers=headers, multiValueHeaders=multi_headers)
    return event


def connect_event(client: Client) -> dict[str, Any]:
    event = _with_headers({"requestContext": _request_context(client, CONNECT, "CONNECT")}, client)
    if client.query:  # absent, not empty, without a query string
        query, multi_query = _multi(client.query)
        event.update(queryStringParameters=query, multiValueQueryStringParameters=multi_query)
    event["isBase64Encoded"] = False
    return event


def message_event(client: Client, route_key: str, body: str | bytes) -> dict[str, Any]:
    context = _request_context(client, route_key, "MESSAGE")
    context["messageId"] = base64.urlsafe_b64encode(secrets.token_bytes(8)).decode()
    binary = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    return {"requestContext": context, "body": text, "isBase64Encoded": binary}


def disconnect_event(client: Client, status_code: int, reason: str) -> dict[str, Any]:
    context = _request_context(client, DISCONNECT, "DISCONNECT")
    context.update(disconnectStatusCode=status_code, disconnectReason=reason)
    return _with_headers({"requestContext": context}, client) | {"isBase64Encoded": False}


def connect_status(answer: Mapping[str, Any] | None) -> int:
    """The HTTP status a `$connect` answer asks for: its statusCode, 200 when it names none."""
    if isinstance(answer, Mapping) and "statusCode" in answer:
        try:
            return int(answer["statusCode"])
        except (TypeError, ValueError):
            return 502
    return 200
