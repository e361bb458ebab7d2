"""Contracts of the MySQL ports (ports.Database, Batches, Counts, Schema): fake and real alike."""

import uuid

import pytest

from chalicelib.domain.changes import ChatChanged
from chalicelib.domain.errors import Refused
from chalicelib.domain.live import Connection, NewConnection, Subscribers
from chalicelib.domain.models import Author, Message, NewChat, NewMessage
from chalicelib.domain.tokens import token_hash
from chalicelib.domain.user_tokens import Versions

from .world import World, new_application


def test_an_application_reads_back_by_its_token_and_renames(world: World):
    db, token = world.deps.db, f"c-{uuid.uuid4().hex}"
    created = db.insert_application(token, "first")
    assert db.application(token) == created
    assert db.rename_application(created, "second").name == "second"
    assert db.application(token).name == "second"
    assert db.application(f"c-{uuid.uuid4().hex}") is None


def test_a_token_taken_twice_is_refused(world: World):
    token = f"c-{uuid.uuid4().hex}"
    world.deps.db.insert_application(token, "a")
    with pytest.raises(Refused):
        world.deps.db.insert_application(token, "b")


def test_chats_page_in_number_order_after_a_cursor(world: World):
    app_id = new_application(world)
    world.deps.batches.persist([NewChat(app_id, n) for n in (3, 1, 2, 4)], [])
    db = world.deps.db
    assert [c.number for c in db.chats(app_id, 0, 2)] == [1, 2]
    assert [c.number for c in db.chats(app_id, 2, 10)] == [3, 4]
    assert db.max_chat_number(app_id) == 4 and db.max_chat_number(new_application(world)) == 0
    assert db.chat(app_id, 9) is None and db.chat(app_id, 1).messages_count == 0


def test_a_batch_writes_messages_with_their_chats_and_a_replay_changes_nothing(world: World):
    app_id = new_application(world)
    batch = [NewMessage(app_id, 5, 2, "two"), NewMessage(app_id, 5, 1, "one")]
    world.deps.batches.persist([], batch)
    world.deps.batches.persist([NewChat(app_id, 5)], [NewMessage(app_id, 5, 1, "replayed, other body")])
    db = world.deps.db
    assert [(m.number, m.body) for m in db.messages(app_id, 5, 0, 10)] == [(1, "one"), (2, "two")]
    assert [m.number for m in db.messages(app_id, 5, 1, 10)] == [2]
    assert db.message(app_id, 5, 2).body == "two" and db.message(app_id, 5, 3) is None
    assert db.max_message_number(app_id, 5) == 2


def test_a_batch_naming_a_vanished_application_is_refused(world: World):
    with pytest.raises(Refused):
        world.deps.batches.persist([], [NewMessage(4_000_000_000, 1, 1, "orphan")])


def test_an_edit_wins_over_its_late_creation_and_versions_count_up(world: World):
    app_id = new_application(world)
    deps = world.deps
    ana = Author("u-7", "Ana")
    queued = Message(1, "edited before the creation landed", 1_000, 2_000, ana)
    deps.db.edit_message(app_id, 1, queued)
    deps.batches.persist(
        [NewChat(app_id, 1)], [NewMessage(app_id, 1, 1, "the creation", 1, None, 1_000, ana)]
    )
    deps.db.edit_message(app_id, 1, Message(1, "edited again", 1_000, 3_000, ana))
    [current] = deps.batches.current_messages([(app_id, 1, 1), (app_id, 1, 2)])
    assert (current.body, current.version) == ("edited again", 3)
    assert deps.db.message(app_id, 1, 1) == Message(1, "edited again", 1_000, 3_000, ana)


def test_messages_keep_their_accept_instant_and_author_and_chats_their_times(world: World):
    app_id = new_application(world)
    deps, ana = world.deps, Author("u-1", "Ana")
    deps.batches.persist(
        [NewChat(app_id, 3, None, 1_765_000_000_001)],
        [
            NewMessage(app_id, 3, 1, "one", 1, None, 1_765_000_000_010, ana),
            NewMessage(app_id, 3, 2, "two", 1, None, 1_765_000_000_020),
        ],
    )
    # A redelivery changes nothing.
    deps.batches.persist([], [NewMessage(app_id, 3, 1, "one", 1, None, 1_765_000_000_010, ana)])
    assert deps.db.messages(app_id, 3, 0, 10) == [
        Message(1, "one", 1_765_000_000_010, None, ana),
        Message(2, "two", 1_765_000_000_020),
    ]
    chat = deps.db.chat(app_id, 3)
    assert (chat.created_at_ms, chat.last_message_at_ms) == (1_765_000_000_001, 1_765_000_000_020)
    [indexed] = deps.batches.current_messages([(app_id, 3, 1)])
    assert (indexed.created_at_ms, indexed.author) == (1_765_000_000_010, ana)


def test_recounts_report_the_rows_they_changed(world: World):
    app_id = new_application(world)
    deps = world.deps
    deps.batches.persist([NewChat(app_id, 2)], [NewMessage(app_id, 1, 1, "a"), NewMessage(app_id, 1, 2, "b")])
    assert deps.counts.refresh_chat_counts([(app_id, 1), (app_id, 2)]) == 1  # chat 2 stays at 0
    assert deps.counts.refresh_chat_counts([(app_id, 1)]) == 0
    assert deps.counts.refresh_application_counts([app_id]) == 1
    assert deps.counts.refresh_chat_counts([]) == 0 and deps.counts.refresh_application_counts([]) == 0
    assert deps.db.chat(app_id, 1).messages_count == 2


def test_a_full_recount_brings_every_count_in_line(world: World):
    deps, token = world.deps, f"c-{uuid.uuid4().hex}"
    app_id = deps.db.insert_application(token, "recount").id
    deps.batches.persist([NewChat(app_id, 1)], [NewMessage(app_id, 1, n, "m") for n in (1, 2, 3)])
    chats_changed, applications_changed = deps.counts.refresh_counts()
    assert chats_changed >= 1 and applications_changed >= 1  # ours, at least (the tables are shared)
    assert deps.db.chat(app_id, 1).messages_count == 3
    assert deps.db.application(token).chats_count == 1


def test_migrating_twice_applies_nothing_the_second_time(world: World):
    world.deps.schema.migrate()
    assert world.deps.schema.migrate() == []


def test_a_rotated_token_works_until_its_grace_ends_and_only_the_current_one_rotates(world: World):
    db, token, new = world.deps.db, f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    app = db.insert_application(token, "rotated")
    assert db.rotate_token(app.id, token, new, 3600)
    current, previous = db.application(new), db.application(token)
    assert (current.id, current.token_version, current.previous) == (app.id, 2, False)
    assert (previous.id, previous.token_version, previous.previous) == (app.id, 2, True)
    assert not db.rotate_token(app.id, token, f"c-{uuid.uuid4().hex}", 0)  # not the current one
    db.revoke_previous_token(app.id)
    assert db.application(token) is None
    assert db.rotate_token(app.id, new, f"c-{uuid.uuid4().hex}", 0)
    assert db.application(new) is None  # no grace: refused at once
    rotated_from = db.application_rotated_from(new)  # yet known as the one a rotation replaced
    assert (rotated_from.id, rotated_from.token_version, rotated_from.previous) == (app.id, 3, True)
    db.revoke_previous_token(app.id)
    assert db.application_rotated_from(new) is None and db.application_rotated_from(token) is None


def test_a_keyed_application_keeps_its_token_only_sealed(world: World):
    db, token, create_id = world.deps.db, f"c-{uuid.uuid4().hex}", uuid.uuid4().hex
    app = db.insert_application(token, "keyed", create_id, "sealed")
    created = db.application_created_by(create_id)
    assert (created.id, created.name, created.sealed_token) == (app.id, "keyed", "sealed")


def test_token_versions_say_which_user_token_keys_verify_and_for_how_long(world: World):
    db, token, new = world.deps.db, f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    app = db.insert_application(token, "versions")
    assert db.token_versions(app.id) == Versions(1, 0.0)
    db.rotate_token(app.id, token, new, 3600)
    versions = db.token_versions(app.id)
    assert versions.current == 2 and 3590 < versions.previous_seconds <= 3600
    db.revoke_previous_token(app.id)
    assert db.token_versions(app.id) == Versions(2, 0.0)
    db.rotate_token(app.id, new, f"c-{uuid.uuid4().hex}", 0)
    assert db.token_versions(app.id) == Versions(3, 0.0)  # no grace: only the newest key
    assert db.token_versions(2**40) is None


def test_connections_follow_chats_within_their_limits_and_are_forgotten_on_close(world: World):
    app_id, other_id = new_application(world), new_application(world)
    connections = world.deps.connections
    ids = [f"c-{uuid.uuid4().hex}" for _ in range(3)]
    assert connections.open(NewConnection(ids[0], app_id, None, None), 3600, 2)
    assert connections.open(NewConnection(ids[1], app_id, None, frozenset({1})), 3600, 2)
    assert not connections.open(NewConnection(ids[2], app_id, None, None), 3600, 2)
    assert connections.open(NewConnection(ids[2], other_id, None, None), 3600, 2)
    assert connections.connection(ids[1]) == Connection(ids[1], app_id, frozenset({1}), False)
    assert connections.subscribe(ids[0], 1, 2) and connections.subscribe(ids[0], 1, 2)
    assert connections.subscribe(ids[0], 2, 2) and not connections.subscribe(ids[0], 3, 2)
    assert connections.subscribe(ids[1], 1, 2) and connections.subscribe(ids[2], 1, 2)
    assert sorted(connections.subscribers(app_id, 1).live) == sorted(ids[:2])
    connections.unsubscribe(ids[0], 1)
    assert connections.subscribers(app_id, 1) == Subscribers([ids[1]], [])
    connections.close([ids[1], "never-opened"])
    assert connections.subscribers(app_id, 1) == Subscribers([], [])
    assert connections.connection(ids[1]) is None and not connections.subscribe(ids[1], 1, 2)
    assert connections.subscribers(other_id, 1).live == [ids[2]]


def test_a_connection_of_a_token_rotated_away_is_revoked_after_the_grace(world: World):
    db, token, new_token = world.deps.db, f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    app_id = db.insert_application(token, "contract").id
    connections, connection_id = world.deps.connections, f"c-{uuid.uuid4().hex}"
    connections.open(NewConnection(connection_id, app_id, token_hash(token), None), 3600, 5)
    connections.subscribe(connection_id, 1, 5)
    assert db.rotate_token(app_id, token, new_token, 3600)
    assert connections.subscribers(app_id, 1) == Subscribers([connection_id], [])
    db.revoke_previous_token(app_id)
    assert connections.subscribers(app_id, 1) == Subscribers([], [connection_id])
    assert connections.connection(connection_id).revoked


def test_a_connection_of_a_user_tokens_key_version_is_revoked_with_that_version(world: World):
    db, token, new_token = world.deps.db, f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    app_id = db.insert_application(token, "contract").id
    connections, old_key, new_key = world.deps.connections, f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    connections.open(NewConnection(old_key, app_id, None, None, token_version=1), 3600, 5)
    assert db.rotate_token(app_id, token, new_token, 3600)
    connections.open(NewConnection(new_key, app_id, None, None, token_version=2), 3600, 5)
    for connection_id in (old_key, new_key):
        connections.subscribe(connection_id, 1, 5)
    assert sorted(connections.subscribers(app_id, 1).live) == sorted([old_key, new_key])
    db.revoke_previous_token(app_id)
    assert connections.subscribers(app_id, 1) == Subscribers([new_key], [old_key])
    assert connections.connection(old_key).revoked and not connections.connection(new_key).revoked


def test_a_read_position_moves_only_forward_per_user_and_chat(world: World):
    app_id, positions = new_application(world), world.deps.read_positions
    ana, ben = Author("ana", "Ana"), Author("ben", "Ben")
    assert positions.mark_read(app_id, 1, ana, 5).up_to == 5  # a chat still queued gets its row
    held = positions.mark_read(app_id, 1, Author("ana", "Ana B."), 2)
    assert (held.up_to, held.user) == (5, Author("ana", "Ana B."))  # back: kept; the name follows
    positions.mark_read(app_id, 1, ben, 1)
    positions.mark_read(app_id, 2, ben, 7)
    assert positions.positions(app_id, [1, 2, 3], "ben") == {
        1: positions.readers(app_id, 1, 10)[0],
        2: positions.readers(app_id, 2, 10)[0],
    }
    assert [p.user.id for p in positions.readers(app_id, 1, 10)] == ["ben", "ana"]  # latest first
    assert positions.positions(app_id, [], "ben") == {}
    assert positions.positions(app_id, [1], "ANA") == {}  # user ids are compared byte for byte


def test_read_receipts_are_off_until_the_application_turns_them_on(world: World):
    app_id, positions = new_application(world), world.deps.read_positions
    assert not positions.read_receipts(app_id)
    positions.set_read_receipts(app_id, True)
    assert positions.read_receipts(app_id)
    positions.set_read_receipts(app_id, False)
    assert not positions.read_receipts(app_id)


def test_each_change_takes_its_chats_next_position_and_the_feed_answers_the_latest(world: World):
    app_id = new_application(world)
    deps = world.deps
    written = deps.batches.persist(
        [NewChat(app_id, 4)], [NewMessage(app_id, 4, n, f"m{n}") for n in (2, 1, 3)]
    )
    assert written.changes == [ChatChanged(app_id, 4, 3, 0)] and written.clashes == []
    again = deps.batches.persist([], [NewMessage(app_id, 4, 1, "m1")])  # a redelivery: no position
    assert again.changes == []
    assert deps.db.edit_message(app_id, 4, Message(1, "m1 edited", edited_at_ms=5)) == 4
    assert deps.db.delete_message(app_id, 4, Message(2, "m2"), 6) == 5
    assert deps.db.delete_message(app_id, 4, Message(2, "m2"), 7) is None  # deleted already
    assert deps.db.edit_message(app_id, 4, Message(2, "back?", edited_at_ms=8)) is None
    feed = deps.db.changes(app_id, 4, 0, 10)
    assert feed.last == 5 and deps.db.chat(app_id, 4).last_change == 5
    assert [(c.position, c.kind, c.message.number) for c in feed.changes] == [
        (3, "created", 3),
        (4, "edited", 1),
        (5, "deleted", 2),
    ]
    assert [c.position for c in deps.db.changes(app_id, 4, 3, 1).changes] == [4]
    tombstone = deps.db.message(app_id, 4, 2)
    assert (tombstone.body, tombstone.deleted_at_ms) == ("", 6)
    assert deps.db.changes(app_id, 99, 0, 10) is None


def test_a_tombstone_written_first_keeps_the_late_creation_out(world: World):
    app_id = new_application(world)
    deps, ana = world.deps, Author("u-2", "Ben")
    assert deps.db.delete_message(app_id, 5, Message(1, "", 1_000, None, ana), 2_000) == 1
    written = deps.batches.persist(
        [NewChat(app_id, 5)], [NewMessage(app_id, 5, 1, "secret", 1, None, 1_000, ana)]
    )
    assert written.changes == []
    stored = deps.db.message(app_id, 5, 1)
    assert (stored.body, stored.deleted_at_ms, stored.created_at_ms, stored.author) == ("", 2_000, 1_000, ana)
    [indexed] = deps.batches.current_messages([(app_id, 5, 1)])
    assert indexed.body == "" and indexed.version == 2  # above the creation's version 1 in the index
