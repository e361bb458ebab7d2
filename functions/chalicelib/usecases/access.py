"""What a caller may do, and how much: its token's limits and the request quotas.

A use case admits a request first (`admitted`): the credential is identified, its chats and
read/write access checked, then the quotas taken: the user's own (a user token) before the
application's, so one user who floods is stopped before the application's quota, which every
other user shares, runs out.
"""

import dataclasses

from ..domain.callers import Caller
from ..domain.errors import ChatNotAllowed, NotAuthor, RateLimited, ReadOnlyToken
from ..domain.models import Message
from ..domain.request_keys import RequestKey
from . import identity
from .ports import Deps


def admitted(
    deps: Deps, credential: str, kind: str, chat_number: int | None = None, write: bool = False
) -> Caller:
    """The caller, if it may make this request of `kind` (on that chat; a write if `write`) and
    its quotas allow it: nothing else is read or counted before."""
    caller = identity.identify(deps, credential)
    if write and caller.read_only:
        raise ReadOnlyToken("this user token may only read")
    if chat_number is not None and not caller.may_read(chat_number):
        raise ChatNotAllowed("this user token does not allow that chat")
    if chat_number is None and write and caller.chats is not None:
        raise ChatNotAllowed("a user token limited to some chats cannot create chats")
    if caller.user is not None:
        within_quota(deps, user_subject(caller), f"user-{kind}")
    within_quota(deps, application_subject(caller.application_id), kind)
    return caller


def may_change(caller: Caller, message: Message) -> None:
    """Only its author may change a message (edit, delete); the application's backend, any."""
    if caller.user is not None and (message.author is None or message.author.id != caller.user.id):
        raise NotAuthor("only the message's author may change it")


def users_key(key: RequestKey | None, caller: Caller) -> RequestKey | None:
    """A user's Idempotency-Key is theirs alone: records are kept per application, and another
    user's request with the same key is another key (another create id, so neither its record
    nor MySQL's fallback by create id ever answers the first user's request again)."""
    if key is None or caller.user is None:
        return key
    return dataclasses.replace(key, key=f"{key.key}\nuser:{caller.user.id}")


def address_subject(client: str) -> str:
    return f"address:{client}"


def application_subject(app_id: int) -> str:
    return f"application:{app_id}"


def user_subject(caller: Caller) -> str:
    assert caller.user is not None
    return f"user:{caller.application_id}:{caller.user.id}"


def within_quota(deps: Deps, subject: str, kind: str) -> None:
    if deps.limits is None:
        return
    decision = deps.limits.take(subject, kind)
    if not decision.allowed:
        quota = decision.quota
        raise RateLimited(
            f"the quota of {quota.requests} {kind} in {quota.window_seconds} s is used up; "
            f"retry after {decision.reset_seconds} s",
            kind,
            quota.requests,
            quota.window_seconds,
            decision.reset_seconds,
        )
