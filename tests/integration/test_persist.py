"""The writer's bulk persist against real MariaDB: chats locked by key, missing chats inserted first."""

import threading

import pytest

from chalicelib.adapters.mysql.batch_store import BatchStore
from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.search import search_index
from chalicelib.domain import events
from chalicelib.domain.errors import Refused, Unavailable
from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.usecases import writer
from chalicelib.wiring import clients, settings


def application_id(deps, application) -> int:
    return deps.db.application(application["token"]).id


def stored(deps, app_id: int) -> list:
    return [
        (c.number, [(m.number, m.body) for m in deps.db.messages(app_id, c.number, 0, 100)])
        for c in deps.db.chats(app_id, 0, 100)
    ]


def test_a_batch_writes_messages_of_existing_and_missing_chats(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([NewChat(app_id, 1)], [])
    deps.batches.persist(
        [NewChat(app_id, 3)],
        [NewMessage(app_id, 1, 1, "in an old chat"), NewMessage(app_id, 2, 1, "chat not written yet")],
    )
    assert stored(deps, app_id) == [(1, [(1, "in an old chat")]), (2, [(1, "chat not written yet")]), (3, [])]


class ChatCommittedMeanwhile:
    """MySQL on which, right after this writer's read of the chats it is about to insert (outside
    the messages' transaction, whose lock read found one missing), another writer commits it."""

    def __init__(self, mysql, other_writer):
        self._mysql = mysql
        self._other_writer = other_writer
        self.raced = False

    def retrying(self, work, attempts=3, transaction=True, begun_by_work=False):
        return self._mysql.retrying(
            lambda cur: work(_Watched(cur, self)), attempts, transaction, begun_by_work
        )

    def after_chat_read(self) -> None:
        if not self.raced:
            self.raced = True
            self._other_writer()


class _Watched:
    """A cursor that calls `after_chat_read` once the rows of a plain read of chats are fetched."""

    def __init__(self, cur, mysql: ChatCommittedMeanwhile):
        self._cur, self._mysql, self._reading_chats = cur, mysql, False

    def execute(self, sql, *args):
        self._reading_chats = sql.startswith("SELECT") and " FROM chats " in sql and "FOR UPDATE" not in sql
        return self._cur.execute(sql, *args)

    def fetchall(self):
        rows = self._cur.fetchall()
        if self._reading_chats:
            self._mysql.after_chat_read()
        return rows

    def __getattr__(self, name):
        return getattr(self._cur, name)


def test_a_chat_another_writer_committed_meanwhile_is_found(deps, application):
    app_id = application_id(deps, application)
    connect = clients.mysql_connect(settings.get(), several_statements=True)
    mysql = MySQL(connect)
    racing = ChatCommittedMeanwhile(
        mysql, lambda: BatchStore(MySQL(connect)).persist([NewChat(app_id, 7)], [])
    )
    BatchStore(racing).persist([], [NewMessage(app_id, 7, 1, "raced")])
    assert racing.raced
    assert stored(deps, app_id) == [(7, [(1, "raced")])]


def test_writers_racing_to_create_the_same_chats_all_land(deps, application):
    app_id = application_id(deps, application)
    connect = clients.mysql_connect(settings.get(), several_statements=True)
    rounds, start, errors = 20, threading.Barrier(2), []

    def writer_thread(first_number: int) -> None:
        db = BatchStore(MySQL(connect))
        for chat in range(10, 10 + rounds):
            start.wait()
            try:
                db.persist(
                    [],
                    [
                        NewMessage(app_id, chat, first_number, "a"),
                        NewMessage(app_id, chat, first_number + 1, "b"),
                    ],
                )
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=writer_thread, args=(n,)) for n in (1, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert stored(deps, app_id) == [
        (chat, [(1, "a"), (2, "b"), (3, "a"), (4, "b")]) for chat in range(10, 10 + rounds)
    ]


GHOST = 2**32 - 1  # no such application: MySQL's foreign key refuses its chat


@pytest.fixture
def ghost_documents(deps):
    """Removes what a test indexed for the ghost application, whether it passed or not."""
    yield
    es = deps.elasticsearch.options(ignore_status=404)
    for number in (1, 2):
        es.delete(
            index=deps.settings.messages_index,
            id=f"{GHOST}:1:{number}",
            routing=search_index.routing(GHOST, 1),
        )


def test_a_message_mysql_refuses_for_good_is_taken_out_of_the_index_an_edit_is_not(deps, ghost_documents):
    ghost = GHOST
    es, index = deps.elasticsearch, deps.settings.messages_index
    edited = NewMessage(ghost, 1, 2, "edited", version=2)  # an edit's document, however it came
    assert deps.indexer.index([edited]) == {}
    failed = writer.persist_records(
        deps,
        [
            ("a", events.message_created(ghost, 1, 1, "never stored")),
            ("b", events.message_created(ghost, 1, 2, "late creation")),
        ],
    )
    assert set(failed) == {"a", "b"}
    es.indices.refresh(index=index)
    chat = search_index.routing(ghost, 1)
    assert not es.exists(index=index, id=f"{ghost}:1:1", routing=chat)
    assert es.get(index=index, id=f"{ghost}:1:2", routing=chat)["_source"]["body"] == "edited"


def test_a_batch_larger_than_one_statement_is_written_whole_each_message_one_position(deps, application):
    app_id = application_id(deps, application)
    bodies = [f"{i:03d}" + "é'\\" * 15_000 for i in range(20)]  # 60 KB each, 1.8 MB escaped: two INSERTs
    written = deps.batches.persist([], [NewMessage(app_id, 1, i + 1, body) for i, body in enumerate(bodies)])
    assert [(c.chat_number, c.position) for c in written.changes] == [(1, 20)]
    assert stored(deps, app_id) == [(1, [(i + 1, body) for i, body in enumerate(bodies)])]
    assert [c.position for c in deps.db.changes(app_id, 1, 0, 100).changes] == list(range(1, 21))


def chat_is_free(app_id: int, chat: int) -> bool:
    """Whether another connection locks the chat's row at once: no transaction holds it."""
    other = MySQL(clients.mysql_connect(settings.get()))
    lock = "SELECT id FROM chats WHERE application_id = %s AND number = %s FOR UPDATE NOWAIT"
    try:
        other.retrying(lambda cur: cur.execute(lock, (app_id, chat)), attempts=1)
    except Unavailable:
        return False
    return True


def test_the_writers_transaction_ends_committed_or_rolled_back_whatever_the_batch(deps, application):
    app_id = application_id(deps, application)
    store = BatchStore(MySQL(clients.mysql_connect(settings.get(), several_statements=True)))
    store.persist([NewChat(app_id, 1)], [NewMessage(app_id, 1, 1, "new")])  # the chat first, then again
    assert chat_is_free(app_id, 1)
    store.persist([], [NewMessage(app_id, 1, 1, "new"), NewMessage(app_id, 1, 2, "next")])  # a replay too
    assert chat_is_free(app_id, 1)
    store.persist([NewChat(app_id, 1)], [])  # no message: the lock read alone
    assert chat_is_free(app_id, 1)
    too_long = "x" * 70_000  # more than the TEXT column holds: refused in the transaction's last query
    with pytest.raises(Refused):
        store.persist([], [NewMessage(app_id, 1, 3, "kept back"), NewMessage(app_id, 1, 4, too_long)])
    assert chat_is_free(app_id, 1)
    assert stored(deps, app_id) == [(1, [(1, "new"), (2, "next")])]
    assert [c.position for c in deps.db.changes(app_id, 1, 0, 100).changes] == [1, 2]
    written = store.persist([], [NewMessage(app_id, 1, 3, "kept back")])
    assert [(c.chat_number, c.position) for c in written.changes] == [(1, 3)]
