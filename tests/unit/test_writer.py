"""The writer's batch logic, with small in-memory stand-ins for MySQL, Elasticsearch and Redis."""

from chalicelib import events, writer
from chalicelib.errors import InvalidEvent, Unavailable
from chalicelib.models import NewMessage
from chalicelib.service import Deps


class FakeDb:
    def __init__(self, gone_applications=(), down=False):
        self.gone, self.down = set(gone_applications), down
        self.chats, self.messages = set(), {}

    def persist(self, chats, messages):
        if self.down:
            raise Unavailable("database down")
        if any(e.application_id in self.gone for e in [*chats, *messages]):
            raise InvalidEvent("application is gone")
        self.chats |= {(c.application_id, c.number) for c in chats} | {m.chat_key for m in messages}
        for m in messages:
            self.messages.setdefault((m.application_id, m.chat_number, m.number), m)
        return []

    def current_messages(self, keys):
        return [self.messages[k] for k in keys if k in self.messages]


class FakeSearch:
    def __init__(self, refuse=()):
        self.refuse, self.docs = set(refuse), {}

    def index(self, messages):
        failed = {}
        for m in messages:
            key = (m.application_id, m.chat_number, m.number)
            if key in self.refuse:
                failed[key] = "refused"
            elif m.version >= self.docs.get(key, NewMessage(0, 0, 0, "", 0)).version:
                self.docs[key] = m
        return failed

    def unindex_creations(self, keys):
        for key in keys:
            if key in self.docs and self.docs[key].version == 1:
                del self.docs[key]
        return {}


class FakeNumbers:
    def __init__(self):
        self.forgotten, self.changed_chats = [], set()

    def record_persisted(self, chats, messages):
        self.forgotten += messages
        self.changed_chats |= {m.chat_key for m in messages}


def make_deps(db=None, search=None):
    return Deps(
        db=db or FakeDb(),
        numbers=FakeNumbers(),
        queue=None,
        search=search or FakeSearch(),
        request_timeout_seconds=10,
    )


def records(*bodies):
    return [(f"id-{i}", body) for i, body in enumerate(bodies)]


def test_a_batch_lands_in_both_stores_and_its_pending_bodies_are_dropped():
    deps = make_deps()
    failed = writer.persist_records(
        deps, records(events.chat_created(1, 1), events.message_created(1, 1, 1, "hi"))
    )
    assert failed == {}
    assert deps.db.chats == {(1, 1)}
    assert deps.search.docs[(1, 1, 1)].body == "hi"
    assert [m.number for m in deps.numbers.forgotten] == [1]
    assert deps.numbers.changed_chats == {(1, 1)}


def test_a_message_whose_chat_event_has_not_arrived_still_lands_with_its_chat():
    deps = make_deps()
    assert writer.persist_records(deps, records(events.message_created(1, 4, 1, "early"))) == {}
    assert (1, 4) in deps.db.chats and (1, 4, 1) in deps.db.messages


def test_an_event_for_a_vanished_application_fails_alone():
    deps = make_deps(db=FakeDb(gone_applications={2}))
    failed = writer.persist_records(
        deps,
        records(
            events.message_created(1, 1, 1, "ok"),
            events.message_created(2, 1, 1, "orphan"),
            events.chat_created(1, 2),
        ),
    )
    assert list(failed) == ["id-1"]
    assert set(deps.db.messages) == {(1, 1, 1)} and (1, 2) in deps.db.chats


def test_a_malformed_record_fails_alone():
    deps = make_deps()
    failed = writer.persist_records(deps, records("{not json", events.chat_created(1, 1)))
    assert list(failed) == ["id-0"]
    assert deps.db.chats == {(1, 1)}


def test_a_database_outage_fails_every_creation_for_redelivery():
    deps = make_deps(db=FakeDb(down=True))
    batch = records(events.chat_created(1, 1), events.message_created(1, 1, 1, "x"))
    assert set(writer.persist_records(deps, batch)) == {"id-0", "id-1"}
    assert deps.numbers.forgotten == []  # the body stays readable from Redis meanwhile
    deps.db.down = False
    assert writer.persist_records(deps, batch) == {}
    assert (1, 1, 1) in deps.db.messages and deps.search.docs[(1, 1, 1)].body == "x"


def test_a_message_mysql_refuses_for_good_leaves_the_index_but_an_edit_stays():
    search = FakeSearch()
    search.docs[(2, 1, 2)] = NewMessage(2, 1, 2, "edited", version=2)
    deps = make_deps(db=FakeDb(gone_applications={2}), search=search)
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
    deps = make_deps(search=FakeSearch(refuse={(1, 1, 2)}))
    failed = writer.persist_records(
        deps, records(events.message_created(1, 1, 1, "a"), events.message_created(1, 1, 2, "b"))
    )
    assert list(failed) == ["id-1"]
    assert (1, 1, 2) in deps.db.messages  # MySQL has it; the redelivery only re-indexes


def test_an_edit_is_indexed_at_the_version_mysql_holds():
    db = FakeDb()
    db.messages[(1, 1, 1)] = NewMessage(1, 1, 1, "edited", version=2)
    deps = make_deps(db=db)
    assert (
        writer.persist_records(
            deps, records(events.message_edited(1, 1, 1), events.message_created(1, 1, 1, "original"))
        )
        == {}
    )
    assert deps.search.docs[(1, 1, 1)].body == "edited"


def test_the_partial_batch_response_names_only_the_failed_records():
    deps = make_deps(db=FakeDb(gone_applications={9}))
    event = {
        "Records": [_sqs_record("a", events.chat_created(1, 1)), _sqs_record("b", events.chat_created(9, 1))]
    }
    assert writer.handle(event, deps) == ({"batchItemFailures": [{"itemIdentifier": "b"}]}, 0)


def _sqs_record(message_id, body):
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
        "awsRegion": "us-east-1",
    }
