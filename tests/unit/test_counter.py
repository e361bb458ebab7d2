"""The counter's decisions (chalicelib/usecases/counter.py) against the fakes: incremental or full,
marks kept."""

import pytest

from chalicelib.domain.errors import Unavailable
from chalicelib.domain.models import NewChat, NewMessage
from chalicelib.usecases import counter, service
from tests import fakes


@pytest.fixture
def deps() -> fakes.FakeDeps:
    deps = fakes.deps()
    deps.db.insert_application("t", "app")
    return deps


def write(deps: fakes.FakeDeps, *messages: NewMessage) -> None:
    """As the writer does: rows into MySQL, then the changed chats marked in Redis."""
    deps.batches.persist([NewChat(1, 1)], list(messages))
    deps.changes.record_persisted([NewChat(1, 1)], list(messages))


def counts(deps: fakes.FakeDeps) -> tuple[int, int]:
    return deps.db.application("t").chats_count, deps.db.chat(1, 1).messages_count


def test_the_first_run_counts_everything_then_only_what_changed(deps):
    write(deps, NewMessage(1, 1, 1, "a"))
    assert counter.refresh_counts(deps).mode == "full"
    assert counts(deps) == (1, 1)
    write(deps, NewMessage(1, 1, 2, "b"))
    result = counter.refresh_counts(deps)
    assert (result.mode, result.chats_changed, counts(deps)) == ("incremental", 1, (1, 2))


def test_after_redis_lost_its_marks_the_count_is_full_again(deps):
    counter.refresh_counts(deps)
    deps.batches.persist([], [NewMessage(1, 1, 1, "written while Redis was away")])
    deps.numbering.restart()
    deps.epoch.open_epoch("another")
    assert counter.refresh_counts(deps).mode == "full"
    assert counts(deps) == (1, 1)


def test_without_redis_the_count_is_full(deps):
    counter.refresh_counts(deps)
    deps.numbering.down = True
    deps.batches.persist([NewChat(1, 1)], [NewMessage(1, 1, 1, "x")])
    assert counter.refresh_counts(deps).mode == "full"
    assert counts(deps) == (1, 1)


def test_marks_of_a_failed_recount_are_put_back_for_the_next_run(deps):
    counter.refresh_counts(deps)
    write(deps, NewMessage(1, 1, 1, "x"))
    deps.counts.tables.down = True
    with pytest.raises(Unavailable):
        counter.refresh_counts(deps)
    assert deps.numbering.changed_chats == {(1, 1)}
    deps.counts.tables.down = False
    assert counter.refresh_counts(deps).chats_changed == 1
    assert counts(deps) == (1, 1)


# -- the sweep of idle counters -------------------------------------------------------------------

WEEK = 7 * 86400


@pytest.fixture
def token(deps: fakes.FakeDeps) -> str:
    return deps.db.application("t").token


def sweep(deps: fakes.FakeDeps, max_keys: int = 10**6) -> counter.Swept | counter.SweepStopped:
    return counter.sweep_idle_counters(deps, WEEK, max_keys)


def test_an_idle_counter_whose_numbers_are_all_stored_goes_and_the_next_create_seeds_from_mysql(deps, token):
    assert service.create_chat(deps, token) == 1
    assert [service.create_message(deps, token, 1, "hi") for _ in range(3)] == [1, 2, 3]
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK
    result = sweep(deps)
    assert (result.idle_counters, result.counters_removed) == (2, 2)
    assert deps.numbering.counters == {}
    assert service.create_message(deps, token, 1, "back") == 4
    assert service.create_chat(deps, token) == 2


def test_a_counter_whose_last_number_is_only_queued_stays(deps, token):
    service.create_chat(deps, token)
    service.create_message(deps, token, 1, "stored")
    fakes.write_queued(deps)
    service.create_message(deps, token, 1, "still queued")
    deps.numbering.clock += WEEK
    assert sweep(deps).counters_removed == 1  # the application's chat counter only
    assert deps.numbering.counters == {(1, 1): 2}
    assert service.create_message(deps, token, 1, "next") == 3


def test_a_counter_used_within_the_idle_time_stays(deps, token):
    service.create_chat(deps, token)
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK - 1
    assert sweep(deps).idle_counters == 0
    assert deps.numbering.counters == {(1,): 1}


def test_a_create_between_the_check_and_the_delete_keeps_the_counter(deps, token, monkeypatch):
    service.create_chat(deps, token)
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK
    check = deps.counts.highest_chat_numbers

    def create_meanwhile(applications):
        found = check(applications)
        assert service.create_chat(deps, token) == 2  # MySQL said 1: the counter is now at 2
        return found

    monkeypatch.setattr(deps.counts, "highest_chat_numbers", create_meanwhile)
    assert sweep(deps).counters_removed == 0
    monkeypatch.undo()
    assert service.create_chat(deps, token) == 3  # not reseeded from MySQL's 1


def test_nothing_is_swept_while_numbering_is_closed(deps, token):
    service.create_chat(deps, token)
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK
    deps.numbering.epoch = None
    result = sweep(deps)
    assert (result.numbering_open, result.counters_removed) == (False, 0)
    assert deps.numbering.counters == {(1,): 1}


@pytest.mark.parametrize("store", ["numbers", "counts"])
def test_a_sweep_without_redis_or_mysql_stops_and_a_later_run_sweeps(deps, token, store):
    service.create_chat(deps, token)
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK
    down = deps.numbering if store == "numbers" else deps.counts.tables
    down.down = True
    assert isinstance(sweep(deps), counter.SweepStopped)
    down.down = False
    deps.numbering.clock += WEEK  # the stopped run may have read it: a read resets its idle time
    assert sweep(deps).counters_removed == 1


def test_a_run_looks_at_its_share_of_keys_and_the_next_run_goes_on_from_there(deps, token, monkeypatch):
    monkeypatch.setattr(counter, "SWEEP_STEP", 2)
    for _ in range(4):  # 5 counters: the application's chat counter and one per chat
        service.create_message(deps, token, service.create_chat(deps, token), "x")
    fakes.write_queued(deps)
    deps.numbering.clock += WEEK
    first = sweep(deps, max_keys=2)
    assert (first.counters_removed, first.cursor) == (2, 2**32 + 3)
    assert sweep(deps, max_keys=2).counters_removed == 2
    last = sweep(deps, max_keys=2)
    assert (last.counters_removed, last.cursor) == (1, 0)  # the next run starts over
    assert deps.numbering.counters == {}
