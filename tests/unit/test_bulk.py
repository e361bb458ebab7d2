"""The writer's _bulk path: requests bounded in bytes, a time budget, partly-applied requests."""

import json

from elastic_transport import ConnectionTimeout

from chalicelib.adapters.search import indexer as indexer_module
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.domain.models import NewMessage


class FakeEs:
    """Applies `_bulk` index lines to a dict; `time_out_after` makes a request apply that many
    documents and then raise as a client timeout would."""

    def __init__(self, time_out_after=None):
        self.docs, self.requests, self.timeouts = {}, [], []
        self.time_out_after = time_out_after

    def options(self, request_timeout=None, max_retries=None):
        self.timeouts.append(request_timeout)
        return self

    def bulk(self, operations):
        self.requests.append(len(operations.encode()))
        lines = operations.splitlines()
        pairs = list(zip(lines[::2], lines[1::2], strict=True))
        for n, (action, _) in enumerate(pairs):
            if self.time_out_after is not None and n == self.time_out_after:
                raise ConnectionTimeout("timed out")
            meta = json.loads(action)["index"]
            self.docs[meta["_id"]] = meta["version"]
        return {"errors": False, "items": []}

    def mget(self, index, ids, source):
        return {
            "docs": [
                {"_id": i, "found": i in self.docs, **({"_version": self.docs[i]} if i in self.docs else {})}
                for i in ids
            ]
        }


def messages(n, size, app=1):
    return [NewMessage(app, 1, i + 1, "x" * size) for i in range(n)]


def test_a_batch_of_big_bodies_goes_in_requests_of_at_most_the_bulk_limit():
    es = FakeEs()
    batch = messages(100, 64 * 1024)
    assert Indexer(es, "m").index(batch) == {}
    assert len(es.docs) == 100
    assert len(es.requests) > 1 and max(es.requests) <= indexer_module.MAX_BULK_BYTES


def test_small_bodies_go_first_in_a_request_of_their_own():
    es = FakeEs()
    big, small = messages(90, 64 * 1024, app=1), messages(10, 20, app=2)
    Indexer(es, "m").index(big + small)
    assert es.requests[0] < indexer_module.MAX_BULK_BYTES
    first = list(es.docs)[:10]
    assert all(doc.startswith("2:") for doc in first)


def test_a_timed_out_request_fails_only_the_messages_it_did_not_apply():
    es = FakeEs(time_out_after=3)
    batch = messages(5, 10)
    failed = Indexer(es, "m").index(batch)
    assert sorted(failed) == [(1, 1, 4), (1, 1, 5)]


def test_no_request_starts_once_the_budget_is_spent_and_each_gets_only_what_is_left():
    es = FakeEs()
    s = Indexer(es, "m", bulk_budget=5)
    failed = s.index(messages(2, 10), deadline=0.0)  # long past
    assert sorted(failed) == [(1, 1, 1), (1, 1, 2)] and es.requests == []
    s.index(messages(2, 10))
    assert 0 < es.timeouts[0] <= 5


def test_the_timed_client_is_made_once_for_the_same_tenth_and_never_outlasts_the_budget():
    es = FakeEs()
    s = Indexer(es, "m", bulk_budget=5)
    for _ in range(3):
        s.index(messages(2, 10))
    assert len(es.timeouts) == 1 and 4.8 <= es.timeouts[0] <= 5
    s.index(messages(2, 10), deadline=indexer_module.time.monotonic() + 0.05)  # under a tenth left
    assert len(es.timeouts) == 2 and 0 < es.timeouts[1] <= 0.05
