"""The use cases of the chat API, one function each: check, decide, call the adapters."""

import secrets
import uuid
from collections.abc import Callable, Sequence

from . import events
from .errors import NotFound, Unavailable
from .models import Application, Chat, Message, NewMessage
from .ports import Deps


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


# -- applications --------------------------------------------------------------------------------


def create_application(deps: Deps, name: str) -> Application:
    app = deps.db.insert_application(new_token(), name)
    deps.tokens.remember(app.token, app.id)
    return app


def get_application(deps: Deps, token: str) -> Application:
    app = deps.db.application(token)
    if app is None:
        raise NotFound("no application has that token")
    return app


def rename_application(deps: Deps, token: str, name: str) -> Application:
    return deps.db.rename_application(get_application(deps, token), name)


def _application_id(deps: Deps, token: str) -> int:
    cached = deps.tokens.application_id(token)
    if cached is not None:
        return cached
    app_id = get_application(deps, token).id
    deps.tokens.remember(token, app_id)
    return app_id


# -- chats ---------------------------------------------------------------------------------------


def create_chat(deps: Deps, token: str) -> int:
    app_id = _application_id(deps, token)
    number = _reserve(
        deps, lambda: deps.numbers.reserve_chat_number(app_id, seed=lambda: deps.db.max_chat_number(app_id))
    )
    deps.queue.send(events.chat_created(app_id, number))
    return number


def list_chats(deps: Deps, token: str, after: int, limit: int) -> list[Chat]:
    return deps.db.chats(_application_id(deps, token), after, limit)


def get_chat(deps: Deps, token: str, number: int) -> Chat:
    app_id = _application_id(deps, token)
    chat = deps.db.chat(app_id, number)
    if chat is None:
        if not _chat_is_queued(deps, app_id, number):
            raise NotFound("no chat with that number")
        chat = Chat(number, 0)
    return chat


def _chat_is_queued(deps: Deps, app_id: int, number: int) -> bool:
    """Whether the chat's number was handed out; raises Unavailable when the cache cannot say
    (down, or recovering from a restart), since a chat still queued is then in no store we can read."""
    reserved = deps.numbers.chats_reserved(app_id)
    return reserved is not None and number <= reserved


def _existing_chat(deps: Deps, token: str, number: int) -> int:
    app_id = _application_id(deps, token)
    try:
        queued = _chat_is_queued(deps, app_id, number)
    except Unavailable:
        if deps.db.chat(app_id, number) is not None:
            return app_id
        raise  # a 404 here could deny a chat that was created: the client retries instead
    if not queued and deps.db.chat(app_id, number) is None:
        raise NotFound("no chat with that number")
    return app_id


# -- messages ------------------------------------------------------------------------------------


def create_message(deps: Deps, token: str, chat_number: int, body: str) -> int:
    app_id = _existing_chat(deps, token, chat_number)
    number = _reserve(
        deps,
        lambda: deps.numbers.reserve_message_number(
            app_id, chat_number, body, seed=lambda: deps.db.max_message_number(app_id, chat_number)
        ),
    )
    try:
        deps.queue.send(events.message_created(app_id, chat_number, number, body))
    except Unavailable:
        # The client hears 503: its number becomes a gap, and the body must not be readable.
        _forget_quietly(deps, NewMessage(app_id, chat_number, number, body))
        raise
    return number


def _forget_quietly(deps: Deps, message: NewMessage) -> None:
    try:
        deps.numbers.forget_pending([message])
    except Unavailable:
        pass  # it expires on its own


def list_messages(deps: Deps, token: str, chat_number: int, after: int, limit: int) -> list[Message]:
    app_id = _existing_chat(deps, token, chat_number)
    return deps.db.messages(app_id, chat_number, after, limit)


def get_message(deps: Deps, token: str, chat_number: int, number: int) -> Message:
    return _message(deps, _application_id(deps, token), chat_number, number)


def _message(deps: Deps, app_id: int, chat_number: int, number: int) -> Message:
    """The message as persisted, else as queued; NotFound if neither."""
    message = deps.db.message(app_id, chat_number, number)
    if message is None:
        body = _queued_body(deps, app_id, chat_number, number)
        if body is None:
            raise NotFound("no message with that number in that chat")
        message = Message(number, body)
    return message


def _queued_body(deps: Deps, app_id: int, chat_number: int, number: int) -> str | None:
    try:
        return deps.numbers.pending_body(app_id, chat_number, number)
    except Unavailable:
        return None


def edit_message(deps: Deps, token: str, chat_number: int, number: int, body: str) -> Message:
    app_id = _application_id(deps, token)
    _message(deps, app_id, chat_number, number)  # 404 unless it exists, persisted or queued
    deps.db.edit_message(app_id, chat_number, number, body)
    # The writer re-indexes from MySQL, so search never keeps an older body than the row.
    deps.queue.send(events.message_edited(app_id, chat_number, number))
    return Message(number, body)


def search_messages(
    deps: Deps, token: str, chat_number: int, words: Sequence[str], limit: int
) -> list[Message]:
    app_id = _existing_chat(deps, token, chat_number)
    return deps.search.find(app_id, chat_number, words, limit)


# -- numbering after a cache restart -------------------------------------------------------------


def _reserve(deps: Deps, reserve: Callable[[], int]) -> int:
    try:
        return reserve()
    except Unavailable:
        if not _reopen_numbering(deps):
            raise
        return reserve()


def _reopen_numbering(deps: Deps) -> bool:
    """Opens a new numbering epoch once it is safe: True if numbers can be handed out again.

    Safe means every number of the old Redis lifetime is in MySQL: no request of that lifetime
    can still be running (Redis has been up longer than a request may last), and the queue the
    writer drains is empty.
    """
    numbers = deps.numbers
    if numbers.epoch_open():
        return False  # the failure was something else: let it through
    if numbers.uptime_seconds() <= deps.request_timeout_seconds + 2:
        return False
    if deps.queue.depth() > 0:
        return False
    numbers.open_epoch(uuid.uuid4().hex)
    return True
