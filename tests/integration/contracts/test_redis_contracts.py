"""Contracts of the Redis ports (ports.Numbers, Tokens): fake and real alike."""

import random
import uuid

from chalicelib.models import NewChat, NewMessage

from .world import World


def ids() -> int:
    """An application id no other test uses (the real Redis database is shared by the session)."""
    return random.randrange(10**9, 2**32)


def test_numbers_start_after_the_seed_and_count_up_per_scope(world: World):
    numbers, app_id = world.deps.numbers, ids()
    assert numbers.chats_reserved(app_id) is None  # not counted yet: MySQL knows them all
    assert numbers.reserve_chat_number(app_id, seed=lambda: 4) == 5
    assert numbers.reserve_chat_number(app_id, seed=lambda: 99) == 6  # the seed is read only once
    assert numbers.chats_reserved(app_id) == 6
    assert numbers.reserve_message_number(app_id, 5, "a", seed=lambda: 0) == 1
    assert numbers.reserve_message_number(app_id, 6, "b", seed=lambda: 0) == 1


def test_a_queued_body_reads_back_until_it_is_persisted_or_forgotten(world: World):
    numbers, app_id = world.deps.numbers, ids()
    for body in ("one", "two", "three"):
        numbers.reserve_message_number(app_id, 1, body, seed=lambda: 0)
    assert numbers.pending_body(app_id, 1, 2) == "two"
    numbers.record_persisted([], [NewMessage(app_id, 1, 1, "one")])
    numbers.forget_pending([NewMessage(app_id, 1, 3, "three")])
    assert [numbers.pending_body(app_id, 1, n) for n in (1, 2, 3, 4)] == [None, "two", None, None]


def test_persisted_writes_mark_their_chats_until_popped_and_restored_marks_come_back(world: World):
    numbers, app_id = world.deps.numbers, ids()
    numbers.start_full_recount()  # empties the marks (shared with other tests on the real Redis)
    numbers.record_persisted(
        [NewChat(app_id, 9)], [NewMessage(app_id, 1, 1, "x"), NewMessage(app_id, 2, 1, "y")]
    )
    assert sorted(numbers.pop_changed_chats(10)) == [(app_id, 1), (app_id, 2)]
    assert numbers.pop_changed_applications(10) == [app_id]
    assert numbers.pop_changed_chats(10) == []
    numbers.restore_changes([(app_id, 1)], [app_id])
    assert numbers.pop_changed_chats(10) == [(app_id, 1)] and numbers.pop_changed_applications(10) == [app_id]


def test_the_marks_are_complete_once_a_full_recount_saw_the_current_epoch(world: World):
    numbers = world.deps.numbers
    assert numbers.epoch_open()
    assert not numbers.open_epoch("a second epoch")  # one at a time
    numbers.start_full_recount()
    assert numbers.changes_complete()
    assert isinstance(numbers.uptime_seconds(), int)


def test_a_remembered_token_gives_its_application_id(world: World):
    tokens, token = world.deps.tokens, f"c-{uuid.uuid4().hex}"
    assert tokens.application_id(token) is None
    tokens.remember(token, 42)
    assert tokens.application_id(token) == 42
