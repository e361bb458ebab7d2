"""The use cases of the chat API, one function each: check, decide, call the adapters."""

import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from ..adapters.redis.idempotency import NO_EPOCH, OLD_EPOCH, RequestKey
from ..adapters.redis.numbers import chats_key, messages_key
from ..domain import events
from ..domain.errors import (
    InFlight,
    InvalidEvent,
    KeyReused,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Refused,
    Unavailable,
)
from ..domain.models import Application, Chat, Message, NewChat, NewMessage, SearchAfter, SearchPage
from .ports import Deps


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def new_create_id() -> str:
    return uuid.uuid4().hex


# -- requests with an Idempotency-Key ------------------------------------------------------------


def _once(
    deps: Deps,
    scope: str,
    key: RequestKey | None,
    run: Callable[[str], dict[str, Any]],
    stored: Callable[[str], dict[str, Any] | None] | None = None,
    numbering: bool = False,
) -> dict[str, Any]:
    """Runs `run(create id)` once per key in `scope` and returns its answer; a retry with the
    same key and request gets the first answer again, another request with the key a 422.

    `stored(create id)` finds a create in MySQL when Redis may have lost its record: always for
    applications (MySQL has them at once), and for numbered creates while the numbering epoch is
    younger than a record lives (a failover or restart lost records, and MySQL holds every create
    made before the epoch opened).
    """
    if key is None:
        return run(new_create_id())
    claim = deps.keys.claim(scope, key)
    if claim.answer is not None:
        return claim.answer
    if claim.in_flight:
        raise InFlight("a request with this Idempotency-Key is still running; retry it shortly")
    if claim.mismatch:
        raise KeyReused("this Idempotency-Key was used for another request")
    create_id = key.create_id(scope)
    try:
        answer = None
        if stored is not None and (not numbering or claim.epoch != OLD_EPOCH):
            if numbering and claim.epoch == NO_EPOCH and not _reopen_numbering(deps):
                raise Unavailable(_RECOVERING)
            answer = stored(create_id)
        if answer is None:
            answer = run(create_id)
    except BaseException:
        deps.keys.release(scope, key)
        raise
    deps.keys.complete(scope, key, answer)
    return answer


_RECOVERING = "numbering is recovering after a cache restart or failover; retry shortly"
_BY_KEY_ALONE = "applications"  # POST /applications has no application to scope its key to


# -- applications --------------------------------------------------------------------------------


def create_application(deps: Deps, name: str, key: RequestKey | None = None) -> Application:
    def run(create_id: str) -> dict[str, Any]:
        try:
            return asdict(deps.db.insert_application(new_token(), name, create_id))
        except Refused:
            found = deps.db.application_created_by(create_id)  # the same key, an instant earlier
            if found is None:
                raise
            return asdict(found)

    def stored(create_id: str) -> dict[str, Any] | None:
        found = deps.db.application_created_by(create_id)
        return asdict(found) if found is not None else None

    app = Application(**_once(deps, _BY_KEY_ALONE, key, run, stored))
    deps.tokens.remember(app.token, app.id)
    return app


def get_application(deps: Deps, token: str) -> Application:
    app = deps.db.application(token)
    if app is None:
        raise NotFound("no application has that token")
    return app


def rename_application(deps: Deps, token: str, name: str, key: RequestKey | None = None) -> Application:
    app = get_application(deps, token)
    _within_quota(deps, app.id, "edits")
    return Application(
        **_once(deps, str(app.id), key, lambda _: asdict(deps.db.rename_application(app, name)))
    )


# Found tokens, per process: an application's id never changes and none is ever deleted, so the
# routes can check a token before reading the rest of a request, and the use case finds it here.
_KNOWN: dict[str, int] = {}
_KNOWN_MAX = 10_000


def known_token(deps: Deps, token: str) -> str:
    """The token, if an application has it; NotFound before anything else is read or counted."""
    _application_id(deps, token)
    return token


def _application_id(deps: Deps, token: str) -> int:
    app_id = _KNOWN.get(token)
    if app_id is not None:
        return app_id
    app_id = deps.tokens.application_id(token)
    if app_id is None:
        app_id = get_application(deps, token).id
        deps.tokens.remember(token, app_id)
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()  # bounded; a cleared token costs one Redis GET again
    _KNOWN[token] = app_id
    return app_id


def _limited_application_id(deps: Deps, token: str, kind: str) -> int:
    """The application's id, once its quota of `kind` allows this request (before any other work)."""
    app_id = _application_id(deps, token)
    _within_quota(deps, app_id, kind)
    return app_id


def _within_quota(deps: Deps, app_id: int, kind: str) -> None:
    decision = deps.limits.take(app_id, kind) if deps.limits is not None else None
    if decision is not None and not decision.allowed:
        quota = decision.quota
        raise RateLimited(
            f"this application made {quota.requests} {kind} in {quota.window_seconds} s, its quota; "
            f"retry after {decision.reset_seconds} s",
            kind,
            quota.requests,
            quota.window_seconds,
            decision.reset_seconds,
        )


# -- chats ---------------------------------------------------------------------------------------


def create_chat(deps: Deps, token: str, key: RequestKey | None = None) -> int:
    app_id = _limited_application_id(deps, token, "creates")

    def run(create_id: str) -> dict[str, Any]:
        number = _reserve(
            deps,
            lambda: deps.numbers.reserve_chat_number(app_id, seed=lambda: deps.db.max_chat_number(app_id)),
            may_reopen=key is None,
        )
        deps.queue.send(events.chat_created(app_id, number, create_id), _deadline(deps))
        return {"number": number}

    def stored(create_id: str) -> dict[str, Any] | None:
        number = deps.db.chat_created_by(app_id, create_id)
        return {"number": number} if number is not None else None

    return int(_once(deps, str(app_id), key, run, stored, numbering=True)["number"])


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


def _existing_chat(deps: Deps, app_id: int, number: int) -> int:
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


def create_message(deps: Deps, token: str, chat_number: int, body: str, key: RequestKey | None = None) -> int:
    app_id = _existing_chat(deps, _limited_application_id(deps, token, "creates"), chat_number)
    if not events.message_fits(body):
        # Checked before a number is taken: a refused send would leave a gap and a 503.
        raise PayloadTooLarge("body is too large once escaped for the queue (many control characters?)")

    def run(create_id: str) -> dict[str, Any]:
        number = _reserve(
            deps,
            lambda: deps.numbers.reserve_message_number(
                app_id, chat_number, body, seed=lambda: deps.db.max_message_number(app_id, chat_number)
            ),
            may_reopen=key is None,
        )
        try:
            deps.queue.send(
                events.message_created(app_id, chat_number, number, body, create_id), _deadline(deps)
            )
        except Unavailable:
            # The client hears 503: its number becomes a gap, and the body must not be readable.
            _forget_quietly(deps, NewMessage(app_id, chat_number, number, body))
            raise
        return {"number": number}

    def stored(create_id: str) -> dict[str, Any] | None:
        found = deps.db.message_created_by(app_id, create_id)
        if found is None:
            return None
        if found[0] != chat_number or found[2] != body:
            raise KeyReused("this Idempotency-Key was used for another request")
        return {"number": found[1]}

    return int(_once(deps, str(app_id), key, run, stored, numbering=True)["number"])


def _deadline(deps: Deps) -> float:
    """By when a number reserved just now must be queued, or never: numbering reopens on another
    Redis no sooner than this long after that Redis was found without its epoch, which is after
    the reservation (`_reopen_numbering`). Lambda's timeout ends a request sooner anyway."""
    return time.monotonic() + deps.request_timeout_seconds + 2


def _forget_quietly(deps: Deps, message: NewMessage) -> None:
    try:
        deps.numbers.forget_pending([message])
    except Unavailable:
        pass  # it expires on its own


def list_messages(deps: Deps, token: str, chat_number: int, after: int, limit: int) -> list[Message]:
    app_id = _existing_chat(deps, _application_id(deps, token), chat_number)
    return deps.db.messages(app_id, chat_number, after, limit)


def get_message(deps: Deps, token: str, chat_number: int, number: int) -> Message:
    return _message(deps, _application_id(deps, token), chat_number, number)


def _message(deps: Deps, app_id: int, chat_number: int, number: int) -> Message:
    """The message as persisted, else as queued; NotFound if neither."""
    message = deps.db.message(app_id, chat_number, number)
    if message is not None:
        return message
    body = _queued_body(deps, app_id, chat_number, number)
    if body is not None:
        return Message(number, body)
    # The writer commits the row before it drops the pending body: a row that was not there a
    # moment ago and a body that is gone now mean it was stored in between.
    message = deps.db.message(app_id, chat_number, number)
    if message is None:
        raise NotFound("no message with that number in that chat")
    return message


def _queued_body(deps: Deps, app_id: int, chat_number: int, number: int) -> str | None:
    try:
        return deps.numbers.pending_body(app_id, chat_number, number)
    except Unavailable:
        return None


def edit_message(
    deps: Deps, token: str, chat_number: int, number: int, body: str, key: RequestKey | None = None
) -> Message:
    app_id = _limited_application_id(deps, token, "edits")
    _message(deps, app_id, chat_number, number)  # 404 unless it exists, persisted or queued

    def run(_: str) -> dict[str, Any]:
        deps.db.edit_message(app_id, chat_number, number, body)
        # The writer re-indexes from MySQL, so search never keeps an older body than the row.
        deps.queue.send(events.message_edited(app_id, chat_number, number))
        return {"number": number, "body": body}

    return Message(**_once(deps, str(app_id), key, run))


def search_messages(
    deps: Deps,
    token: str,
    chat_number: int,
    words: Sequence[str],
    limit: int,
    after: SearchAfter | None = None,
) -> SearchPage:
    app_id = _limited_application_id(deps, token, "searches")
    size = _searched_chat_size(deps, app_id, chat_number)
    return deps.search.find(app_id, chat_number, words, limit, after, size)


def _searched_chat_size(deps: Deps, app_id: int, chat_number: int) -> int | None:
    """The chat's messages_count (up to an hour old), which picks how search ranks; None if
    MySQL cannot say: search then takes the way that suits any size. NotFound unless the chat
    exists. A stored chat is read once, for both: no Redis round trip to tell it exists."""
    try:
        chat = deps.db.chat(app_id, chat_number)
    except Unavailable:
        _existing_chat(deps, app_id, chat_number)
        return None
    if chat is None:
        _existing_chat(deps, app_id, chat_number)  # queued, not stored yet: else NotFound
        return 0
    return chat.messages_count


# -- numbering after a cache restart or failover ------------------------------------------------


def _reserve(deps: Deps, reserve: Callable[[], int], may_reopen: bool = True) -> int:
    """A keyed create does not reopen numbering half-way: it looked for its first attempt in
    MySQL before, and that may have been queued until the reopening."""
    try:
        return reserve()
    except Unavailable:
        if not may_reopen or not _reopen_numbering(deps):
            raise
        return reserve()


def _reopen_numbering(deps: Deps) -> bool:
    """Opens a new numbering epoch once it is safe: True if numbers can be handed out again.

    Safe means every number handed out before is in MySQL or in the dead-letter queue: no
    request that reserved one on the old server can still be running (the epoch was found
    closed longer ago than a request may last), the queue the writer drains is empty, and the
    dead-letter queue was read (its numbers become the counters' floors).
    """
    numbers = deps.numbers
    is_open, seconds = numbers.epoch_state()
    if is_open:
        return False  # the failure was something else: let it through
    if seconds <= deps.request_timeout_seconds + 2:
        return False
    if deps.queue.depth() > 0:
        return False
    token = numbers.begin_reopening(deps.request_timeout_seconds * 3)
    if token is None:
        return False  # another request is reading the dead-letter queue: retry after it
    try:
        numbers.open_epoch(uuid.uuid4().hex, dead_letter_floors(deps.queue.dead_letters()))
    finally:
        numbers.end_reopening(token)
    return True


def dead_letter_floors(bodies: list[str]) -> dict[str, int]:
    """The highest number each counter handed out, as the dead-lettered creations tell it."""
    floors: dict[str, int] = {}

    def raise_to(key: str, number: int) -> None:
        floors[key] = max(floors.get(key, 0), number)

    for body in bodies:
        try:
            event = events.parse(body)
        except InvalidEvent:
            continue  # poison holds no number anyone was told
        if isinstance(event, NewChat):
            raise_to(chats_key(event.application_id), event.number)
        elif isinstance(event, NewMessage):
            raise_to(chats_key(event.application_id), event.chat_number)
            raise_to(messages_key(event.application_id, event.chat_number), event.number)
    return floors
