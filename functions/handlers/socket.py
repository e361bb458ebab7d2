"""The socket function: API Gateway's WebSocket API invokes it for every route of the API
($connect with `?token=`, $disconnect, and $default: every frame a client sends)."""

from typing import Any

from chalicelib.edge.socket import admitting, answering, connection_id, credential
from chalicelib.usecases import live
from chalicelib.wiring import stores
from chalicelib.wiring.observability import entry_point
from chalicelib.wiring.stores import socket_deps

stores.prepare()  # in Lambda's init phase: what the routes read is built before the first one


@entry_point
def handle_socket(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route, connection = event["requestContext"]["routeKey"], connection_id(event)
    if route == "$connect":
        return admitting(lambda: live.connect(socket_deps(), connection, credential(event)))
    if route == "$disconnect":
        live.disconnect(socket_deps(), connection)
        return {"statusCode": 200}
    return answering(lambda: live.receive(socket_deps(), connection, event.get("body")))
