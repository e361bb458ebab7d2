"""The local WebSocket gateway: clients' sockets on one side, the routes' Lambda functions on the
other, and the `@connections` management API the functions send with.

URLs (AWS's in brackets):
  ws://HOST:PORT/{apiId}/{stage}                          [wss://{apiId}.execute-api.{region}.amazonaws.com/{stage}]
  http://HOST:PORT/{apiId}/{stage}/@connections/{id}      [https://{apiId}.execute-api.{region}.amazonaws.com/{stage}/@connections/{id}]
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import WSMsgType, web

from . import contract
from .apis import Api, Registry
from .contract import Client
from .lambdas import IntegrationError, Invoker

LOG = logging.getLogger("wsgate")

# AWS's quota for one WebSocket message, and for one POST to @connections.
MAX_MESSAGE_BYTES = 128 * 1024
GONE_CODE = 1001  # what AWS closes an idle or too-old connection with ("Going away")


@dataclass
class Connection:
    client: Client
    api: Api
    socket: web.WebSocketResponse
    # Why the gateway closed it, for the $disconnect event; None while the client is the one closing.
    closed_by_gateway: tuple[int, str] | None = None
    pending: set[asyncio.Task[None]] = field(default_factory=set)


@dataclass(frozen=True)
class Limits:
    idle_seconds: float = 600.0  # AWS: 10 minutes without a message
    lifetime_seconds: float = 7200.0  # AWS: 2 hours, whatever the traffic


class Gateway:
    def __init__(self, registry: Registry, invoker: Invoker, limits: Limits):
        self.registry = registry
        self.invoker = invoker
        self.limits = limits
        self.connections: dict[str, Connection] = {}

    def app(self) -> web.Application:
        # A body past the quota gets AWS's PayloadTooLargeException below, not aiohttp's own 413.
        app = web.Application(client_max_size=4 * MAX_MESSAGE_BYTES)
        app.router.add_get("/_wsgate/health", self.health)
        app.router.add_get("/{api_id}/{stage}", self.connect)
        connection = "/{api_id}/{stage}/@connections/{connection_id}"
        app.router.add_post(connection, self.post_to_connection)
        app.router.add_get(connection, self.get_connection)
        app.router.add_delete(connection, self.delete_connection)
        app.on_shutdown.append(self._close_all)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "connections": len(self.connections)})

    # -- the client's side --------------------------------------------------------------------

    async def connect(self, request: web.Request) -> web.StreamResponse:
        api = self.registry.get(request.match_info["api_id"])
        if api is None or api.stage != request.match_info["stage"]:
            return _error(403, "ForbiddenException", "Forbidden")
        socket = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES)
        if not socket.can_prepare(request).ok:
            return _error(426, "BadRequestException", "Upgrade Required")
        client = Client(
            connection_id=contract.new_connection_id(),
            api_id=api.api_id,
            stage=api.stage,
            domain_name=request.host,
            source_ip=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
            headers=list(request.headers.items()),
            query=list(request.query.items()),
        )
        refusal = await self._authorize(api, client)
        if refusal is not None:
            return refusal
        await socket.prepare(request)
        connection = Connection(client, api, socket)
        self.connections[client.connection_id] = connection
        watchdog = asyncio.create_task(self._expire(connection))
        try:
            await self._read(connection)
        finally:
            watchdog.cancel()
            del self.connections[client.connection_id]
            await self._disconnected(connection)
        return socket

    async def _authorize(self, api: Api, client: Client) -> web.Response | None:
        """Runs the $connect route; an answer that is not 2xx, or a failure, refuses the socket."""
        route = api.routes.get(contract.CONNECT)
        if route is None:
            return None
        try:
            answer = await self.invoker.invoke(route.function, contract.connect_event(client))
        except IntegrationError as exc:
            LOG.warning("$connect of %s failed: %s", client.connection_id, exc)
            return _error(500, "InternalServerErrorException", "Internal server error")
        status = contract.connect_status(answer)
        if 200 <= status < 300:
            return None
        body = answer.get("body") if isinstance(answer, dict) else None
        return web.Response(status=status, text=body if isinstance(body, str) else "")

    async def _read(self, connection: Connection) -> None:
        async for message in connection.socket:
            if message.type == WSMsgType.ERROR:  # aiohttp has closed it: 1009 for a message too big
                connection.closed_by_gateway = (getattr(message.data, "code", 1011), str(message.data))
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            connection.client.last_active_at_ms = contract.now_ms()
            # Each message invokes its route at once, as on AWS: no order between them is kept.
            task = asyncio.create_task(self._route(connection, message.data))
            connection.pending.add(task)
            task.add_done_callback(connection.pending.discard)

    async def _route(self, connection: Connection, body: str | bytes) -> None:
        api, client = connection.api, connection.client
        key = contract.select_route(api.route_selection_expression, body, list(api.routes))
        if key is None:
            await self._tell(connection, "Forbidden")
            return
        route = api.routes[key]
        try:
            answer = await self.invoker.invoke(route.function, contract.message_event(client, key, body))
        except IntegrationError as exc:
            LOG.warning("%s of %s failed: %s", key, client.connection_id, exc)
            await self._tell(connection, "Internal server error")
            return
        if route.two_way and isinstance(answer, dict) and isinstance(answer.get("body"), str):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.socket.send_str(answer["body"])

    async def _tell(self, connection: Connection, message: str) -> None:
        """The error frame AWS sends a client whose message found no route or whose function failed."""
        text = json.dumps(
            {
                "message": message,
                "connectionId": connection.client.connection_id,
                "requestId": str(uuid.uuid4()),
            }
        )
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.socket.send_str(text)

    async def _expire(self, connection: Connection) -> None:
        client, limits = connection.client, self.limits
        deadline = client.connected_at_ms / 1000 + limits.lifetime_seconds
        while True:
            idle_until = client.last_active_at_ms / 1000 + limits.idle_seconds
            now = time.time()
            if now >= deadline or now >= idle_until:
                break
            await asyncio.sleep(min(deadline, idle_until) - now)
        reason = "Going away" if time.time() < deadline else "Going away (connection lifetime)"
        connection.closed_by_gateway = (GONE_CODE, reason)
        await connection.socket.close(code=GONE_CODE, message=reason.encode())

    async def _disconnected(self, connection: Connection) -> None:
        route = connection.api.routes.get(contract.DISCONNECT)
        if route is None:
            return
        if connection.closed_by_gateway is not None:
            code, reason = connection.closed_by_gateway
        else:
            code = connection.socket.close_code or 1006
            reason = f"Client-side close frame status code '{code}'"
        event = contract.disconnect_event(connection.client, code, reason)
        try:
            await self.invoker.invoke(route.function, event)
        except IntegrationError as exc:  # AWS only logs it: the connection is gone either way
            LOG.warning("$disconnect of %s failed: %s", connection.client.connection_id, exc)

    async def _close_all(self, app: web.Application) -> None:
        connections = list(self.connections.values())
        for connection in connections:
            connection.closed_by_gateway = (GONE_CODE, "Going away (gateway stopping)")
        # At once: each close waits for its client's close frame.
        await asyncio.gather(*(c.socket.close(code=GONE_CODE, message=b"Going away") for c in connections))

    # -- the @connections management API ------------------------------------------------------

    def _find(self, request: web.Request) -> Connection | None:
        connection = self.connections.get(request.match_info["connection_id"])
        if connection is None or connection.socket.closed:
            return None
        api = connection.api
        if (api.api_id, api.stage) != (request.match_info["api_id"], request.match_info["stage"]):
            return None
        return connection

    async def post_to_connection(self, request: web.Request) -> web.Response:
        data = await request.read()
        connection = self._find(request)
        if connection is None:
            return _gone()
        if len(data) > MAX_MESSAGE_BYTES:
            return _error(413, "PayloadTooLargeException", "Message too long")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            text = None
        try:
            if text is None:
                await connection.socket.send_bytes(data)
            else:
                await connection.socket.send_str(text)
        except (ConnectionError, RuntimeError):
            return _gone()
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        connection = self._find(request)
        if connection is None:
            return _gone()
        client = connection.client
        return web.json_response(
            {
                "connectedAt": _iso(client.connected_at_ms),
                "identity": {"sourceIp": client.source_ip, "userAgent": client.user_agent},
                "lastActiveAt": _iso(client.last_active_at_ms),
            }
        )

    async def delete_connection(self, request: web.Request) -> web.Response:
        connection = self._find(request)
        if connection is None:
            return _gone()
        connection.closed_by_gateway = (1000, "Connection closed by the @connections API")
        await connection.socket.close(code=1000)
        return web.Response(status=204)


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _error(status: int, error_type: str, message: str) -> web.Response:
    # The error type header is what botocore reads to raise the modelled exception.
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": error_type})


def _gone() -> web.Response:
    return _error(410, "GoneException", "Gone")
