"""Numbering's rules that outlive a cache: how long a request may hold a number, and floors."""

from dataclasses import dataclass, field
from typing import NamedTuple

from .models import ChatKey

# Beyond a request's timeout: the clocks of Lambda and Redis, and the time to answer. A number
# reserved by a request is queued within its timeout plus this, or never (the send's deadline);
# numbering reopens after a cache loss no sooner; an in-flight key claim lives as long.
REQUEST_MARGIN_SECONDS = 2

RECOVERING = "numbering is recovering after a cache restart or failover; retry shortly"


def request_life_seconds(timeout_seconds: int) -> int:
    """The longest a request that reserved a number may still run, from when it started."""
    return timeout_seconds + REQUEST_MARGIN_SECONDS


class EpochState(NamedTuple):
    """Whether numbering is open on this Redis, and the seconds it has been open, or since numbers
    it handed out may have been lost."""

    is_open: bool
    seconds: int


@dataclass
class Floors:
    """The highest number each counter handed out, as the dead-lettered creations tell it: a new
    epoch's counters start above them. With them, each of those creations' numbers by its create
    id, where a keyed retry finds a first attempt MySQL never got."""

    chats: dict[int, int] = field(default_factory=dict)  # application id -> highest chat number
    messages: dict[ChatKey, int] = field(default_factory=dict)  # chat -> highest message number
    # (application id, chat number or 0 for a chat's creation, create id) -> its number
    creates: dict[tuple[int, int, str], int] = field(default_factory=dict)

    def raise_chat(self, application_id: int, number: int) -> None:
        self.chats[application_id] = max(self.chats.get(application_id, 0), number)

    def raise_message(self, chat: ChatKey, number: int) -> None:
        self.messages[chat] = max(self.messages.get(chat, 0), number)
