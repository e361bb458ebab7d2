"""Routes and entry points of the chat API. Each one reads its input and calls one use case."""
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from chalice import Chalice

from chalicelib import counter, http, migrate, service, settings, writer
from chalicelib.wiring import deps

app = Chalice(app_name="chat", configure_logs=False)
logger = Logger(service="chat-api")
metrics = Metrics(namespace="Chat", service="chat-api")
TOKEN = "/applications/{token}"
CHAT = TOKEN + "/chats/{number}"
MESSAGE = CHAT + "/messages/{message_number}"
# Bodies are read as JSON whatever their Content-Type says (curl -d sends a form type), so a
# wrong header never turns into an error of a different shape.
ANY_TYPE = ["*/*"]


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


# -- applications --------------------------------------------------------------------------------

@app.route("/applications", methods=["POST"], content_types=ANY_TYPE)
@http.answers_errors
def create_application():
    application = service.create_application(deps(), http.name_field(_body()))
    return http.json_response(application.to_json(), 201)


@app.route(TOKEN, methods=["GET"])
@http.answers_errors
def get_application(token):
    return http.json_response(service.get_application(deps(), http.token(token)).to_json())


@app.route(TOKEN, methods=["PATCH", "PUT"], content_types=ANY_TYPE)
@http.answers_errors
def rename_application(token):
    name = http.name_field(_body())
    return http.json_response(service.rename_application(deps(), http.token(token), name).to_json())


# -- chats ---------------------------------------------------------------------------------------

@app.route(TOKEN + "/chats", methods=["POST"], content_types=ANY_TYPE)
@http.answers_errors
def create_chat(token):
    number = service.create_chat(deps(), http.token(token))
    metrics.add_metric(name="ChatsAccepted", unit=MetricUnit.Count, value=1)
    return http.json_response({"number": number}, 201)


@app.route(TOKEN + "/chats", methods=["GET"])
@http.answers_errors
def list_chats(token):
    after, limit = http.page(_request().query_params)
    chats = service.list_chats(deps(), http.token(token), after, limit + 1)
    return http.page_response(chats, limit)


@app.route(CHAT, methods=["GET"])
@http.answers_errors
def get_chat(token, number):
    chat = service.get_chat(deps(), http.token(token), http.number(number, "chat number"))
    return http.json_response(chat.to_json())


# -- messages ------------------------------------------------------------------------------------

@app.route(CHAT + "/messages", methods=["POST"], content_types=ANY_TYPE)
@http.answers_errors
def create_message(token, number):
    body = http.body_field(_body(), settings.get().max_body_bytes)
    created = service.create_message(deps(), http.token(token), http.number(number, "chat number"), body)
    metrics.add_metric(name="MessagesAccepted", unit=MetricUnit.Count, value=1)
    return http.json_response({"number": created}, 201)


@app.route(CHAT + "/messages", methods=["GET"])
@http.answers_errors
def list_messages(token, number):
    after, limit = http.page(_request().query_params)
    messages = service.list_messages(deps(), http.token(token), http.number(number, "chat number"),
                                     after, limit + 1)
    return http.page_response(messages, limit)


@app.route(CHAT + "/messages/search", methods=["GET"])
@http.answers_errors
def search_messages(token, number):
    params = _request().query_params
    query, (_, limit) = http.search_query(params), http.page(params)
    found = service.search_messages(deps(), http.token(token), http.number(number, "chat number"),
                                    query, limit)
    return http.json_response([message.to_json() for message in found])


@app.route(MESSAGE, methods=["GET"])
@http.answers_errors
def get_message(token, number, message_number):
    message = service.get_message(deps(), http.token(token), http.number(number, "chat number"),
                                  http.number(message_number, "message number"))
    return http.json_response(message.to_json())


@app.route(MESSAGE, methods=["PATCH", "PUT"], content_types=ANY_TYPE)
@http.answers_errors
def edit_message(token, number, message_number):
    body = http.body_field(_body(), settings.get().max_body_bytes)
    message = service.edit_message(deps(), http.token(token), http.number(number, "chat number"),
                                   http.number(message_number, "message number"), body)
    return http.json_response(message.to_json())


# -- the writer, the counter and the schema ------------------------------------------------------

@app.on_sqs_message(queue="chat-creations", batch_size=100)
def handle_creations(event):
    return writer.handle(event.to_dict(), deps())


@app.schedule("rate(1 hour)")
def refresh_counts(event):
    result = counter.refresh_counts(deps())
    logger.info("counts refreshed", **result)
    return result


@app.lambda_function(name="migrate")
def migrate_schema(event, context):
    return migrate.handle_custom_resource(event, deps())
