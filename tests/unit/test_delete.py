"""Deleting a message with fakes: a tombstone everywhere, never resurrected, harmless twice."""

import pytest

from chalicelib.domain.changes import ChatChanged
from chalicelib.domain.errors import Gone, NotFound
from chalicelib.domain.models import Author, NewChat, NewMessage
from chalicelib.domain.request_keys import RecordLoss, RequestKey
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import reading, service
from tests import fakes


@pytest.fixture
def deps() -> fakes.FakeDeps:
    return fakes.deps()


@pytest.fixture
def token(deps: fakes.FakeDeps) -> str:
    return service.create_application(deps, "delete").token


def test_a_deleted_message_reads_as_a_tombstone_everywhere(deps, token):
    app_id = deps.tokens.application_id(token)
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "regrettable words")
    service.create_message(deps, token, 1, "kept")
    fakes.write_queued(deps)
    created = service.get_message(deps, token, 1, 1)
    deleted = service.delete_message(deps, token, 1, 1)
    assert deleted.deleted and deleted.created_at_ms == created.created_at_ms
    shown = deleted.to_json()
    assert shown["body"] is None and shown["deleted_at"] is not None and shown["number"] == 1
    assert service.get_message(deps, token, 1, 1) == deleted
    assert [m.deleted for m in service.list_messages(deps, token, 1, 0, 10)] == [True, False]
    assert deps.announcer.announced[-1] == ChatChanged(app_id, 1, 3, 2)
    [change] = [c for c in service.list_changes(deps, token, 1, 0, 10).changes if c.message.number == 1]
    assert (change.position, change.kind, change.to_json()["message"]["body"]) == (3, "deleted", None)
    fakes.write_queued(deps)  # the writer indexes the row as MySQL holds it: no body left to find
    assert service.search_messages(deps, token, 1, ["regrettable"], 10).messages == []
    assert all("regrettable" not in m.body for m in deps.batches.tables.messages.values())


def test_deleting_twice_changes_nothing_more(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "once")
    fakes.write_queued(deps)
    first = service.delete_message(deps, token, 1, 1)
    announced = len(deps.announcer.announced)
    assert service.delete_message(deps, token, 1, 1) == first
    assert len(deps.announcer.announced) == announced
    assert service.get_chat(deps, token, 1).last_change == 2


def test_a_delete_before_the_writer_stored_the_message_is_not_undone_by_it(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "still queued")
    service.delete_message(deps, token, 1, 1)
    assert deps.numbering.pending == {}  # the pending record's body is gone at once
    fakes.write_queued(deps)  # the creation reaches the writer after the delete
    found = service.get_message(deps, token, 1, 1)
    assert found.deleted and found.body == ""
    assert service.search_messages(deps, token, 1, ["queued"], 10).messages == []
    assert [c.kind for c in service.list_changes(deps, token, 1, 0, 10).changes] == ["deleted"]


def test_a_deleted_message_cannot_be_edited_and_its_number_is_never_reused(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "gone soon")
    fakes.write_queued(deps)
    service.delete_message(deps, token, 1, 1)
    with pytest.raises(Gone):
        service.edit_message(deps, token, 1, 1, "back from the dead")
    assert service.create_message(deps, token, 1, "next") == 2
    with pytest.raises(NotFound):
        service.delete_message(deps, token, 1, 3)


def test_a_retried_create_of_a_deleted_message_answers_its_number(deps, token):
    # Redis lost the key's record: MySQL answers by the create id, though the body is gone.
    app_id = deps.db.application(token).id
    k = RequestKey("lost", "digest")
    created = NewMessage(app_id, 1, 7, "retry me", create_id=k.create_id(str(app_id)))
    deps.batches.persist([NewChat(app_id, 1)], [created])
    service.delete_message(deps, token, 1, 7)
    deps.keys.loss = RecordLoss.POSSIBLE
    assert service.create_message(deps, token, 1, "retry me", k) == 7


def test_a_deletion_after_a_readers_position_leaves_one_unread_fewer(deps, token):
    service.create_chat(deps, token)
    for body in ("a", "b", "c"):
        service.create_message(deps, token, 1, body)
    fakes.write_queued(deps)
    ana = service.issue_user_token(deps, token, Grant(Author("ana", "Ana")))[0]
    assert reading.mark_read(deps, ana, 1, 1)[1] == 2
    service.delete_message(deps, token, 1, 3)
    service.delete_message(deps, token, 1, 1)  # at or before her position: nothing changes for her
    assert reading.mark_read(deps, ana, 1, 1)[1] == 1
