"""What changed in a chat, as it is announced to whoever follows it (push, webhooks)."""

from dataclasses import dataclass
from typing import Any

from .models import Clash, Message


@dataclass(frozen=True)
class ChatChanged:
    """A chat's feed reached `position`: every change up to it is committed in MySQL, and the feed
    (`GET .../chats/{number}/changes?since=`) answers what it was. An announcement is a hint to
    read the feed, never the truth: one may be lost, repeated or arrive out of order."""

    application_id: int
    chat_number: int
    position: int
    # The chat's position before this commit: its changes are those in (since, position], which
    # a push may carry in its frame (None: not known, the follower reads the feed).
    since: int | None = None

    def merged(self, later: "ChatChanged") -> "ChatChanged":
        """This chat's changes and a later commit's, as one: the range spans both where they
        follow on (later.since <= position), else only the later commit's is known."""
        first, last = sorted((self, later), key=lambda c: c.position)
        since = last.since
        if first.since is not None and since is not None and since <= first.position:
            since = min(first.since, since)
        return ChatChanged(self.application_id, self.chat_number, last.position, since)


@dataclass(frozen=True)
class Change:
    """A message at its latest change in its chat's feed: the feed is compacted, so a message
    shows once, at the position of its latest change."""

    position: int
    message: Message

    @property
    def kind(self) -> str:
        if self.message.deleted:
            return "deleted"
        return "edited" if self.message.edited_at_ms is not None else "created"

    def to_json(self) -> dict[str, Any]:
        return {"position": self.position, "kind": self.kind, "message": self.message.to_json()}


@dataclass(frozen=True)
class Feed:
    """A page of a chat's feed after a position, and the position the chat's feed has reached."""

    changes: list[Change]
    last: int


@dataclass(frozen=True)
class Written:
    """What the writer's persist did: the clashes it recorded, and where each chat's change feed
    now ends (for the chats whose feed moved)."""

    clashes: list[Clash]
    changes: list[ChatChanged]
