"""The writer's batch logic against the fakes of MySQL, Elasticsearch and Redis (tests/fakes.py)."""

from chalicelib.domain import events
from chalicelib.domain.models import Message, NewMessage
from chalicelib.usecases import writer
from tests import fakes


def make_deps(applications: int = 1, down: bool = False, refuse=()) -> fakes.FakeDeps:
    """The fakes, with applications 1..`applications` in MySQL: any other id is refused, as a
    vanished application's foreign key is."""
    deps = fakes.deps()
    for i in range(applications):
        deps.db.insert_application(f"token-{i}", "app")
    deps.batches.tables.down = down
    deps.indexer.refuse = set(refuse)
    return deps


def rows(deps: fakes.FakeDeps) -> tuple:
    tables = deps.batches.tables
    return set(tables.chats), tables.messages


def records(*bodies):
    return [(f"id-{i}", body) for i, body in enumerate(bodies)]


def test_a_batch_lands_in_both_stores_and_its_pending_bodies_are_dropped():
    deps = make_deps()
    failed = writer.persist_records(
        deps, records(events.chat_created(1, 1), events.message_created(1, 1, 1, "hi"))
    )
    assert failed == {}
    assert rows(deps)[0] == {(1, 1)}
    assert deps.search_index.docs[(1, 1, 1)].body == "hi"
    assert deps.numbering.changed_chats == {(1, 1)}


def test_a_message_whose_chat_event_has_not_arrived_still_lands_with_its_chat():
    deps = make_deps()
    assert writer.persist_records(deps, records(events.message_created(1, 4, 1, "early"))) == {}
    chats, messages = rows(deps)
    assert (1, 4) in chats and (1, 4, 1) in messages


def test_an_event_for_a_vanished_application_fails_alone():
    deps = make_deps(applications=1)  # application 2 is gone
    failed = writer.persist_records(
        deps,
        records(
            events.message_created(1, 1, 1, "ok"),
            events.message_created(2, 1, 1, "orphan"),
            events.chat_created(1, 2),
        ),
    )
    assert list(failed) == ["id-1"]
    chats, messages = rows(deps)
    assert set(messages) == {(1, 1, 1)} and (1, 2) in chats


def test_a_malformed_record_fails_alone():
    deps = make_deps()
    failed = writer.persist_records(deps, records("{not json", events.chat_created(1, 1)))
    assert list(failed) == ["id-0"]
    assert rows(deps)[0] == {(1, 1)}


def test_a_database_outage_fails_every_creation_for_redelivery():
    deps = make_deps(down=True)
    deps.reservations.reserve_message_number(1, 1, "x", seed=lambda: 0)  # as the API did
    batch = records(events.chat_created(1, 1), events.message_created(1, 1, 1, "x"))
    assert set(writer.persist_records(deps, batch)) == {"id-0", "id-1"}
    assert deps.numbering.pending == {(1, 1, 1): Message(1, "x")}  # still readable from Redis meanwhile
    deps.batches.tables.down = False
    assert writer.persist_records(deps, batch) == {}
    assert (1, 1, 1) in rows(deps)[1] and deps.search_index.docs[(1, 1, 1)].body == "x"
    assert deps.numbering.pending == {}


def test_a_message_mysql_refuses_for_good_leaves_the_index_but_an_edit_stays():
    deps = make_deps(applications=1)
    search = deps.search_index
    search.docs[(2, 1, 2)] = NewMessage(2, 1, 2, "edited", version=2)
    failed = writer.persist_records(
        deps,
        records(
            events.message_created(1, 1, 1, "kept"),
            events.message_created(2, 1, 1, "orphan"),
            events.message_created(2, 1, 2, "late"),
        ),
    )
    assert set(failed) == {"id-1", "id-2"}
    assert set(search.docs) == {(1, 1, 1), (2, 1, 2)} and search.docs[(2, 1, 2)].body == "edited"


def test_a_message_search_refuses_is_redelivered_while_the_rest_succeeds():
    deps = make_deps(refuse={(1, 1, 2)})
    failed = writer.persist_records(
        deps, records(events.message_created(1, 1, 1, "a"), events.message_created(1, 1, 2, "b"))
    )
    assert list(failed) == ["id-1"]
    assert (1, 1, 2) in rows(deps)[1]  # MySQL has it; the redelivery only re-indexes


def test_an_edit_is_indexed_at_the_version_mysql_holds():
    deps = make_deps()
    deps.db.edit_message(1, 1, Message(1, "edited"))  # the edit got to MySQL before the creation
    assert (
        writer.persist_records(
            deps, records(events.message_edited(1, 1, 1), events.message_created(1, 1, 1, "original"))
        )
        == {}
    )
    assert deps.search_index.docs[(1, 1, 1)].body == "edited"
