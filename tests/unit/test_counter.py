"""The counter's decisions (chalicelib/counter.py) against the fakes: incremental or full, marks kept."""

import pytest

from chalicelib import counter
from chalicelib.errors import Unavailable
from chalicelib.models import NewChat, NewMessage
from tests import fakes


@pytest.fixture
def deps() -> fakes.FakeDeps:
    deps = fakes.deps()
    deps.db.insert_application("t", "app")
    return deps


def write(deps: fakes.FakeDeps, *messages: NewMessage) -> None:
    """As the writer does: rows into MySQL, then the changed chats marked in Redis."""
    deps.batches.persist([NewChat(1, 1)], list(messages))
    deps.numbers.record_persisted([NewChat(1, 1)], list(messages))


def counts(deps: fakes.FakeDeps) -> tuple[int, int]:
    return deps.db.application("t").chats_count, deps.db.chat(1, 1).messages_count


def test_the_first_run_counts_everything_then_only_what_changed(deps):
    write(deps, NewMessage(1, 1, 1, "a"))
    assert counter.refresh_counts(deps)["mode"] == "full"
    assert counts(deps) == (1, 1)
    write(deps, NewMessage(1, 1, 2, "b"))
    result = counter.refresh_counts(deps)
    assert (result["mode"], result["chats_changed"], counts(deps)) == ("incremental", 1, (1, 2))


def test_after_redis_lost_its_marks_the_count_is_full_again(deps):
    counter.refresh_counts(deps)
    deps.batches.persist([], [NewMessage(1, 1, 1, "written while Redis was away")])
    deps.numbers.restart()
    deps.numbers.open_epoch("another")
    assert counter.refresh_counts(deps)["mode"] == "full"
    assert counts(deps) == (1, 1)


def test_without_redis_the_count_is_full(deps):
    counter.refresh_counts(deps)
    deps.numbers.down = True
    deps.batches.persist([NewChat(1, 1)], [NewMessage(1, 1, 1, "x")])
    assert counter.refresh_counts(deps)["mode"] == "full"
    assert counts(deps) == (1, 1)


def test_marks_of_a_failed_recount_are_put_back_for_the_next_run(deps):
    counter.refresh_counts(deps)
    write(deps, NewMessage(1, 1, 1, "x"))
    deps.counts.tables.down = True
    with pytest.raises(Unavailable):
        counter.refresh_counts(deps)
    assert deps.numbers.changed_chats == {(1, 1)}
    deps.counts.tables.down = False
    assert counter.refresh_counts(deps)["chats_changed"] == 1
    assert counts(deps) == (1, 1)
