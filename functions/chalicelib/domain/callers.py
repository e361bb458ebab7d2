"""Who a request acts for, once its credential is checked (usecases/identity.py)."""

from dataclasses import dataclass

from .models import Author


@dataclass(frozen=True)
class Caller:
    """An application's backend (the application token: `user` None, every chat, read-write) or
    one of its users (a user token: the chats and access the application gave it)."""

    application_id: int
    user: Author | None = None
    chats: frozenset[int] | None = None  # the chat numbers it may use; None: every chat
    read_only: bool = False
    expires_at: int | None = None  # a user token's expiry (Unix seconds); None: it does not expire
    key_version: int | None = None  # the token version whose key signed a user token

    @property
    def is_application(self) -> bool:
        return self.user is None

    def may_read(self, chat_number: int) -> bool:
        return self.chats is None or chat_number in self.chats

    def may_write(self, chat_number: int) -> bool:
        return not self.read_only and self.may_read(chat_number)
