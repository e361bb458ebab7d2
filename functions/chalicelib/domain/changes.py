"""What changed in a chat, as it is announced to whoever follows it (push, webhooks)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatChanged:
    """A chat's feed reached `position`: every change up to it is committed in MySQL, and the feed
    (`GET .../chats/{number}/changes?since=`) answers what it was. An announcement is a hint to
    read the feed, never the truth: one may be lost, repeated or arrive out of order."""

    application_id: int
    chat_number: int
    position: int
