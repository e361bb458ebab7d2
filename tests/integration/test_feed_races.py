"""The change feed against real MariaDB, with writers, edits and deletes racing on one chat."""

import threading
import time

from chalicelib.adapters.mysql.batch_store import BatchStore
from chalicelib.adapters.mysql.db import Database
from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.domain.models import Message, NewChat, NewMessage
from chalicelib.wiring import clients, settings


def application_id(deps, application) -> int:
    return deps.db.application(application["token"]).id


def connection() -> MySQL:
    return MySQL(clients.mysql_connect(settings.get(), several_statements=True))  # as the writer's


def run_all(*targets) -> list[Exception]:
    errors: list[Exception] = []

    def guarded(target):
        try:
            target()
        except Exception as exc:  # collected: the test says what failed
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def feed_positions(db, app_id: int, chat: int) -> dict[int, int]:
    """{message number: its position} as the whole feed answers now."""
    found = db.changes(app_id, chat, 0, 100_000)
    return {c.message.number: c.position for c in found.changes}


def race_writers(batches_of) -> list[Exception]:
    """Two writers, each on a connection of its own, starting together: writer `w` (0 or 1)
    persists the batches of `batches_of(w)` in turn; the errors either met."""
    start = threading.Barrier(2)

    def writer(w: int):
        store = BatchStore(connection())
        start.wait()
        for batch in batches_of(w):
            assert store.persist([], batch).clashes == []

    return run_all(lambda: writer(0), lambda: writer(1))


def test_two_writers_on_one_chat_give_every_message_one_position_without_deadlock(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([NewChat(app_id, 1)], [])

    def batches_of(w: int) -> list[list[NewMessage]]:
        firsts = [1 + 5 * w + 10 * b for b in range(20)]
        return [[NewMessage(app_id, 1, n + i, f"m{n + i}") for i in range(5)] for n in firsts]

    assert race_writers(batches_of) == []
    positions = feed_positions(deps.db, app_id, 1)
    assert len(positions) == 200 and sorted(positions.values()) == list(range(1, 201))
    assert deps.db.chat(app_id, 1).last_change == 200


def test_a_delete_racing_the_writers_insert_ends_deleted(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([NewChat(app_id, 2)], [])
    numbers = range(1, 41)
    start = threading.Barrier(2)

    def write():
        store = BatchStore(connection())
        start.wait()
        for n in numbers:
            store.persist([], [NewMessage(app_id, 2, n, f"secret {n}", created_at_ms=1_000 + n)])

    def delete():
        db = Database(connection())
        start.wait()
        for n in numbers:
            db.delete_message(app_id, 2, Message(n, "", 1_000 + n), 5_000 + n)

    assert run_all(write, delete) == []
    stored = deps.db.messages(app_id, 2, 0, 100)
    assert [m.number for m in stored] == list(numbers)
    assert all(m.deleted and m.body == "" for m in stored), [m for m in stored if not m.deleted]
    assert all(m.created_at_ms == 1_000 + m.number for m in stored)
    positions = feed_positions(deps.db, app_id, 2)
    assert sorted(positions) == list(numbers)
    assert deps.db.chat(app_id, 2).last_change >= max(positions.values())


def test_a_client_following_the_feed_under_concurrent_writes_misses_no_change(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([NewChat(app_id, 3)], [])
    done = threading.Event()
    seen: dict[int, int] = {}  # number -> the latest position the client read
    read_positions: list[int] = []

    def write(first: int):
        store, db = BatchStore(connection()), Database(connection())
        for n in range(first, first + 60, 2):
            store.persist([], [NewMessage(app_id, 3, n, f"m{n}")])
            if n % 3 == 0:
                db.edit_message(app_id, 3, Message(n - 2 if n > 2 else n, f"edited {n}", edited_at_ms=n))

    def follow():
        db, since = Database(connection()), 0
        while True:
            last_round = done.is_set()
            page = db.changes(app_id, 3, since, 7)
            for c in page.changes:
                read_positions.append(c.position)
                seen[c.message.number] = c.position
            since = page.changes[-1].position if page.changes else since
            if last_round and not page.changes:
                return
            time.sleep(0.001)

    follower = threading.Thread(target=follow)
    follower.start()
    assert run_all(lambda: write(1), lambda: write(2)) == []
    done.set()
    follower.join()
    assert read_positions == sorted(set(read_positions))  # in order, none twice
    assert seen == feed_positions(deps.db, app_id, 3)  # every message at its latest change


def test_writers_on_the_same_chats_created_out_of_order_give_each_message_one_position(deps, application):
    app_id = application_id(deps, application)
    for chat in (3, 1, 2):  # chat ids in another order than the chats' numbers
        deps.batches.persist([NewChat(app_id, chat)], [])

    def batches_of(w: int) -> list[list[NewMessage]]:
        firsts = [1 + 2 * w + 4 * b for b in range(10)]
        return [[NewMessage(app_id, c, n + i, "m") for c in (3, 1, 2) for i in range(2)] for n in firsts]

    assert race_writers(batches_of) == []
    for chat in (1, 2, 3):
        positions = feed_positions(deps.db, app_id, chat)
        assert sorted(positions) == list(range(1, 41)) and sorted(positions.values()) == list(range(1, 41))


def test_a_chat_whose_highest_number_is_not_known_takes_it_from_its_rows(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([], [NewMessage(app_id, 1, n, f"m{n}") for n in (1, 2, 3)])
    mysql = connection()
    with mysql.cursor() as cur:  # as a chat that had rows before the number was kept
        cur.execute("UPDATE chats SET last_number = NULL WHERE application_id = %s AND number = 1", (app_id,))
    written = deps.batches.persist([], [NewMessage(app_id, 1, 2, "again"), NewMessage(app_id, 1, 4, "m4")])
    assert [c.position for c in written.changes] == [4]
    assert feed_positions(deps.db, app_id, 1) == {1: 1, 2: 2, 3: 3, 4: 4}
    assert mysql.one("SELECT last_number FROM chats WHERE application_id = %s AND number = 1", (app_id,)) == (
        4,
    )


def test_a_row_an_edit_wrote_above_the_writer_is_found_by_the_creation(deps, application):
    app_id = application_id(deps, application)
    deps.batches.persist([], [NewMessage(app_id, 1, 1, "m1")])
    db = Database(connection())
    assert db.edit_message(app_id, 1, Message(7, "edited first", edited_at_ms=5)) is not None
    written = deps.batches.persist([], [NewMessage(app_id, 1, 7, "created late")])
    assert written.changes == []  # the edit's row keeps its body and its position
    assert [
        (c.message.number, c.message.body, c.position) for c in deps.db.changes(app_id, 1, 0, 10).changes
    ] == [
        (1, "m1", 1),
        (7, "edited first", 2),
    ]
