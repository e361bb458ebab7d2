"""Live delivery's use cases (usecases/live.py, usecases/push.py) against the fakes: connecting,
following chats, hostile frames, revoked tokens, and the push after a change."""

import dataclasses
import json

import pytest

from chalicelib.domain.changes import ChatChanged
from chalicelib.domain.errors import BadRequest, NotFound, TooManyConnections, Unavailable
from chalicelib.domain.live import (
    FRAME_BYTES,
    FRAME_CHANGES,
    BadFrame,
    Ping,
    Subscribe,
    Unsubscribe,
    read_frame,
)
from chalicelib.usecases import identity, live, push, service
from tests import fakes


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    monkeypatch.setattr(identity, "_KNOWN", {})


def changes(*triples):
    return [ChatChanged(*triple) for triple in triples]


def connected(deps, token, connection_id="c1"):
    live.connect(deps, connection_id, token)
    deps.sockets.open.add(connection_id)
    return connection_id


def test_a_socket_connects_with_its_application_token_and_follows_a_chat(deps, token):
    socket = connected(deps, token)
    assert live.receive(deps, socket, '{"action": "subscribe", "chat": 1}') == {
        "type": "subscribed",
        "chat": 1,
    }
    app_id = deps.db.application(token).id
    assert deps.connections.subscribers(app_id, 1).live == [socket]


@pytest.mark.parametrize("credential", [None, ""])
def test_a_socket_without_a_credential_is_refused_with_400(deps, credential):
    with pytest.raises(BadRequest):
        live.connect(deps, "c1", credential)
    assert deps.connections.rows == {}


def test_a_socket_with_an_unknown_token_is_refused_and_recorded_nowhere(deps):
    with pytest.raises(NotFound):
        live.connect(deps, "c1", "no-such-token")
    assert deps.connections.rows == {}


def test_an_application_cannot_hold_more_sockets_than_its_limit(deps, token):
    most = deps.socket_limits.connections_per_application
    for n in range(most):
        live.connect(deps, f"c{n}", token)
    with pytest.raises(TooManyConnections):
        live.connect(deps, "one-more", token)
    live.disconnect(deps, "c0")
    live.connect(deps, "one-more", token)  # a closed one makes room


def test_sockets_past_their_lifetime_make_room_and_receive_nothing(deps, token):
    for n in range(deps.socket_limits.connections_per_application):
        socket = connected(deps, token, f"c{n}")
        live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    deps.db.tables.now += deps.socket_limits.lifetime_seconds
    app_id = deps.db.application(token).id
    assert deps.connections.subscribers(app_id, 1).live == []
    live.connect(deps, "fresh", token)


def test_a_socket_follows_only_chats_of_its_own_application(deps, token):
    other = service.create_application(deps, "other").token
    service.create_chat(deps, other)
    mine = connected(deps, token)
    live.receive(deps, mine, '{"action": "subscribe", "chat": 1}')
    other_id = deps.db.application(other).id
    # Chat 1 of the other application is another chat: a change there reaches no socket of mine.
    push.push(deps, changes((other_id, 1, 5)))
    assert deps.sockets.frames == {}


def test_a_socket_may_not_follow_a_chat_its_credential_does_not_allow(deps, token, monkeypatch):
    from chalicelib.domain.callers import Caller

    app_id = deps.db.application(token).id
    monkeypatch.setattr(identity, "identify", lambda d, c: Caller(app_id, chats=frozenset({2})))
    socket = connected(deps, token)
    assert live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')["code"] == "forbidden"
    assert live.receive(deps, socket, '{"action": "subscribe", "chat": 2}')["type"] == "subscribed"


def test_a_socket_follows_at_most_its_limit_of_chats(deps, token):
    socket = connected(deps, token)
    most = deps.socket_limits.subscriptions_per_connection
    for chat in range(1, most + 1):
        assert (
            live.receive(deps, socket, json.dumps({"action": "subscribe", "chat": chat}))["type"]
            == "subscribed"
        )
    again = live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    assert again["type"] == "subscribed"  # following a chat again takes no more room
    refused = live.receive(deps, socket, json.dumps({"action": "subscribe", "chat": most + 1}))
    assert refused["code"] == "too_many_subscriptions"
    live.receive(deps, socket, '{"action": "unsubscribe", "chat": 1}')
    assert (
        live.receive(deps, socket, json.dumps({"action": "subscribe", "chat": most + 1}))["type"]
        == "subscribed"
    )


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"action": "subscribe"}', "bad_frame"),
        ('{"action": "subscribe", "chat": "1"}', "bad_frame"),
        ('{"action": "subscribe", "chat": true}', "bad_frame"),
        ('{"action": "subscribe", "chat": 0}', "bad_frame"),
        ('{"action": "subscribe", "chat": 99999999999}', "bad_frame"),
        ('{"action": "dance"}', "unknown_action"),
        ("", "bad_frame"),
        (None, "bad_frame"),
        ('{"action": "ping", "pad": "' + "x" * 600 + '"}', "frame_too_large"),
    ],
)
def test_a_bad_frame_gets_an_error_frame_and_the_socket_stays(deps, token, frame, code):
    socket = connected(deps, token)
    answer = live.receive(deps, socket, frame)
    assert answer["type"] == "error" and answer["code"] == code and answer["message"]
    assert live.receive(deps, socket, '{"action": "ping"}') is None  # kept open, nothing answered


def test_frames_read_as_their_actions():
    assert read_frame('{"action": "ping"}', 100) == Ping()
    assert read_frame(b'{"action": "subscribe", "chat": 7}', 100) == Subscribe(7)
    assert read_frame('{"action": "unsubscribe", "chat": 7}', 100) == Unsubscribe(7)
    assert isinstance(read_frame(b"\xff\xfe", 100), BadFrame)
    # Nested past the parser's stack, within the largest frame the settings allow.
    assert read_frame("[" * 60_000 + "]" * 60_000, 128 * 1024).code == "bad_frame"


def test_a_change_reaches_every_follower_once_as_its_newest_position(deps, token):
    followers = [connected(deps, token, f"c{n}") for n in range(3)]
    for socket in followers:
        live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    bystander = connected(deps, token, "c9")  # connected, following nothing
    app_id = deps.db.application(token).id
    totals = push.push(deps, changes((app_id, 1, 4), (app_id, 1, 6), (app_id, 1, 5)))
    assert totals["sent"] == 3
    for socket in followers:
        assert deps.sockets.frames[socket] == [{"type": "change", "chat": 1, "position": 6}]
    assert bystander not in deps.sockets.frames


def test_a_socket_found_gone_on_a_push_is_forgotten(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    deps.sockets.open.discard(socket)  # the client vanished without a $disconnect
    app_id = deps.db.application(token).id
    assert push.push(deps, changes((app_id, 1, 1)))["gone"] == 1
    assert deps.connections.connection(socket) is None
    assert push.push(deps, changes((app_id, 1, 2)))["gone"] == 0  # no second try


def test_a_revoked_tokens_sockets_get_no_more_changes_and_are_closed(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.rotate_token(deps, token, grace_seconds=0)
    app_id = deps.db.application_rotated_from(token).id
    totals = push.push(deps, changes((app_id, 1, 3)))
    assert totals == {"chats": 1, "sent": 0, "gone": 0, "failed": 0, "revoked": 1, "handed_off": 0}
    assert deps.sockets.closed == [socket] and socket not in deps.sockets.frames
    assert deps.connections.connection(socket) is None


def test_a_rotated_tokens_sockets_keep_receiving_within_its_grace(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.rotate_token(deps, token, grace_seconds=60)
    app_id = deps.db.application_rotated_from(token).id
    assert push.push(deps, changes((app_id, 1, 3)))["sent"] == 1
    deps.db.tables.now += 61
    assert push.push(deps, changes((app_id, 1, 4)))["revoked"] == 1


def test_a_frame_from_a_revoked_tokens_socket_closes_it(deps, token):
    socket = connected(deps, token)
    service.rotate_token(deps, token, grace_seconds=0)
    answer = live.receive(deps, socket, '{"action": "ping"}')
    assert answer["code"] == "unauthorized"
    assert deps.sockets.closed == [socket] and deps.connections.connection(socket) is None


def test_a_disconnect_forgets_the_socket_and_what_it_followed(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    live.disconnect(deps, socket)
    app_id = deps.db.application(token).id
    assert deps.connections.subscribers(app_id, 1).live == []
    assert live.receive(deps, socket, '{"action": "ping"}')["code"] == "unauthorized"


def test_an_announcement_reads_back_from_an_invocation_and_from_a_topics_records():
    from chalicelib.adapters.announce.payload import changes_from, changes_payload

    told = changes((1, 2, 3), (1, 4, 5))
    invoked = json.loads(json.dumps(changes_payload(told)))
    assert changes_from(invoked) == told
    records = {"Records": [{"Sns": {"Message": json.dumps(changes_payload(told[:1]))}}] * 2}
    assert changes_from(records) == told[:1] * 2


def following_chat_1(deps, token, sockets: int, push_slice: int) -> tuple[list[str], int]:
    """`sockets` followers of chat 1 where one push invocation sends to `push_slice`; and the
    application's id."""
    deps.push_slice = push_slice
    deps.socket_limits = dataclasses.replace(deps.socket_limits, connections_per_application=10)
    followers = [connected(deps, token, f"c{n}") for n in range(sockets)]
    for socket in followers:
        live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    return followers, deps.db.application(token).id


def test_a_big_fan_out_is_shared_with_other_invocations_each_socket_once(deps, token):
    followers, app_id = following_chat_1(deps, token, sockets=5, push_slice=2)
    totals = push.push(deps, changes((app_id, 1, 9)))
    assert (totals["sent"], totals["handed_off"]) == (2, 3)
    shares = deps.fan_out.shares
    assert [len(ids) for ids, _ in shares] == [2, 1]
    for ids, frame in shares:  # what the other invocations do with their share
        push.deliver(deps, ids, frame)
    assert sorted(deps.sockets.frames) == sorted(followers)
    assert all(
        frames == [{"type": "change", "chat": 1, "position": 9}] for frames in deps.sockets.frames.values()
    )


def test_a_frame_carries_the_changes_it_announces_as_the_feed_answers_them(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.create_chat(deps, token)
    for body in ("one", "two"):
        service.create_message(deps, token, 1, body)
    fakes.write_queued(deps)  # the writer announces (0, 2]
    service.edit_message(deps, token, 1, 1, "one, again")  # the API announces (2, 3]
    push.push(deps, deps.announcer.announced)
    [frame] = deps.sockets.frames[socket]  # one batch, one frame a chat: the ranges follow on
    assert (frame["position"], frame["since"]) == (3, 0)
    # The feed is compacted: message 1 shows once, at its edit, as a read of the feed shows it.
    feed = service.list_changes(deps, token, 1, 0, 50).changes
    assert frame["changes"] == [c.to_json() for c in feed]
    assert [(c["position"], c["kind"], c["message"]["body"]) for c in frame["changes"]] == [
        (2, "created", "two"),
        (3, "edited", "one, again"),
    ]


def test_a_frame_too_big_for_one_billed_unit_is_a_notice_to_read_the_feed(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "x" * FRAME_BYTES)
    fakes.write_queued(deps)
    push.push(deps, deps.announcer.announced)
    assert deps.sockets.frames[socket] == [{"type": "change", "chat": 1, "position": 1}]


def test_a_frame_is_a_notice_when_the_feed_cannot_be_read_or_holds_more_than_a_frame(
    deps, token, monkeypatch
):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.create_chat(deps, token)
    for n in range(FRAME_CHANGES + 1):
        service.create_message(deps, token, 1, f"m{n}")
    fakes.write_queued(deps)
    push.push(deps, deps.announcer.announced)
    last = FRAME_CHANGES + 1
    assert deps.sockets.frames[socket] == [{"type": "change", "chat": 1, "position": last}]
    app_id = deps.db.application(token).id
    push.push(deps, changes((app_id, 1, last, last - 1)))  # one change: it fits
    assert deps.sockets.frames[socket][-1]["changes"][0]["message"]["body"] == f"m{FRAME_CHANGES}"

    def unreadable(*args):
        raise Unavailable("the feed's read timed out")

    monkeypatch.setattr(deps.db, "changes", unreadable)  # the notice still goes out
    push.push(deps, changes((app_id, 1, last, last - 1)))
    assert deps.sockets.frames[socket][-1] == {"type": "change", "chat": 1, "position": last}


def test_ranges_of_one_chat_merge_where_they_follow_on():
    first, second, apart = ChatChanged(1, 1, 4, 2), ChatChanged(1, 1, 6, 4), ChatChanged(1, 1, 9, 7)
    assert first.merged(second) == second.merged(first) == ChatChanged(1, 1, 6, 2)
    assert first.merged(apart) == ChatChanged(1, 1, 9, 7)  # (4, 7] unknown: only the later range
    assert first.merged(ChatChanged(1, 1, 5)) == ChatChanged(1, 1, 5)


def test_a_message_is_told_to_followers_when_accepted_as_any_read_answers_it(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    service.create_chat(deps, token)
    number = service.create_message(deps, token, 1, "said just now")
    [(app_id, chat, message)] = deps.accept_push.told  # told by the API, before the writer ran
    assert deps.queue.sent and not deps.announcer.announced
    push.push_accepted(deps, app_id, chat, message.to_json())
    read = service.get_message(deps, token, 1, number)  # from its pending record, at once
    assert deps.sockets.frames[socket] == [{"type": "accepted", "chat": 1, "message": read.to_json()}]


def test_a_refused_send_is_told_to_no_one(deps, token):
    service.create_chat(deps, token)
    deps.queue.down = True
    with pytest.raises(Unavailable):
        service.create_message(deps, token, 1, "never queued")
    assert deps.accept_push.told == []


def test_an_accepted_message_too_big_for_a_frame_waits_for_its_change(deps, token):
    socket = connected(deps, token)
    live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    app_id = deps.db.application(token).id
    assert push.push_accepted(deps, app_id, 1, {"number": 1, "body": "x" * FRAME_BYTES})["sent"] == 0
    assert socket not in deps.sockets.frames


def test_a_user_tokens_socket_ends_with_the_token(deps, token):
    from chalicelib.domain.models import Author
    from chalicelib.domain.user_tokens import Grant

    user_token, _ = service.issue_user_token(deps, token, Grant(Author("ana", "Ana"), lifetime_seconds=60))
    ana, backend = connected(deps, user_token, "ana"), connected(deps, token, "backend")
    for socket in (ana, backend):
        live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')
    app_id = deps.db.application(token).id
    assert push.push(deps, changes((app_id, 1, 1)))["sent"] == 2
    deps.db.tables.now += 61  # the user token has expired
    totals = push.push(deps, changes((app_id, 1, 2)))
    assert (totals["sent"], totals["revoked"]) == (1, 1)
    assert deps.sockets.closed == [ana] and len(deps.sockets.frames[ana]) == 1
    assert deps.connections.connection(ana) is None
    assert live.receive(deps, ana, '{"action": "ping"}')["code"] == "unauthorized"


def user_socket(deps, token, connection_id: str) -> str:
    """A socket opened with a user token of the application, following chat 1."""
    from chalicelib.domain.models import Author
    from chalicelib.domain.user_tokens import Grant

    user_token, _ = service.issue_user_token(deps, token, Grant(Author(connection_id, "Ana")))
    socket = connected(deps, user_token, connection_id)
    assert live.receive(deps, socket, '{"action": "subscribe", "chat": 1}') == {
        "type": "subscribed",
        "chat": 1,
    }
    return socket


def test_a_user_tokens_socket_is_closed_once_its_applications_token_is_rotated_and_revoked(deps, token):
    other = service.create_application(deps, "other").token
    service.create_chat(deps, other)
    ana, bo = user_socket(deps, token, "ana"), user_socket(deps, other, "bo")
    new_token = service.rotate_token(deps, token, grace_seconds=600).token
    app_id, other_id = deps.db.application(new_token).id, deps.db.application(other).id
    assert push.push(deps, changes((app_id, 1, 1)))["sent"] == 1  # its key verifies within the grace
    service.revoke_previous_token(deps, new_token)
    totals = push.push(deps, changes((app_id, 1, 2)))
    assert (totals["sent"], totals["revoked"]) == (0, 1)
    assert deps.sockets.closed == [ana] and len(deps.sockets.frames[ana]) == 1
    assert deps.connections.connection(ana) is None
    assert push.push(deps, changes((other_id, 1, 1)))["sent"] == 1  # another application's: untouched
    assert deps.sockets.frames[bo] == [{"type": "change", "chat": 1, "position": 1}]


def test_a_user_tokens_socket_is_refused_at_its_next_frame_once_the_grace_is_over(deps, token):
    ana = user_socket(deps, token, "ana")
    new_token = service.rotate_token(deps, token, grace_seconds=60).token
    backend = connected(deps, new_token, "backend")
    fresh = user_socket(deps, new_token, "fresh")  # signed with the new key
    deps.db.tables.now += 61
    assert live.receive(deps, ana, '{"action": "subscribe", "chat": 1}')["code"] == "unauthorized"
    assert deps.sockets.closed == [ana] and deps.connections.connection(ana) is None
    for socket in (backend, fresh):
        assert live.receive(deps, socket, '{"action": "subscribe", "chat": 1}')["type"] == "subscribed"


def test_a_chat_with_more_followers_than_one_push_sends_to_gets_no_accepted_frames(deps, token):
    followers, app_id = following_chat_1(deps, token, sockets=3, push_slice=2)
    message = {"number": 1, "body": "to many"}
    assert push.push_accepted(deps, app_id, 1, message)["sent"] == 0  # their change frames follow
    assert deps.sockets.frames == {} and deps.fan_out.shares == []
    live.disconnect(deps, followers[0])
    assert push.push_accepted(deps, app_id, 1, message)["sent"] == 2
