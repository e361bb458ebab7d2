"""Telling followers of a chat that its feed moved, after the change committed."""

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from ..domain.changes import ChatChanged
from .ports import Announcing

log = Logger(service="chat", child=True)


def announce(deps: Announcing, moved: Sequence[ChatChanged]) -> None:
    """Tells the followers of these chats that their feeds moved (after the commit): best effort,
    since a client that missed it catches up from the feed."""
    if not moved:
        return
    try:
        deps.announcer.announce(moved)
    except Exception as exc:  # the port promises not to raise; a broken adapter must not fail writes
        log.error("announcement lost", chats=len(moved), error=repr(exc))
