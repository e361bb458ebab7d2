"""Read state: how far a user has read a chat, and how many of its messages they have not.

Message numbers are handed out in order, one after another, per chat, so the messages after a
reader's position are (highest number handed out) - position, less those deleted since: each
deletion of a message after a reader's position counts one for that reader (`deleted_after`),
in the deletion's own transaction, under the chat row's lock; for a reader who never marked the
chat, the chat's own count of deletions (`chats.deleted_count`) stands in. Nothing is counted at
read time.
A number a failed create took and never used (a gap, after a 503) counts as unread.
"""

from dataclasses import dataclass
from typing import Any

from .models import Author
from .times import rfc3339


@dataclass(frozen=True)
class ReadPosition:
    """A user's read position in a chat: the highest message number they have read."""

    chat_number: int
    user: Author
    up_to: int
    deleted_after: int = 0  # messages after `up_to` deleted since it was marked
    read_at_ms: int | None = None

    def unread(self, highest: int) -> int:
        return max(0, highest - self.up_to - self.deleted_after)

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user.to_json(), "up_to": self.up_to, "read_at": rfc3339(self.read_at_ms)}
