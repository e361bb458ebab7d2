"""The Idempotency-Key decisions of service._once, against the fake record store (tests/fakes.py)."""

import pytest

from chalicelib.adapters.redis.idempotency import NO_EPOCH, OLD_EPOCH, YOUNG_EPOCH, RequestKey
from chalicelib.domain.errors import InFlight, KeyReused, Unavailable
from chalicelib.usecases import service
from tests import fakes


def deps(epoch=OLD_EPOCH):
    world = fakes.deps()
    world.keys.epoch = epoch
    return world


def counting(answers):
    calls = []

    def run(create_id):
        calls.append(create_id)
        return answers[len(calls) - 1]

    return run, calls


def test_without_a_key_every_request_runs_with_a_new_create_id():
    run, calls = counting([{"number": 1}, {"number": 2}])
    d = deps()
    assert [service._once(d, "1", None, run)["number"] for _ in range(2)] == [1, 2]
    assert len(set(calls)) == 2


def test_the_same_key_and_request_gets_the_first_answer_and_runs_once():
    run, calls = counting([{"number": 7}])
    d, key = deps(), RequestKey("k", "fp")
    assert service._once(d, "1", key, run) == service._once(d, "1", key, run) == {"number": 7}
    assert calls == [key.create_id("1")]
    assert service._once(d, "2", key, counting([{"number": 1}])[0]) == {"number": 1}  # another scope


def test_another_request_with_the_key_is_refused_and_a_running_one_is_in_flight():
    d = deps()
    service._once(d, "1", RequestKey("k", "fp"), counting([{"number": 1}])[0])
    with pytest.raises(KeyReused):
        service._once(d, "1", RequestKey("k", "other body"), counting([{"number": 2}])[0])
    d.keys.claim("1", RequestKey("busy", "fp"))
    with pytest.raises(InFlight):
        service._once(d, "1", RequestKey("busy", "fp"), counting([{"number": 3}])[0])


def test_a_failed_request_releases_its_key_for_the_retry():
    d, key = deps(), RequestKey("k", "fp")

    def fails(create_id):
        raise Unavailable("queue down")

    with pytest.raises(Unavailable):
        service._once(d, "1", key, fails)
    assert service._once(d, "1", key, counting([{"number": 4}])[0]) == {"number": 4}


@pytest.mark.parametrize(("epoch", "asked"), [(OLD_EPOCH, False), (YOUNG_EPOCH, True)])
def test_mysql_is_asked_only_while_redis_may_have_lost_records(epoch, asked):
    looked = []

    def stored(create_id):
        looked.append(create_id)
        return {"number": 9}

    run, calls = counting([{"number": 1}])
    answer = service._once(deps(epoch), "1", RequestKey("k", "fp"), run, stored, numbering=True)
    assert (answer, bool(looked), bool(calls)) == (
        ({"number": 9}, True, False) if asked else ({"number": 1}, False, True)
    )


def test_with_numbering_closed_a_keyed_create_waits_for_it_to_reopen(monkeypatch):
    monkeypatch.setattr(service, "_reopen_numbering", lambda deps: False)
    d, key = deps(NO_EPOCH), RequestKey("k", "fp")
    with pytest.raises(Unavailable):
        service._once(d, "1", key, counting([{"number": 1}])[0], lambda cid: None, numbering=True)
    assert d.keys.records == {}  # released: the retry claims it again
