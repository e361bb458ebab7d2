"""Plain records passed between the layers; `to_json` gives the public shape (no internal ids)."""

import json
from dataclasses import dataclass, field
from typing import Any

from .times import rfc3339

# A Lambda answer holds at most 6 MB and its body is JSON inside JSON, so a list page or a search
# answer stops before this many bytes of message bodies, each counted as it is escaped (a quote
# costs two bytes, a CJK character six): written out twice, the answer still fits.
MAX_ANSWER_BYTES = 5 * 2**19  # 2.5 MiB


def answer_size(body: str) -> int:
    """What a body costs an answer: its length as escaped JSON."""
    return len(json.dumps(body))


# (application id, chat number) and (application id, chat number, message number).
ChatKey = tuple[int, int]
MessageKey = tuple[int, int, int]


@dataclass(frozen=True)
class IdleCounter:
    """A numbering counter no request used for a while, as the sweep read it (adapters/redis/sweep.py)."""

    application_id: int
    chat_number: int | None  # None: the application's chat counter
    highest: int  # the highest number it handed out, or its floor
    state: str  # what it held when read: it is dropped only if it still holds that


# The longest author id and name a message keeps (MySQL's VARCHAR(255) of each).
MAX_AUTHOR_CHARS = 255


@dataclass(frozen=True)
class Author:
    """Who wrote a message: a user's id and display name, as its user token said when it wrote
    (a message sent with the application token has none)."""

    id: str
    name: str

    def fits(self) -> bool:
        """Whether MySQL's columns hold it (the user token that names it should not be minted)."""
        return 0 < len(self.id) <= MAX_AUTHOR_CHARS and 0 < len(self.name) <= MAX_AUTHOR_CHARS

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class Application:
    id: int
    token: str  # as the caller sent or was given it: stores keep only its hash (domain/tokens.py)
    name: str
    chats_count: int
    # Counts the application's rotations: what a per-application signing key can be derived
    # from, so that it rotates with the token.
    token_version: int = 1
    previous: bool = False  # found by the token a rotation replaced, in its grace period

    def to_json(self) -> dict[str, Any]:
        return {"token": self.token, "name": self.name, "chats_count": self.chats_count}


@dataclass(frozen=True)
class Chat:
    number: int
    messages_count: int
    # Epoch milliseconds: when the API accepted the chat (None while it is still queued), and
    # when it accepted the chat's newest stored message (None before any).
    created_at_ms: int | None = None
    last_message_at_ms: int | None = None
    last_change: int = 0  # the position its change feed has reached (0: none yet)
    unread_count: int | None = None  # for a user: messages after their read position
    deleted_count: int = 0  # its messages deleted so far (not answered: what unread counts need)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "messages_count": self.messages_count,
            "created_at": rfc3339(self.created_at_ms),
            "last_message_at": rfc3339(self.last_message_at_ms),
            "last_change": self.last_change,
        }
        if self.unread_count is not None:
            out["unread_count"] = self.unread_count
        return out


@dataclass(frozen=True)
class Message:
    """A message as the API answers it. Times are epoch milliseconds: `created_at_ms` is when
    the API accepted it (the same in the queue, Redis, MySQL and the index). A deleted message
    is a tombstone: its number, times and author stay, its body is gone (empty here, null in
    its answer)."""

    number: int
    body: str
    created_at_ms: int | None = None
    edited_at_ms: int | None = None
    author: Author | None = None
    highlight: list[str] | None = None
    deleted_at_ms: int | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at_ms is not None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "body": None if self.deleted else self.body,
            "created_at": rfc3339(self.created_at_ms),
            "edited_at": rfc3339(self.edited_at_ms),
            "deleted_at": rfc3339(self.deleted_at_ms),
            "author": None if self.author is None else self.author.to_json(),
        }
        if self.highlight is not None:
            out["highlight"] = self.highlight
        return out


@dataclass(frozen=True)
class CreatedApplication:
    """An application as its keyed create left it: its token sealed with the key (request_keys)."""

    id: int
    name: str
    sealed_token: str | None


@dataclass(frozen=True)
class CreatedMessage:
    """A message as the create that stored it asked: what a retry of that create is compared with."""

    chat_number: int
    number: int
    body: str
    deleted: bool = False  # deleted since: its body is gone and cannot be compared


@dataclass(frozen=True)
class SearchAfter:
    """Where a page of search results ends: its last message's score and number (results are
    ordered by score, then number, both descending)."""

    score: float
    number: int


@dataclass(frozen=True)
class SearchPage:
    messages: list[Message]
    next: SearchAfter | None  # where the next page starts; None on the last page


@dataclass(frozen=True)
class NewChat:
    """A chat creation taken from the queue."""

    application_id: int
    number: int
    create_id: str | None = None
    created_at_ms: int | None = None  # None: queued before chats carried it


@dataclass(frozen=True)
class NewMessage:
    """A message creation taken from the queue, or a message as MySQL holds it to be indexed;
    `version` orders it against edits. None times: queued before messages carried them."""

    application_id: int
    chat_number: int
    number: int
    body: str
    version: int = 1
    create_id: str | None = None
    created_at_ms: int | None = None
    author: Author | None = None
    edited_at_ms: int | None = None
    deleted_at_ms: int | None = None  # a tombstone's, whose body is empty

    def message(self) -> Message:
        return Message(
            self.number,
            self.body,
            self.created_at_ms,
            self.edited_at_ms,
            self.author,
            deleted_at_ms=self.deleted_at_ms,
        )

    @property
    def chat_key(self) -> ChatKey:
        return (self.application_id, self.chat_number)

    @property
    def key(self) -> MessageKey:
        return (self.application_id, self.chat_number, self.number)


@dataclass(frozen=True)
class Clash:
    """A create whose number was already stored for another create: both are kept."""

    kind: str  # "chat" or "message"
    application_id: int
    chat_number: int
    number: int
    create_id: str
    stored_create_id: str
    body: str | None  # the clashing create's body (a message's); the stored row keeps its own


def clash(create: "NewChat | NewMessage", stored_create_id: str | None) -> Clash | None:
    """The clash rule: a create clashes when its number is stored for another create, that is,
    both carry create ids and they differ (a row stored without one is adopted, not a clash)."""
    c, ours, stored = create, create.create_id, stored_create_id
    if not ours or stored is None or stored == ours:
        return None
    if isinstance(c, NewChat):
        return Clash("chat", c.application_id, c.number, 0, ours, stored, None)
    return Clash("message", c.application_id, c.chat_number, c.number, ours, stored, c.body)


@dataclass(frozen=True)
class Login:
    """A database login the schema function grants; its password never shows in a repr or log."""

    user: str
    password: str = field(repr=False)
