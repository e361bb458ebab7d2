"""An announcer that tells no one: where nothing follows the feed, clients read it themselves."""

from collections.abc import Sequence

from ...domain.changes import ChatChanged


class NullAnnouncer:
    def announce(self, changes: Sequence[ChatChanged]) -> None:
        pass
