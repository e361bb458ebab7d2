"""Routes and entry points of the chat API. Each one reads its input and calls one use case."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice

from chalicelib import counter, http, migrate, service, settings, writer
from chalicelib.wiring import deps

app = Chalice(app_name="chat", configure_logs=False)
logger = Logger(service="chat")  # the modules' child loggers log through this one
metrics = Metrics(namespace="Chat", service="chat-api")
TOKEN = "/applications/{token}"
CHAT = TOKEN + "/chats/{number}"
MESSAGE = CHAT + "/messages/{message_number}"


def route(path: str, methods: list):
    # Bodies are read as JSON whatever the Content-Type says, so a wrong header gets our own
    # 400 rather than Chalice's 415 in another error shape.
    return app.route(path, methods=methods, content_types=["*/*"])


@app.middleware("http")
def correlate(event, get_response):
    logger.set_correlation_id(event.context.get("requestId"))
    logger.append_keys(path=event.path, method=event.method)
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()


def _request():
    return app.current_request


def _body() -> dict:
    return http.json_object(_request().raw_body)


def _key(payload: dict | None = None):
    """The Idempotency-Key of this POST or PATCH, if the client sent one."""
    return http.request_key(_request(), payload)


# -- applications --------------------------------------------------------------------------------


@route("/applications", ["POST"])
@http.answers_errors
def create_application():
    name = http.name_field(_body())
    application = service.create_application(deps(), name, _key({"name": name}))
    return http.created(application.to_json(), f"applications/{application.token}")


@route(TOKEN, ["GET"])
@http.answers_errors
def get_application(token):
    return http.json_response(service.get_application(deps(), http.token(token)).to_json())


@route(TOKEN, ["PATCH", "PUT"])
@http.answers_errors
def rename_application(token):
    name = http.name_field(_body())
    renamed = service.rename_application(deps(), http.token(token), name, _key({"name": name}))
    return http.json_response(renamed.to_json())


# -- chats ---------------------------------------------------------------------------------------


@route(TOKEN + "/chats", ["POST"])
@http.answers_errors
def create_chat(token):
    number = service.create_chat(deps(), http.token(token), _key())
    metrics.add_metric(name="ChatsAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": number}, f"chats/{number}")


@route(TOKEN + "/chats", ["GET"])
@http.answers_errors
def list_chats(token):
    after, limit = http.page(_request().query_params)
    chats = service.list_chats(deps(), http.token(token), after, limit + 1)
    return http.page_response(chats, limit)


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
    created = service.create_message(
        deps(), http.token(token), http.number(number, "chat number"), body, _key({"body": body})
    )
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    return http.created({"number": created}, f"messages/{created}")


@route(CHAT + "/messages", ["GET"])
@http.answers_errors
def list_messages(token, number):
    after, limit = http.page(_request().query_params)
    messages = service.list_messages(
        deps(), http.token(token), http.number(number, "chat number"), after, limit + 1
    )
    return http.page_response(messages, limit)


@route(CHAT + "/messages/search", ["GET"])
@http.answers_errors
def search_messages(token, number):
    params = _request().query_params
    found = service.search_messages(
        deps(),
        http.token(token),
        http.number(number, "chat number"),
        http.search_query(params),
        http.limit(params),
    )
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
        _key({"body": body}),
    )
    return http.json_response(message.to_json())


# -- the writer, the counter and the schema ------------------------------------------------------


@app.on_sqs_message(queue="chat-creations", batch_size=100)
def handle_creations(event):
    batch = event.to_dict()
    response, clashes = writer.handle(batch, deps())
    failed = len(response["batchItemFailures"])
    metrics.add_metric(name="EventsWritten", unit=MetricUnit.Count, value=len(batch["Records"]) - failed)
    metrics.add_metric(name="EventsFailed", unit=MetricUnit.Count, value=failed)
    # Two creates told the same number: the template's CreateClashAlarm watches this one.
    metrics.add_metric(name="CreateClashes", unit=MetricUnit.Count, value=clashes)
    metrics.flush_metrics()
    return response


# Hourly by the template's schedule rule; any payload will do, so `make counts` can invoke it.
@app.lambda_function(name="refresh_counts")
def refresh_counts(event, context):
    result = counter.refresh_counts(deps())
    logger.info("counts refreshed", **result)
    return result


@app.lambda_function(name="migrate")
def migrate_schema(event, context):
    return migrate.handle_custom_resource(event, deps())
