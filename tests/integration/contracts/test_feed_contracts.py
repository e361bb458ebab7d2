"""The change feed as deliveries read it: the fake (tests/fakes_webhooks.py) and MySQL alike.

On MySQL the rows are written here as the writer writes them (a message's latest change at the
next of its chat's positions, `chats.last_change` moved with it), so the adapter's statements
run against the real schema."""

import time
import uuid

import pytest

from chalicelib.domain.models import NewMessage
from tests import fakes_webhooks

LOCK_CHAT = "SELECT id, last_change FROM chats WHERE application_id = %s AND number = %s FOR UPDATE"
UPSERT_MESSAGE = (
    "INSERT INTO messages (chat_id, number, body, created_ms, edited_ms, deleted_ms, change_position) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE body = VALUES(body), "
    "edited_ms = VALUES(edited_ms), deleted_ms = VALUES(deleted_ms), "
    "change_position = VALUES(change_position)"
)


class FakeWorld:
    def __init__(self):
        self.deps = fakes_webhooks.delivery_deps()
        self.app_id = 1

    def endpoint(self):
        self.deps.webhook_endpoints.now = self.deps.clock.now
        self.deps.clock.advance(1)
        return self.deps.webhook_endpoints.insert(
            self.app_id, "https://a.example/x", ("message.created",), "", "whsec_AAAA", 9
        )

    def chat(self, number: int) -> None:
        self.deps.feed.create_chat(self.app_id, number)

    def change(self, chat: int, number: int, kind: str, body: str) -> None:
        self.deps.clock.advance(0.01)
        self.deps.feed.change(self.app_id, chat, number, kind, body)

    def wait(self) -> None:
        self.deps.clock.advance(1.1)


class RealWorld:
    def __init__(self, deps):
        self.deps = deps
        self.app_id = deps.db.insert_application(f"c-{uuid.uuid4().hex}", "feed").id

    def endpoint(self):
        return self.deps.webhook_endpoints.insert(
            self.app_id, "https://a.example/x", ("message.created",), "", "whsec_AAAA", 9
        )

    def chat(self, number: int) -> None:
        with self.deps.mysql.cursor() as cur:
            cur.execute(
                "INSERT INTO chats (application_id, number, created_ms) VALUES (%s, %s, %s)",
                (self.app_id, number, int(time.time() * 1000)),
            )

    def change(self, chat: int, number: int, kind: str, body: str) -> None:
        now_ms = int(time.time() * 1000)

        def write(cur):
            cur.execute(LOCK_CHAT, (self.app_id, chat))
            chat_id, last = cur.fetchone()
            position = last + 1
            cur.execute("UPDATE chats SET last_change = %s WHERE id = %s", (position, chat_id))
            edited = now_ms if kind == "edited" else None
            deleted = now_ms if kind == "deleted" else None
            cur.execute(
                UPSERT_MESSAGE,
                (chat_id, number, body, now_ms, edited, deleted, position),
            )

        self.deps.mysql.retrying(write)

    def wait(self) -> None:
        time.sleep(1.1)


@pytest.fixture(params=["fake", "real"])
def world(request):
    return FakeWorld() if request.param == "fake" else RealWorld(request.getfixturevalue("deps"))


def test_the_feed_answers_each_message_once_at_its_latest_change_in_position_order(world):
    world.chat(1)
    world.change(1, 1, "created", "a")
    world.change(1, 2, "created", "b")
    world.change(1, 1, "edited", "a2")
    world.change(1, 2, "deleted", "b")
    feed = world.deps.feed.changes(world.app_id, 1, 0, 10)
    assert [(c.position, c.kind, c.message.number) for c in feed] == [(3, "edited", 1), (4, "deleted", 2)]
    assert feed[0].message.to_json()["body"] == "a2" and feed[1].message.to_json()["body"] is None
    assert [c.position for c in world.deps.feed.changes(world.app_id, 1, 3, 10)] == [4]
    assert world.deps.feed.changes(world.app_id, 1, 4, 10) == []


def test_an_endpoint_starts_after_what_changed_before_it_and_at_the_creation_of_newer_chats(world):
    world.chat(1)
    world.change(1, 1, "created", "old")
    world.wait()
    endpoint = world.endpoint()
    world.wait()
    world.chat(2)
    assert world.deps.feed.start_position(world.app_id, 1, endpoint.created_at) == 1
    assert world.deps.feed.start_position(world.app_id, 2, endpoint.created_at) == -1


def behind(world, window: int = 3600, per_application: int = 100) -> list[tuple[int, int]]:
    return [
        pair for pair in world.deps.feed.behind(window, per_application, 100_000) if pair[0] == world.app_id
    ]


def test_a_chat_is_known_by_when_it_was_created_and_an_unknown_one_by_none(world):
    before = time.time()
    world.chat(3)
    created = world.deps.feed.created_at(world.app_id, 3)
    assert created is not None and abs(created.timestamp() - before) < 5
    assert world.deps.feed.created_at(world.app_id, 999_999) is None


def test_chats_an_endpoint_has_not_had_everything_of_are_behind(world):
    world.chat(1)
    world.change(1, 1, "created", "old")
    world.wait()
    endpoint = world.endpoint()
    world.wait()
    assert behind(world) == []  # nothing since the endpoint
    world.chat(2)  # a new chat: its chat.created is owed
    world.change(1, 2, "created", "new")  # an old chat changed since
    assert sorted(behind(world)) == [(world.app_id, 1), (world.app_id, 2)]
    assert behind(world, per_application=1) == [(world.app_id, 2)]  # the oldest change first
    cursors = world.deps.cursors
    for chat in (1, 2):
        held = cursors.claim(endpoint, chat, lambda: -1, 60)
        cursors.release(cursors.advance(held, 2 if chat == 1 else 0))
    assert behind(world) == []


def test_the_sweep_looks_only_at_chats_changed_within_its_window(world):
    world.endpoint()
    world.wait()
    world.chat(1)
    world.wait()
    world.chat(2)
    assert behind(world, window=1) == [(world.app_id, 2)]
    assert sorted(behind(world, window=60)) == [(world.app_id, 1), (world.app_id, 2)]


def test_the_writer_moves_a_chat_back_into_the_sweeps_index_range(deps):
    """The range is on a virtual column of `updated_at`, which the database moves itself (ON
    UPDATE) when the writer advances the chat's feed: its index must follow, or the sweep would
    miss the chat."""
    world = RealWorld(deps)
    world.endpoint()
    world.wait()
    world.chat(1)
    with deps.mysql.cursor() as cur:
        cur.execute(
            "UPDATE chats SET updated_at = updated_at - INTERVAL 2 HOUR WHERE application_id = %s",
            (world.app_id,),
        )
    assert behind(world) == []
    deps.batches.persist([], [NewMessage(world.app_id, 1, 1, "a", created_at_ms=int(time.time() * 1000))])
    assert behind(world) == [(world.app_id, 1)]
    with deps.mysql.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) FROM chats FORCE INDEX (ix_chats_updated_minute) WHERE application_id = %s "
            "AND updated_minute >= TO_SECONDS(CURRENT_TIMESTAMP(6) - INTERVAL 1 MINUTE) DIV 60",
            (world.app_id,),
        )
        assert cur.fetchone() == (1,)
