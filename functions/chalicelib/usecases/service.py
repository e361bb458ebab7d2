"""The use cases of the chat API, one function each: check, decide, call the adapters."""

import dataclasses
import functools
import time
import uuid
from collections.abc import Callable, Sequence

from ..domain import events, user_tokens
from ..domain.callers import Caller
from ..domain.changes import ChatChanged, Feed
from ..domain.errors import (
    BadRequest,
    Gone,
    KeyReused,
    NotFound,
    PayloadTooLarge,
    Refused,
    TokenRotated,
    Unavailable,
    UnknownToken,
)
from ..domain.models import (
    Application,
    Chat,
    ChatKey,
    CreatedApplication,
    Message,
    NewMessage,
    SearchAfter,
    SearchPage,
)
from ..domain.numbering import RECOVERING
from ..domain.request_keys import (
    MIN_SECRET_KEY_BITS,
    Done,
    New,
    RecordLoss,
    Replay,
    RequestKey,
    Reserved,
    Unsure,
)
from ..domain.times import now_ms
from ..domain.tokens import new_token
from ..domain.user_tokens import Grant
from . import access, identity, numbering, reading
from .announcing import announce
from .once import Once
from .ports import Deps


def new_create_id() -> str:
    return uuid.uuid4().hex


# -- applications --------------------------------------------------------------------------------

_ANONYMOUS = "applications"  # POST /applications has no application to scope its key to


def create_application(
    deps: Deps, name: str, key: RequestKey | None = None, client: str = "unknown"
) -> Application:
    """The row is the key's record: its create id is bound to the request and unique, so a retry
    (or a concurrent duplicate) finds the first create, and another request with the key is
    another create (nothing tells a caller that someone else's key is in use). `client`: the
    caller's address (its network, for IPv6), as the edge read it."""
    # Each application brings quotas of its own: how many appear is bounded per address and in all.
    access.within_quota(deps, access.address_subject(client), "applications-per-address")
    access.within_quota(deps, "everyone", "applications")
    if key is None:
        return _new_application(deps, name, new_create_id())
    _secret_carrying(key, "POST /applications")
    # Bound to the caller's address too: a key's length says nothing of how it was chosen, and
    # a guessed key with the same name must not hand another caller the first one's token.
    bound = dataclasses.replace(key, digest=f"{key.digest}\n{client}").bound()
    create_id = bound.create_id(_ANONYMOUS)
    created = deps.db.application_created_by(create_id)
    if created is None:
        return _new_application(deps, name, create_id, bound)
    return _replayed(created, bound)


def _new_application(deps: Deps, name: str, create_id: str, key: RequestKey | None = None) -> Application:
    token = new_token()
    try:
        app = deps.db.insert_application(token, name, create_id, key.seal(token) if key else None)
    except Refused:
        created = deps.db.application_created_by(create_id)  # the same request, an instant earlier
        if created is None or key is None:
            raise
        return _replayed(created, key)
    deps.tokens.remember(app.token, app.id)
    return app


def _replayed(created: CreatedApplication, key: RequestKey) -> Application:
    """The first answer again: the name asked for (the same request), its token unsealed."""
    if created.sealed_token is None:
        raise NotFound("this Idempotency-Key's application was created before tokens were sealed")
    return Application(created.id, key.unseal(created.sealed_token), created.name, 0)


def get_application(deps: Deps, token: str) -> Application:
    app = identity.application(deps, token)
    access.within_quota(deps, access.application_subject(app.id), "reads")
    return app


def rename_application(deps: Deps, token: str, name: str, key: RequestKey | None = None) -> Application:
    app = identity.application(deps, token)
    access.within_quota(deps, access.application_subject(app.id), "edits")
    with Once(deps.keys, str(app.id), key) as once:
        if isinstance(once.claim, New):
            app = deps.db.rename_application(app, name)
            once.done(Done())
    return dataclasses.replace(app, name=name)  # a replay answers the name it set


def rotate_token(deps: Deps, token: str, grace_seconds: int, key: RequestKey | None = None) -> Application:
    """A new token; `token` keeps working for `grace_seconds` (0: caches refuse it within
    `REVOCATION_SECONDS`). A retry with the key answers the same new token, from either, also
    once the old token's grace is over (its answer was lost: the old token is all it has)."""
    _secret_carrying(key, "rotating a token")
    try:
        app = get_application(deps, token)
    except NotFound:
        if key is None:
            raise
        return _replayed_rotation(deps, token, key)
    access.within_quota(deps, access.application_subject(app.id), "edits")
    with Once(deps.keys, str(app.id), key) as once:
        if isinstance(once.claim, Replay) and key is not None and once.claim.done.sealed_token:
            return dataclasses.replace(app, token=key.unseal(once.claim.done.sealed_token), previous=False)
        new = new_token()
        if app.previous or not deps.db.rotate_token(app.id, token, new, grace_seconds):
            raise TokenRotated("this token was replaced by a rotation; rotate with the newest one")
        identity.forget(deps, token)
        identity.forget_key_versions(app.id)
        once.done(Done(sealed_token=key.seal(new) if key is not None else None))
    return dataclasses.replace(app, token=new, token_version=app.token_version + 1)


def _replayed_rotation(deps: Deps, token: str, key: RequestKey) -> Application:
    """The new token of the rotation `key` made from `token`, whose grace is over; NotFound
    unless that rotation's record holds it (another key's claim is released on the way out)."""
    app = deps.db.application_rotated_from(token)
    if app is None:
        raise UnknownToken()
    access.within_quota(deps, access.application_subject(app.id), "edits")
    with Once(deps.keys, str(app.id), key) as once:
        if isinstance(once.claim, Replay) and once.claim.done.sealed_token:
            return dataclasses.replace(app, token=key.unseal(once.claim.done.sealed_token), previous=False)
        raise UnknownToken()


def revoke_previous_token(deps: Deps, token: str) -> None:
    """Ends the grace of the token the last rotation replaced, now."""
    app = get_application(deps, token)
    access.within_quota(deps, access.application_subject(app.id), "edits")
    deps.db.revoke_previous_token(app.id)
    identity.forget_key_versions(app.id)


def issue_user_token(deps: Deps, token: str, grant: Grant) -> tuple[str, int]:
    """A user token for `grant`, signed with the application's current key, and when it expires
    (Unix seconds). Only the application's current token may ask: a browser never holds it."""
    user_tokens.validated(grant)
    app = identity.application(deps, token)
    access.within_quota(deps, access.application_subject(app.id), "creates")
    if app.previous:
        raise TokenRotated("a token a rotation replaced cannot issue user tokens; use the newest")
    now = int(time.time())
    signer = user_tokens.KeyId(app.id, app.token_version)
    return user_tokens.mint(deps.user_token_secret, signer, grant, now), now + grant.lifetime_seconds


def _secret_carrying(key: RequestKey | None, what: str) -> None:
    """A key whose record holds a token must carry as many bits as the token's seal needs."""
    if key is not None and key.bits() < MIN_SECRET_KEY_BITS:
        raise BadRequest(
            f"an Idempotency-Key for {what} must carry {MIN_SECRET_KEY_BITS} bits: "
            "22 or more base64url characters, or 32 or more hex digits"
        )


def known_token(deps: Deps, credential: str) -> str:
    """The credential, if it names a caller (NotFound, Unauthorized), before anything else is
    read or counted."""
    identity.identify(deps, credential)
    return credential


# -- chats ---------------------------------------------------------------------------------------

_NO_CHAT = "no chat with that number"


def create_chat(deps: Deps, token: str, key: RequestKey | None = None) -> int:
    caller = access.admitted(deps, token, "creates", write=True)
    app_id = caller.application_id
    with Once(deps.keys, str(app_id), access.users_key(key, caller)) as once:
        stored = functools.partial(deps.db.chat_created_by, app_id)
        earlier = _earlier_number(deps, once, stored, (app_id, 0))
        if earlier is not None:
            return once.done(Done(earlier)).number
        seed = functools.partial(deps.db.max_chat_number, app_id)
        reserve = functools.partial(deps.reservations.reserve_chat_number, app_id, seed)
        taken, deadline = _number(deps, once, reserve, now_ms())
        deps.queue.send(
            events.chat_created(app_id, taken.number, once.create_id, taken.created_at_ms), deadline
        )
        return once.done(Done(taken.number)).number


def _number(
    deps: Deps,
    once: Once,
    reserve: Callable[[], int],
    created_at_ms: int,
    unheld: Callable[[int], None] = lambda number: None,
) -> tuple[Reserved, float]:
    """The number a create sends, held on its key's record, and by when it must be queued: the
    one an earlier attempt took and may have queued (its event is sent again, the same), else a
    new one. `unheld(number)` undoes what the reservation of a new number made readable when the
    record cannot hold it: nothing is sent, and nobody is told it."""
    taken = once.sent_before()
    if taken is not None:
        deadline = numbering.deadline(deps)
        return once.held(taken, deadline), deadline
    number, deadline = numbering.reserve(deps, once, reserve)
    try:
        return once.held(Reserved(number, created_at_ms), deadline), deadline
    except Exception:
        unheld(number)
        raise


def list_chats(deps: Deps, token: str, after: int, limit: int) -> list[Chat]:
    """A page of chats; for a user, those its token reaches, each with its unread count."""
    caller = access.admitted(deps, token, "reads")
    if caller.chats is None:
        return reading.with_unread(deps, caller, deps.db.chats(caller.application_id, after, limit))
    # A user token names at most a hundred chats: those after `after`, looked up one by one.
    numbers = sorted(n for n in caller.chats if n > after)[:limit]
    found = (deps.db.chat(caller.application_id, n) for n in numbers)
    return reading.with_unread(deps, caller, [chat for chat in found if chat is not None])


def get_chat(deps: Deps, token: str, number: int) -> Chat:
    caller = access.admitted(deps, token, "reads", number)
    app_id = caller.application_id
    chat = deps.db.chat(app_id, number)
    if chat is None:
        if not _chat_is_queued(deps, app_id, number):
            raise NotFound(_NO_CHAT)
        chat = Chat(number, 0)
    return reading.with_unread(deps, caller, [chat])[0]


def _chat_is_queued(deps: Deps, app_id: int, number: int) -> bool:
    """Whether the chat's number was handed out; raises Unavailable when the cache cannot say
    (down, or recovering from a restart), since a chat still queued is then in no store we can read."""
    reserved = deps.reservations.chats_reserved(app_id)
    return reserved is not None and number <= reserved


def _existing_chat(deps: Deps, app_id: int, number: int) -> int:
    try:
        queued = _chat_is_queued(deps, app_id, number)
    except Unavailable:
        if deps.db.chat(app_id, number) is not None:
            return app_id
        raise  # a 404 here could deny a chat that was created: the client retries instead
    if not queued and deps.db.chat(app_id, number) is None:
        raise NotFound(_NO_CHAT)
    return app_id


# -- messages ------------------------------------------------------------------------------------


def create_message(deps: Deps, token: str, chat_number: int, body: str, key: RequestKey | None = None) -> int:
    """Takes the chat's next number for `body`, written by the caller's user (None: the
    application's backend); the accept instant travels with it to every store."""
    caller = access.admitted(deps, token, "creates", chat_number, write=True)
    app_id = _existing_chat(deps, caller.application_id, chat_number)
    if not events.message_fits(body):
        # Checked before a number is taken: a refused send would leave a gap and a 503.
        raise PayloadTooLarge("body is too large once escaped for the queue (many control characters?)")

    with Once(deps.keys, str(app_id), access.users_key(key, caller)) as once:
        stored = functools.partial(_message_created_by, deps, app_id, chat_number, body)
        earlier = _earlier_number(deps, once, stored, (app_id, chat_number))
        if earlier is not None:
            return once.done(Done(earlier)).number
        at = now_ms()
        accepted = NewMessage(app_id, chat_number, 0, body, 1, once.create_id, at, caller.user)
        taken, deadline = _number(
            deps,
            once,
            _message_reservation(deps, accepted),
            at,
            lambda number: _forget_quietly(deps, dataclasses.replace(accepted, number=number)),
        )
        queued = dataclasses.replace(accepted, number=taken.number, created_at_ms=taken.created_at_ms)
        if once.sent_before() is not None:
            deps.pending.keep_pending(queued)  # readable again while queued, as its reservation made it
        _queue_message(deps, queued, deadline)
        # Readable now from its pending record: its chat's followers see it before it is stored.
        deps.accept_push.accepted(app_id, chat_number, queued.message())
        return once.done(Done(taken.number)).number


def _message_reservation(deps: Deps, m: NewMessage) -> Callable[[], int]:
    """Takes the number `m` is given (it carries none yet); its pending record keeps it readable."""
    seed = functools.partial(deps.db.max_message_number, m.application_id, m.chat_number)
    return functools.partial(
        deps.reservations.reserve_message_number,
        m.application_id,
        m.chat_number,
        m.body,
        seed,
        m.created_at_ms,
        m.author,
    )


def _queue_message(deps: Deps, message: NewMessage, deadline: float) -> None:
    m = message
    try:
        deps.queue.send(
            events.message_created(
                m.application_id, m.chat_number, m.number, m.body, m.create_id, m.created_at_ms, m.author
            ),
            deadline,
        )
    except Unavailable:
        # The client hears 503: the body must not be readable under a number nobody was told (a
        # keyed retry sends the same event again and makes it readable again).
        _forget_quietly(deps, message)
        raise


def _earlier_number(
    deps: Deps, once: Once, stored: Callable[[str], int | None], parent: ChatKey
) -> int | None:
    """The number a create was told when it ran before: from its record, else, if Redis may have
    lost the record, from MySQL (`stored(create id)`) or the dead-letter queue. `parent`: the
    application and the chat a message goes to (0 for a chat's creation)."""
    if isinstance(once.claim, Replay):
        return once.claim.done.number
    if isinstance(once.claim, Unsure):
        return None if once.claim.same_epoch else _after_another_epoch(deps, once, stored, parent)
    return _found(deps, once, stored, parent) if _may_be_stored(deps, once.claim) else None


def _after_another_epoch(
    deps: Deps, once: Once, stored: Callable[[str], int | None], parent: ChatKey
) -> int | None:
    """An earlier attempt took a number and may have queued it, but numbering has moved to another
    epoch since: that number may be someone else's now, so it is never sent again. Once numbering
    is open, whatever was queued before is in MySQL or the dead-letter queue: found, it is the
    answer; else nothing was queued and this request creates anew."""
    if not numbering.opened(deps):
        raise Unavailable(RECOVERING)
    return _found(deps, once, stored, parent)


def _found(deps: Deps, once: Once, stored: Callable[[str], int | None], parent: ChatKey) -> int | None:
    """The create's number in MySQL, else among the creates numbering's last reopening found in
    the dead-letter queue (its body waits there for a redrive, as any dead-lettered create's)."""
    number = stored(once.create_id)
    return number if number is not None else deps.epoch.dead_lettered(*parent, once.create_id)


def _message_created_by(deps: Deps, app_id: int, chat_number: int, body: str, create_id: str) -> int | None:
    stored = deps.db.message_created_by(app_id, create_id)
    if stored is None:
        return None
    if stored.deleted and stored.chat_number == chat_number:
        return stored.number  # its body is gone: the key's record in MySQL cannot say more
    if (stored.chat_number, stored.body) != (chat_number, body):
        raise KeyReused()
    return stored.number


def _may_be_stored(deps: Deps, claim: New) -> bool:
    """Whether a new claim's create may have run before (Redis lost its record): MySQL holds it
    then, once numbering is open, as it holds every create made before the epoch opened."""
    if claim.loss is RecordLoss.NONE:
        return False
    if claim.loss is RecordLoss.UNKNOWN and not numbering.reopen(deps):
        raise Unavailable(RECOVERING)
    return True


def _forget_quietly(deps: Deps, message: NewMessage) -> None:
    try:
        deps.pending.forget_pending([message])
    except Unavailable:
        pass  # it expires on its own


def list_messages(deps: Deps, token: str, chat_number: int, after: int, limit: int) -> list[Message]:
    app_id = _existing_chat(
        deps, access.admitted(deps, token, "reads", chat_number).application_id, chat_number
    )
    return deps.db.messages(app_id, chat_number, after, limit)


def list_messages_before(
    deps: Deps, token: str, chat_number: int, before: int, limit: int
) -> tuple[list[Message], bool]:
    """The `limit` persisted messages numbered below `before` (any number past the newest: the
    newest ones), in number order, and whether older ones exist: how a reader opens a long chat
    at its end and reads back."""
    app_id = _existing_chat(
        deps, access.admitted(deps, token, "reads", chat_number).application_id, chat_number
    )
    before = min(before, deps.db.max_message_number(app_id, chat_number) + 1)
    after = max(0, before - 1 - limit)
    # Numbers are dense, but one still queued is missing: the page may reach past `before`.
    page = [m for m in deps.db.messages(app_id, chat_number, after, limit) if m.number < before]
    return page, after > 0


def get_message(deps: Deps, token: str, chat_number: int, number: int) -> Message:
    return _message(
        deps, access.admitted(deps, token, "reads", chat_number).application_id, chat_number, number
    )


def _message(deps: Deps, app_id: int, chat_number: int, number: int) -> Message:
    """The message as persisted, else as queued; NotFound if neither."""
    message = deps.db.message(app_id, chat_number, number)
    if message is not None:
        return message
    queued = _queued(deps, app_id, chat_number, number)
    if queued is not None:
        return queued
    # The writer commits the row before it drops the pending body: a row that was not there a
    # moment ago and a body that is gone now mean it was stored in between.
    message = deps.db.message(app_id, chat_number, number)
    if message is None:
        raise NotFound("no message with that number in that chat")
    return message


def _queued(deps: Deps, app_id: int, chat_number: int, number: int) -> Message | None:
    try:
        return deps.pending.pending_message(app_id, chat_number, number)
    except Unavailable:
        return None


def edit_message(
    deps: Deps, token: str, chat_number: int, number: int, body: str, key: RequestKey | None = None
) -> Message:
    caller = access.admitted(deps, token, "edits", chat_number, write=True)
    app_id = caller.application_id
    found = _to_change(deps, caller, chat_number, number)
    if found.deleted:
        raise Gone()
    edited = dataclasses.replace(found, body=body, edited_at_ms=now_ms())

    with Once(deps.keys, str(app_id), access.users_key(key, caller)) as once:
        if isinstance(once.claim, New):
            position = deps.db.edit_message(app_id, chat_number, edited)
            if position is None:
                raise Gone()  # a delete came first
            announce(deps, [ChatChanged(app_id, chat_number, position, position - 1)])
            # The writer re-indexes from MySQL, so search never keeps an older body than the row.
            deps.queue.send(events.message_edited(app_id, chat_number, number))
            once.done(Done(number))
    return edited  # a replay answers the body it set


def delete_message(deps: Deps, token: str, chat_number: int, number: int) -> Message:
    """Leaves the message's tombstone: its number stays taken, its body goes from MySQL, Redis
    and (through the writer) the index. Deleting again changes nothing and answers the same."""
    caller = access.admitted(deps, token, "edits", chat_number, write=True)
    app_id = caller.application_id
    found = _to_change(deps, caller, chat_number, number)
    if not found.deleted:
        position = deps.db.delete_message(app_id, chat_number, found, now_ms())
        if position is not None:
            announce(deps, [ChatChanged(app_id, chat_number, position, position - 1)])
    _forget_quietly(deps, NewMessage(app_id, chat_number, number, ""))
    # Sent by every delete, a repeated one too: a retry after a failed send still empties the
    # index (the writer indexes the row as MySQL holds it, a tombstone with no body).
    deps.queue.send(events.message_edited(app_id, chat_number, number))
    tombstone = deps.db.message(app_id, chat_number, number)
    assert tombstone is not None, "the row was written above"
    return tombstone


def _to_change(deps: Deps, caller: Caller, chat_number: int, number: int) -> Message:
    """The message an edit or a delete is about, persisted or queued (NotFound if neither), with
    its author: only its author, or the application's backend, may (NotAuthor otherwise)."""
    found = _message(deps, caller.application_id, chat_number, number)
    access.may_change(caller, found)
    return found


def list_changes(deps: Deps, token: str, chat_number: int, since: int, limit: int) -> Feed:
    """The chat's messages changed after position `since`, each once at its latest change, oldest
    first. A `since` past the chat's last position is a client's mistake (another chat's, or a
    restored database's): 400, so it starts over instead of waiting for positions to catch up."""
    app_id = access.admitted(deps, token, "reads", chat_number).application_id
    feed = deps.db.changes(app_id, chat_number, since, limit)
    if feed is None:
        _existing_chat(deps, app_id, chat_number)  # NotFound, or queued: nothing changed yet
        feed = Feed([], 0)
    if since > feed.last:
        raise BadRequest(
            f"since is past this chat's last change, {feed.last}: read from 0 or a position it gave"
        )
    return feed


def search_messages(
    deps: Deps,
    token: str,
    chat_number: int,
    words: Sequence[str],
    limit: int,
    after: SearchAfter | None = None,
) -> SearchPage:
    app_id = access.admitted(deps, token, "searches", chat_number).application_id
    size = _searched_chat_size(deps, app_id, chat_number)
    return deps.finder.find(app_id, chat_number, words, limit, after, size)


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
