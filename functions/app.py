"""Routes and entry points of the chat API. Each one reads its input and calls one use case."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, Response
from chalice.app import Request, SQSEvent

from chalicelib import cors, counter, http, migrate, service, settings, writer
from chalicelib.wiring import deps

app = Chalice(app_name="chat", configure_logs=False)
logger = Logger(service="chat")  # the modules' child loggers log through this one
metrics = Metrics(namespace="Chat", service="chat-api")
TOKEN = "/applications/{token}"
CHAT = TOKEN + "/chats/{number}"
MESSAGE = CHAT + "/messages/{message_number}"


View = Callable[..., Response]


def route(path: str, methods: list[str]) -> Callable[[View], View]:
    """Registers a view whose errors become JSON answers (http.answers_errors)."""

    def register(view: View) -> View:
        # Bodies are read as JSON whatever the Content-Type says, so a wrong header gets our own
        # 400 rather than Chalice's 415 in another error shape.
        app.route(path, methods=methods, content_types=["*/*"])(http.answers_errors(view))
        return view

    return register


@app.middleware("http")
def correlate(event: Request, get_response: Callable[[Request], Response]) -> Response:
    logger.set_correlation_id(event.context.get("requestId"))
    logger.append_keys(path=event.path, method=event.method)
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()


@app.middleware("http")
def cross_origin(event: Request, get_response: Callable[[Request], Response]) -> Response:
    response = get_response(event)
    response.headers.update(
        cors.response_headers(event.headers.get("origin"), settings.get().cors_allowed_origins)
    )
    return response


def _request() -> Request:
    request = app.current_request
    assert request is not None, "called from a route only"
    return request


def _body() -> dict[str, Any]:
    raw = _request().raw_body
    return http.json_object(raw.encode() if isinstance(raw, str) else raw)


# -- applications --------------------------------------------------------------------------------


@route("/applications", ["POST"])
def create_application() -> Response:
    application = service.create_application(deps(), http.name_field(_body()))
    return http.created(application.to_json(), f"applications/{application.token}")


@route(TOKEN, ["GET"])
def get_application(token: str) -> Response:
    return http.json_response(service.get_application(deps(), http.token(token)).to_json())


@route(TOKEN, ["PATCH", "PUT"])
def rename_application(token: str) -> Response:
    name = http.name_field(_body())
    return http.json_response(service.rename_application(deps(), http.token(token), name).to_json())


# -- chats ---------------------------------------------------------------------------------------


@route(TOKEN + "/chats", ["POST"])
def create_chat(token: str) -> Response:
    number = service.create_chat(deps(), http.token(token))
    metrics.add_metric(name="ChatsAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": number}, f"chats/{number}")


@route(TOKEN + "/chats", ["GET"])
def list_chats(token: str) -> Response:
    app_token = http.token(token)
    return http.paged(
        _request().query_params, lambda after, limit: service.list_chats(deps(), app_token, after, limit)
    )


@route(CHAT, ["GET"])
def get_chat(token: str, number: str) -> Response:
    chat = service.get_chat(deps(), http.token(token), http.chat_number(number))
    return http.json_response(chat.to_json())


# -- messages ------------------------------------------------------------------------------------


@route(CHAT + "/messages", ["POST"])
def create_message(token: str, number: str) -> Response:
    body = http.body_field(_body(), settings.get().max_body_bytes)
    created = service.create_message(deps(), http.token(token), http.chat_number(number), body)
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": created}, f"messages/{created}")


@route(CHAT + "/messages", ["GET"])
def list_messages(token: str, number: str) -> Response:
    app_token, chat = http.token(token), http.chat_number(number)
    return http.paged(
        _request().query_params,
        lambda after, limit: service.list_messages(deps(), app_token, chat, after, limit),
    )


@route(CHAT + "/messages/search", ["GET"])
def search_messages(token: str, number: str) -> Response:
    params = _request().query_params
    found = service.search_messages(
        deps(),
        http.token(token),
        http.chat_number(number),
        http.search_query(params),
        http.limit(params),
    )
    return http.json_response([message.to_json() for message in found])


@route(MESSAGE, ["GET"])
def get_message(token: str, number: str, message_number: str) -> Response:
    message = service.get_message(
        deps(),
        http.token(token),
        http.chat_number(number),
        http.message_number(message_number),
    )
    return http.json_response(message.to_json())


@route(MESSAGE, ["PATCH", "PUT"])
def edit_message(token: str, number: str, message_number: str) -> Response:
    body = http.body_field(_body(), settings.get().max_body_bytes)
    message = service.edit_message(
        deps(),
        http.token(token),
        http.chat_number(number),
        http.message_number(message_number),
        body,
    )
    return http.json_response(message.to_json())


# -- cross-origin preflights: one on every path, answered from the path's own methods -------------


def preflight(**_path_params: str) -> Response:
    request = _request()
    methods = sorted(app.routes[request.context["resourcePath"]])
    headers = cors.preflight_headers(
        request.headers.get("origin"), settings.get().cors_allowed_origins, methods
    )
    return Response(body="", status_code=204, headers=dict(headers))


for _path in list(app.routes):
    route(_path, ["OPTIONS"])(preflight)


# -- the writer, the counter and the schema ------------------------------------------------------


@app.on_sqs_message(queue="chat-creations", batch_size=100)
def handle_creations(event: SQSEvent) -> dict[str, Any]:
    records = [(record["messageId"], record["body"]) for record in event.to_dict()["Records"]]
    failed = writer.persist_records(deps(), records)
    metrics.add_metric(name="EventsWritten", unit=MetricUnit.Count, value=len(records) - len(failed))
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=len(failed))
    metrics.flush_metrics()
    # The partial batch response (ReportBatchItemFailures): only these records come back.
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in failed]}


# Hourly by the template's schedule rule; any payload will do, so `make counts` can invoke it.
@app.lambda_function(name="refresh_counts")
def refresh_counts(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = counter.refresh_counts(deps())
    logger.info("counts refreshed", **result)
    return result


@app.lambda_function(name="migrate")
def migrate_schema(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return migrate.handle_custom_resource(event, deps())
