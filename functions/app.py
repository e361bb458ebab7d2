"""Routes and entry points of the chat API. Each one reads its input and calls one use case."""

import time
import uuid

from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice, ConvertToMiddleware

from chalicelib import counter, http, migrate, service, settings, writer
from chalicelib.observability import entry_point, logger, metrics
from chalicelib.wiring import deps

app = Chalice(app_name="chat", configure_logs=False)
# Every entry point, routes and functions alike (Chalice hands its handlers one argument; this
# wraps them as (event, context)): Lambda context and cold start in the logs, a trace segment.
app.register_middleware(ConvertToMiddleware(entry_point))
TOKEN = "/applications/{token}"
CHAT = TOKEN + "/chats/{number}"
MESSAGE = CHAT + "/messages/{message_number}"


def route(path: str, methods: list):
    # Bodies are read as JSON whatever the Content-Type says, so a wrong header gets our own
    # 400 rather than Chalice's 415 in another error shape.
    return app.route(path, methods=methods, content_types=["*/*"])


@app.middleware("http")
def correlate(event, get_response):
    # API Gateway's request id (the x-amzn-RequestId it answers with); `chalice local` has none.
    logger.set_correlation_id(event.context.get("requestId") or str(uuid.uuid4()))
    # The route's pattern (/applications/{token}/...), never the path with the token in it.
    logger.append_keys(path=event.path, method=event.method)
    started = time.perf_counter()
    response = get_response(event)
    # One line a request, carrying its correlation id: the writer logs the same id per event.
    logger.info("answered", status=response.status_code, ms=round((time.perf_counter() - started) * 1000, 1))
    return response


def _request():
    return app.current_request


def _body() -> dict:
    return http.json_object(_request().raw_body)


def _url() -> str | None:
    request = _request()
    return http.request_url(request.headers, request.context, settings.get().api_path_prefix)


# -- applications --------------------------------------------------------------------------------


@route("/applications", ["POST"])
@http.answers_errors
def create_application():
    application = service.create_application(deps(), http.name_field(_body()))
    return http.created(application.to_json(), f"applications/{application.token}")


@route(TOKEN, ["GET"])
@http.answers_errors
def get_application(token):
    return http.json_response(service.get_application(deps(), http.token(token)).to_json())


@route(TOKEN, ["PATCH", "PUT"])
@http.answers_errors
def rename_application(token):
    name = http.name_field(_body())
    return http.json_response(service.rename_application(deps(), http.token(token), name).to_json())


# -- chats ---------------------------------------------------------------------------------------


@route(TOKEN + "/chats", ["POST"])
@http.answers_errors
def create_chat(token):
    number = service.create_chat(deps(), http.token(token))
    metrics.add_metric(name="ChatsAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": number}, f"chats/{number}")


@route(TOKEN + "/chats", ["GET"])
@http.answers_errors
def list_chats(token):
    after, limit = http.page(_request().query_params)
    chats = service.list_chats(deps(), http.token(token), after, limit + 1)
    return http.page_response(chats, limit, _url())


@route(CHAT, ["GET"])
@http.answers_errors
def get_chat(token, number):
    chat = service.get_chat(deps(), http.token(token), http.number(number, "chat number"))
    return http.json_response(chat.to_json())


# -- messages ------------------------------------------------------------------------------------


@route(CHAT + "/messages", ["POST"])
@http.answers_errors
def create_message(token, number):
    body = http.body_field(_body(), settings.get().max_body_bytes)
    created = service.create_message(deps(), http.token(token), http.number(number, "chat number"), body)
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": created}, f"messages/{created}")


@route(CHAT + "/messages", ["GET"])
@http.answers_errors
def list_messages(token, number):
    after, limit = http.page(_request().query_params)
    messages = service.list_messages(
        deps(), http.token(token), http.number(number, "chat number"), after, limit + 1
    )
    return http.page_response(messages, limit, _url())


@route(CHAT + "/messages/search", ["GET"])
@http.answers_errors
def search_messages(token, number):
    params = _request().query_params
    started = time.perf_counter()
    found = service.search_messages(
        deps(),
        http.token(token),
        http.number(number, "chat number"),
        http.search_query(params),
        http.limit(params),
    )
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="SearchLatency", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    return http.json_response([message.to_json() for message in found])


@route(MESSAGE, ["GET"])
@http.answers_errors
def get_message(token, number, message_number):
    message = service.get_message(
        deps(),
        http.token(token),
        http.number(number, "chat number"),
        http.number(message_number, "message number"),
    )
    return http.json_response(message.to_json())


@route(MESSAGE, ["PATCH", "PUT"])
@http.answers_errors
def edit_message(token, number, message_number):
    body = http.body_field(_body(), settings.get().max_body_bytes)
    message = service.edit_message(
        deps(),
        http.token(token),
        http.number(number, "chat number"),
        http.number(message_number, "message number"),
        body,
    )
    return http.json_response(message.to_json())


# -- the writer, the counter and the schema ------------------------------------------------------


# What triggers these functions, and with what batch size or schedule, is infra/template.yaml's
# to say: the decorators only name entry points (a test checks they configure nothing else).


# Batches from the creation queue's SQS event source.
@app.lambda_function(name="handle_creations")
def handle_creations(event, context):
    response = writer.handle(event, deps())
    failed = len(response["batchItemFailures"])
    metrics.add_metric(name="EventsWritten", unit=MetricUnit.Count, value=len(event["Records"]) - failed)
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=failed)
    lag_ms = writer.lag_ms(event, time.time())
    if lag_ms is not None:
        metrics.add_metric(name="WriteLag", unit=MetricUnit.Milliseconds, value=lag_ms)
    return response


# Hourly by the template's schedule rule; any payload will do, so `make counts` can invoke it.
@app.lambda_function(name="refresh_counts")
def refresh_counts(event, context):
    result = counter.refresh_counts(deps())
    logger.info("counts refreshed", **result)
    return result


# CloudFormation's custom resource (the Schema resource), or the local deploy directly.
@app.lambda_function(name="migrate")
def migrate_schema(event, context):
    return migrate.handle_custom_resource(event, deps, context.get_remaining_time_in_millis() / 1000)
