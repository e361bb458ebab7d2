"""Read state: a user marks how far they have read a chat; chats answer what is left unread;
readers' positions are shown to the others where the application allows (read receipts)."""

import dataclasses
from collections.abc import Sequence

from ..domain.callers import Caller
from ..domain.errors import Forbidden, Unavailable, UserTokenRequired
from ..domain.models import Chat
from ..domain.reading import ReadPosition
from . import access
from .ports import Deps

MAX_READERS = 100


def mark_read(deps: Deps, credential: str, chat_number: int, up_to: int) -> tuple[ReadPosition, int]:
    """Moves the user's position in the chat to `up_to` (never back, never past the chat's
    newest number); the position and the count still unread."""
    caller = access.admitted(deps, credential, "reads", chat_number)
    if caller.user is None:
        raise UserTokenRequired("only a user has a read position: send a user token")
    highest = highest_number(deps, caller.application_id, chat_number)
    position = deps.read_positions.mark_read(
        caller.application_id, chat_number, caller.user, min(up_to, highest)
    )
    return position, position.unread(highest)


def with_unread(deps: Deps, caller: Caller, chats: Sequence[Chat]) -> list[Chat]:
    """The chats, each with the caller's unread count if the caller is a user (one query for the
    positions, one Redis round trip per chat for its newest number)."""
    if caller.user is None or not chats:
        return list(chats)
    positions = deps.read_positions.positions(
        caller.application_id, [c.number for c in chats], caller.user.id
    )
    counted = []
    for chat in chats:
        highest = highest_number(deps, caller.application_id, chat.number)
        position = positions.get(chat.number)
        unread = position.unread(highest) if position else max(0, highest - chat.deleted_count)
        counted.append(dataclasses.replace(chat, unread_count=unread))
    return counted


def readers(deps: Deps, credential: str, chat_number: int) -> list[ReadPosition]:
    """The chat's readers, latest first: to the application always, to its users if it shows
    read receipts."""
    caller = access.admitted(deps, credential, "reads", chat_number)
    if caller.user is not None and not deps.read_positions.read_receipts(caller.application_id):
        raise Forbidden("this application does not show read receipts to its users")
    return deps.read_positions.readers(caller.application_id, chat_number, MAX_READERS)


def set_read_receipts(deps: Deps, token: str, shown: bool) -> bool:
    caller = access.admitted(deps, token, "edits")
    deps.read_positions.set_read_receipts(caller.application_id, shown)
    return shown


def highest_number(deps: Deps, app_id: int, chat_number: int) -> int:
    """The chat's newest message number: Redis's counter (queued messages included), else
    MySQL's highest stored number when Redis has not counted the chat or cannot say."""
    try:
        reserved = deps.reservations.messages_reserved(app_id, chat_number)
    except Unavailable:
        reserved = None
    return reserved if reserved is not None else deps.db.max_message_number(app_id, chat_number)
