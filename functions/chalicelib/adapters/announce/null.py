"""An announcer that tells no one: where nothing follows the feed, clients read it themselves."""

from collections.abc import Sequence

from ...domain.changes import ChatChanged
from ...domain.models import Message


class NullAnnouncer:
    def announce(self, changes: Sequence[ChatChanged]) -> None:
        pass


class NullAcceptPush:
    def accepted(self, application_id: int, chat_number: int, message: Message) -> None:
        pass
