"""The writer's bulk persist against real MariaDB: chat ids are read first, missing chats inserted."""
from chalicelib import settings, wiring
from chalicelib.db import Database
from chalicelib.models import NewChat, NewMessage


def application_id(deps, application) -> int:
    return deps.db.application(application["token"]).id


def stored(deps, app_id: int) -> list:
    return [(c.number, [(m.number, m.body) for m in deps.db.messages(app_id, c.number, 0, 10)])
            for c in deps.db.chats(app_id, 0, 10)]


def test_a_batch_writes_messages_of_existing_and_missing_chats(deps, application):
    app_id = application_id(deps, application)
    deps.db.persist([NewChat(app_id, 1)], [])
    deps.db.persist([NewChat(app_id, 3)], [NewMessage(app_id, 1, 1, "in an old chat"),
                                           NewMessage(app_id, 2, 1, "chat not written yet")])
    assert stored(deps, app_id) == [(1, [(1, "in an old chat")]), (2, [(1, "chat not written yet")]), (3, [])]


class ChatCommittedMeanwhile(Database):
    """After this writer's first read of chat ids, another writer commits one of the missing chats."""

    def __init__(self, connect, other_writer):
        super().__init__(connect)
        self._other_writer = other_writer

    def _chat_ids(self, cur, keys, locking=False):
        found = Database._chat_ids(cur, keys, locking)
        if self._other_writer:
            self._other_writer()
            self._other_writer = None
        return found


def test_a_chat_another_writer_committed_meanwhile_is_found(deps, application):
    app_id = application_id(deps, application)
    connect = wiring.mysql_connect(settings.get())
    db = ChatCommittedMeanwhile(connect, lambda: Database(connect).persist([NewChat(app_id, 7)], []))
    db.persist([], [NewMessage(app_id, 7, 1, "raced")])
    assert stored(deps, app_id) == [(7, [(1, "raced")])]
