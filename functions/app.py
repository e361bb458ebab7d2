"""Routes of the chat API. Each one reads its input and calls one use case. Every other function
(the writer, the socket and push functions, ...) has its own module (handlers/) and imports none
of this."""

import functools
import time
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, ConvertToMiddleware, Response
from chalice.app import Request

from chalicelib.domain.errors import Unauthorized, UnknownToken
from chalicelib.domain.request_keys import RequestKey
from chalicelib.edge import cors, http, webhook_requests
from chalicelib.usecases import reading, service, webhooks
from chalicelib.wiring import settings, stores
from chalicelib.wiring.observability import entry_point, logger, metrics
from chalicelib.wiring.stores import api_deps

app = Chalice(app_name="chat", configure_logs=False)
# Every route (Chalice hands its handlers one argument; this wraps them as (event, context)):
# Lambda context and cold start in the logs, a trace segment.
app.register_middleware(ConvertToMiddleware(entry_point))
# In Lambda's init phase: what this entry point's requests read is built before the first one.
stores.prepare()
TOKEN = "/applications/{token}"
CHATS = TOKEN + "/chats"
CHAT = CHATS + "/{number}"
MESSAGE = CHAT + "/messages/{message_number}"
WEBHOOKS = TOKEN + "/webhooks"
WEBHOOK = WEBHOOKS + "/{endpoint_number}"


View = Callable[..., Response]


def route(path: str, methods: list[str]) -> Callable[[View], View]:
    """Registers a view whose errors become JSON answers (http.answers_errors)."""

    def register(view: View) -> View:
        # Chalice would answer a wrong Content-Type with its own 415 in another error shape:
        # every type reaches the view, and http.require_json answers ours first.
        @functools.wraps(view)
        def json_only(*args: Any, **kwargs: Any) -> Response:
            request = _request()
            http.require_json(request.headers, request.raw_body)
            return view(*args, **kwargs)

        app.route(path, methods=methods, content_types=["*/*"])(http.answers_errors(json_only))
        return view

    return register


def chat_route(path: str, methods: list[str]) -> Callable[[View], View]:
    """Registers a view at `path` (under TOKEN: the application token in the path, for its
    backend) and again without TOKEN, for a caller that sends `Authorization: Bearer` (a user
    token, or the application token): a browser holds a user token, never the application's."""

    def register(view: View) -> View:
        route(path, methods)(view)
        return route(path.removeprefix(TOKEN), methods)(view)

    return register


@app.middleware("http")
def correlate(event: Request, get_response: Callable[[Request], Response]) -> Response:
    # API Gateway's request id (the x-amzn-RequestId it answers with); `chalice local` has none.
    logger.set_correlation_id(event.context.get("requestId") or str(uuid.uuid4()))
    # The route's pattern (/applications/{token}/...), never the path with the token in it.
    logger.append_keys(path=event.path, method=event.method)
    started = time.perf_counter()
    response = get_response(event)
    # One line a request, carrying its correlation id: the writer logs the same id per event.
    logger.info("answered", status=response.status_code, ms=round((time.perf_counter() - started) * 1000, 1))
    return response


@app.middleware("http")
def cross_origin(event: Request, get_response: Callable[[Request], Response]) -> Response:
    response = get_response(event)
    response.headers.update(
        cors.response_headers(event.headers.get("origin"), settings.api().cors_allowed_origins)
    )
    return response


def _request() -> Request:
    request = app.current_request
    assert request is not None, "called from a route only"
    return request


def _body() -> dict[str, Any]:
    raw = _request().raw_body
    return http.json_object(raw.encode() if isinstance(raw, str) else raw)


def _url() -> str | None:
    request = _request()
    return http.page_url(settings.api().api_base_url, request.context, request.uri_params)


def _credential(token: str | None) -> str:
    """The path's application token (404 if unknown, as ever), else the Authorization header's
    bearer token (401 if it names nobody)."""
    if token is not None:
        return http.token(token)
    credential = http.bearer(_request().headers)
    try:
        return service.known_token(api_deps(), credential)
    except UnknownToken as exc:
        raise Unauthorized(exc.message) from None


def _key(payload: dict[str, Any] | None = None) -> RequestKey | None:
    """The Idempotency-Key of this POST or PATCH, if the client sent one."""
    return http.request_key(_request(), payload)


# -- applications --------------------------------------------------------------------------------


@route("/applications", ["POST"])
def create_application() -> Response:
    name = http.name_field(_body())
    client = http.client_address(_request().context)
    application = service.create_application(api_deps(), name, _key({"name": name}), client)
    return http.created(application.to_json(), f"applications/{application.token}")


@route(TOKEN, ["GET"])
def get_application(token: str) -> Response:
    return http.json_response(service.get_application(api_deps(), http.token(token)).to_json())


@route(TOKEN, ["PATCH", "PUT"])
def rename_application(token: str) -> Response:
    app_token = http.token(token)
    name = http.name_field(_body())
    renamed = service.rename_application(api_deps(), app_token, name, _key({"name": name}))
    return http.json_response(renamed.to_json())


@route(TOKEN + "/token", ["POST"])
def rotate_token(token: str) -> Response:
    app_token = http.token(token)
    grace = http.grace_seconds(_body())
    rotated = service.rotate_token(api_deps(), app_token, grace, _key({"grace_seconds": grace}))
    return http.json_response(rotated.to_json())


@route(TOKEN + "/previous_token", ["DELETE"])
def revoke_previous_token(token: str) -> Response:
    service.revoke_previous_token(api_deps(), http.token(token))
    return Response(body="", status_code=204)


# -- user tokens ---------------------------------------------------------------------------------


@route(TOKEN + "/user_tokens", ["POST"])
def issue_user_token(token: str) -> Response:
    app_token = http.token(token)
    grant = http.user_grant(_body())
    issued, expires_at = service.issue_user_token(api_deps(), app_token, grant)
    return http.json_response(http.issued_user_token(issued, expires_at, grant), 201)


# -- chats ---------------------------------------------------------------------------------------


@chat_route(CHATS, ["POST"])
def create_chat(token: str | None = None) -> Response:
    number = service.create_chat(api_deps(), _credential(token), _key())
    metrics.add_metric(name="ChatsAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": number}, f"chats/{number}")


@chat_route(CHATS, ["GET"])
def list_chats(token: str | None = None) -> Response:
    caller = service.known_token(api_deps(), _credential(token))  # 401/404 before the query is read
    return http.paged(
        _request().query_params,
        lambda after, limit: service.list_chats(api_deps(), caller, after, limit),
        _url(),
    )


@chat_route(CHAT, ["GET"])
def get_chat(number: str, token: str | None = None) -> Response:
    chat = service.get_chat(api_deps(), _credential(token), http.chat_number(number))
    return http.json_response(chat.to_json())


# -- read state ----------------------------------------------------------------------------------


@route(CHAT.removeprefix(TOKEN) + "/read", ["PUT"])
def mark_read(number: str) -> Response:
    credential, chat = _credential(None), http.chat_number(number)
    position, unread = reading.mark_read(api_deps(), credential, chat, http.up_to_field(_body()))
    return http.json_response({"chat": chat, "up_to": position.up_to, "unread_count": unread})


@chat_route(CHAT + "/readers", ["GET"])
def list_readers(number: str, token: str | None = None) -> Response:
    found = reading.readers(api_deps(), _credential(token), http.chat_number(number))
    return http.json_response([position.to_json() for position in found])


@route(TOKEN + "/read_receipts", ["PUT"])
def set_read_receipts(token: str) -> Response:
    shown = reading.set_read_receipts(api_deps(), http.token(token), http.enabled_field(_body()))
    return http.json_response({"read_receipts": shown})


# -- messages ------------------------------------------------------------------------------------


@chat_route(CHAT + "/messages", ["POST"])
def create_message(number: str, token: str | None = None) -> Response:
    caller, chat = service.known_token(api_deps(), _credential(token)), http.chat_number(number)
    body = http.body_field(_body(), settings.api().max_body_bytes)
    created = service.create_message(api_deps(), caller, chat, body, _key({"body": body}))
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": created}, f"messages/{created}")


@chat_route(CHAT + "/messages", ["GET"])
def list_messages(number: str, token: str | None = None) -> Response:
    caller, chat = service.known_token(api_deps(), _credential(token)), http.chat_number(number)
    params = _request().query_params
    before = http.before(params)
    if before is not None:
        size = http.limit(params)
        older, more = service.list_messages_before(api_deps(), caller, chat, before, size)
        return http.older_page_response(older, more, size, _url())
    return http.paged(
        _request().query_params,
        lambda after, limit: service.list_messages(api_deps(), caller, chat, after, limit),
        _url(),
    )


@chat_route(CHAT + "/messages/search", ["GET"])
def search_messages(number: str, token: str | None = None) -> Response:
    params = _request().query_params
    started = time.perf_counter()
    found = service.search_messages(
        api_deps(),
        _credential(token),
        http.chat_number(number),
        http.search_query(params),
        http.limit(params),
        http.search_after(params),
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="SearchLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return http.search_page_response(found, params, _url())


@chat_route(MESSAGE, ["GET"])
def get_message(number: str, message_number: str, token: str | None = None) -> Response:
    message = service.get_message(
        api_deps(),
        _credential(token),
        http.chat_number(number),
        http.message_number(message_number),
    )
    return http.json_response(message.to_json())


@chat_route(MESSAGE, ["DELETE"])
def delete_message(number: str, message_number: str, token: str | None = None) -> Response:
    caller, chat = service.known_token(api_deps(), _credential(token)), http.chat_number(number)
    deleted = service.delete_message(api_deps(), caller, chat, http.message_number(message_number))
    return http.json_response(deleted.to_json())


@chat_route(CHAT + "/changes", ["GET"])
def list_changes(number: str, token: str | None = None) -> Response:
    caller, chat = service.known_token(api_deps(), _credential(token)), http.chat_number(number)
    params = _request().query_params
    since, limit = http.since(params), http.limit(params)
    feed = service.list_changes(api_deps(), caller, chat, since, limit + 1)
    return http.feed_response(feed, since, limit, _url())


@chat_route(MESSAGE, ["PATCH", "PUT"])
def edit_message(number: str, message_number: str, token: str | None = None) -> Response:
    caller, chat = service.known_token(api_deps(), _credential(token)), http.chat_number(number)
    number_in_chat = http.message_number(message_number)
    body = http.body_field(_body(), settings.api().max_body_bytes)
    edited = service.edit_message(api_deps(), caller, chat, number_in_chat, body, _key({"body": body}))
    return http.json_response(edited.to_json())


# -- webhook endpoints ---------------------------------------------------------------------------


@route(WEBHOOKS, ["POST"])
def register_webhook(token: str) -> Response:
    app_token = service.known_token(api_deps(), http.token(token))
    url, events, description = webhook_requests.new_endpoint(_body(), settings.api().webhook_allow_loopback)
    endpoint = webhooks.register(api_deps(), app_token, url, events, description)
    return http.created(endpoint.to_json(with_secret=True), f"webhooks/{endpoint.number}")


@route(WEBHOOKS, ["GET"])
def list_webhooks(token: str) -> Response:
    found = webhooks.endpoints(api_deps(), http.token(token))
    return http.json_response({"endpoints": [e.to_json() for e in found]})


@route(WEBHOOK, ["GET"])
def get_webhook(token: str, endpoint_number: str) -> Response:
    found = webhooks.endpoint(api_deps(), http.token(token), http.number(endpoint_number, "endpoint number"))
    return http.json_response(found.to_json())


@route(WEBHOOK, ["PATCH"])
def update_webhook(token: str, endpoint_number: str) -> Response:
    app_token = service.known_token(api_deps(), http.token(token))
    change = webhook_requests.endpoint_change(_body(), settings.api().webhook_allow_loopback)
    updated = webhooks.update(api_deps(), app_token, http.number(endpoint_number, "endpoint number"), change)
    return http.json_response(updated.to_json())


@route(WEBHOOK, ["DELETE"])
def remove_webhook(token: str, endpoint_number: str) -> Response:
    webhooks.remove(api_deps(), http.token(token), http.number(endpoint_number, "endpoint number"))
    return Response(body="", status_code=204)


@route(WEBHOOKS + "/dead_letters", ["GET"])
def list_dead_letters(token: str) -> Response:
    app_token = service.known_token(api_deps(), http.token(token))
    after, limit = http.page(_request().query_params)
    limit = min(limit, webhooks.DEAD_LETTERS_PAGE)  # each holds a payload of up to 64 KiB and more
    found = webhooks.dead_letters(api_deps(), app_token, after, limit + 1)
    return http.page_response(found, limit, _url())


@route(WEBHOOKS + "/dead_letters/{letter_id}/replay", ["POST"])
def replay_dead_letter(token: str, letter_id: str) -> Response:
    webhooks.replay_dead_letter(api_deps(), http.token(token), http.number(letter_id, "dead letter id"))
    return Response(body="", status_code=202)


@route(WEBHOOK + "/secret", ["POST"])
def rotate_webhook_secret(token: str, endpoint_number: str) -> Response:
    app_token = service.known_token(api_deps(), http.token(token))
    grace = webhook_requests.secret_grace_seconds(_body())
    rotated = webhooks.rotate_secret(
        api_deps(), app_token, http.number(endpoint_number, "endpoint number"), grace
    )
    return http.json_response(rotated.to_json(with_secret=True))


# -- cross-origin preflights: one on every path, answered from the path's own methods -------------


def preflight(**_path_params: str) -> Response:
    request = _request()
    methods = sorted(app.routes[request.context["resourcePath"]])
    headers = cors.preflight_headers(
        request.headers.get("origin"), settings.api().cors_allowed_origins, methods
    )
    return Response(body="", status_code=204, headers=dict(headers))


for _path in list(app.routes):
    route(_path, ["OPTIONS"])(preflight)
