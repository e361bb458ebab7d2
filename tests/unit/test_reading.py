"""Read state (usecases/reading.py) against the fakes: positions, unread counts, receipts."""

import pytest

from chalicelib.domain.errors import ChatNotAllowed, Forbidden, UserTokenRequired
from chalicelib.domain.models import Author, NewChat
from chalicelib.domain.user_tokens import Grant
from chalicelib.usecases import reading, service


def user(deps, token, name="ana", **grant) -> str:
    return service.issue_user_token(deps, token, Grant(Author(name, name.title()), **grant))[0]


def post(deps, token, count: int, chat: int = 1) -> None:
    for i in range(count):
        service.create_message(deps, token, chat, f"message {i}")


def test_a_user_who_read_nothing_has_every_message_unread_and_marking_counts_down(deps, token):
    ana = user(deps, token)
    post(deps, token, 5)
    assert service.get_chat(deps, ana, 1).unread_count == 5
    position, unread = reading.mark_read(deps, ana, 1, 3)
    assert (position.up_to, unread) == (3, 2)
    assert service.get_chat(deps, ana, 1).unread_count == 2
    post(deps, token, 2)  # created after the mark, by anyone
    assert service.get_chat(deps, ana, 1).unread_count == 4


def test_the_application_token_sees_no_unread_count_and_has_no_position(deps, token):
    post(deps, token, 2)
    assert service.get_chat(deps, token, 1).unread_count is None
    assert "unread_count" not in service.get_chat(deps, token, 1).to_json()
    with pytest.raises(UserTokenRequired) as refused:
        reading.mark_read(deps, token, 1, 1)
    assert (refused.value.status, refused.value.code) == (403, "user_token_required")


def test_a_position_never_moves_back_nor_past_the_newest_message(deps, token):
    ana = user(deps, token)
    post(deps, token, 4)
    reading.mark_read(deps, ana, 1, 3)
    assert reading.mark_read(deps, ana, 1, 1)[0].up_to == 3  # an older tab marks less: kept
    assert reading.mark_read(deps, ana, 1, 1000)[1] == 0
    assert reading.mark_read(deps, ana, 1, 1000)[0].up_to == 4  # clamped to the newest number
    post(deps, token, 1)
    assert service.get_chat(deps, ana, 1).unread_count == 1


def test_each_user_has_their_own_position(deps, token):
    ana, ben = user(deps, token, "ana"), user(deps, token, "ben")
    post(deps, token, 3)
    reading.mark_read(deps, ana, 1, 3)
    assert [service.get_chat(deps, t, 1).unread_count for t in (ana, ben)] == [0, 3]


def test_a_chat_list_carries_each_chats_unread_count_for_the_user(deps, token):
    service.create_chat(deps, token)  # chats 1 and 2
    deps.batches.persist([NewChat(deps.db.application(token).id, n) for n in (1, 2)], [])
    post(deps, token, 2, chat=1)
    post(deps, token, 5, chat=2)
    ana = user(deps, token)
    reading.mark_read(deps, ana, 2, 4)
    assert [(c.number, c.unread_count) for c in service.list_chats(deps, ana, 0, 50)] == [(1, 2), (2, 1)]


def test_unread_counts_follow_redis_counter_when_mysql_lags_and_mysql_when_redis_is_down(deps, token):
    ana = user(deps, token)
    post(deps, token, 3)  # queued: only Redis counts them
    assert service.get_chat(deps, ana, 1).unread_count == 3
    assert reading.highest_number(deps, deps.db.application(token).id, 1) == 3


def test_a_user_marks_only_chats_their_token_reaches(deps, token):
    limited = user(deps, token, chats=frozenset({2}))
    with pytest.raises(ChatNotAllowed):
        reading.mark_read(deps, limited, 1, 1)


def test_a_read_only_user_may_mark_what_they_read(deps, token):
    reader = user(deps, token, read_only=True)
    post(deps, token, 2)
    assert reading.mark_read(deps, reader, 1, 2)[1] == 0


def test_readers_are_shown_to_users_only_where_the_application_allows(deps, token):
    ana, ben = user(deps, token, "ana"), user(deps, token, "ben")
    post(deps, token, 2)
    reading.mark_read(deps, ana, 1, 2)
    reading.mark_read(deps, ben, 1, 1)
    assert [(p.user.id, p.up_to) for p in reading.readers(deps, token, 1)] == [("ben", 1), ("ana", 2)]
    with pytest.raises(Forbidden):
        reading.readers(deps, ben, 1)
    assert reading.set_read_receipts(deps, token, True)
    assert [p.user.name for p in reading.readers(deps, ben, 1)] == ["Ben", "Ana"]


def test_deletions_after_the_position_leave_the_unread_count_and_those_before_do_not(deps, token):
    ana = user(deps, token)
    post(deps, token, 5)
    reading.mark_read(deps, ana, 1, 1)
    service.delete_message(deps, token, 1, 4)  # after Ana's position: one unread fewer
    assert service.get_chat(deps, ana, 1).unread_count == 3
    service.delete_message(deps, token, 1, 4)  # again: nothing more
    assert service.get_chat(deps, ana, 1).unread_count == 3
    service.delete_message(deps, token, 1, 1)  # at her position: not unread anyway
    assert service.get_chat(deps, ana, 1).unread_count == 3
    # Moving on past the deleted one counts what is deleted after the new position only.
    assert reading.mark_read(deps, ana, 1, 2)[1] == 2
    assert reading.mark_read(deps, ana, 1, 4)[1] == 1
    # Ben never marked it: every message but the two deleted ones.
    assert service.get_chat(deps, user(deps, token, "ben"), 1).unread_count == 3
