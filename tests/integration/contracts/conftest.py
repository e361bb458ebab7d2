"""Each contract suite runs twice: against the fake (tests/fakes.py) and the real adapter.

What a fake promises that its adapter does not fails here, so unit tests of the use cases can
trust the fakes. The real adapters are the in-process ones of tests/integration (real MariaDB,
Redis, Elasticsearch and SQS), plus a queue of this module's own.
"""

import uuid

import pytest

from tests import fakes

from .world import World


@pytest.fixture(scope="module")
def contract_queue(sqs):
    url = sqs.create_queue(QueueName=f"it-contract-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


@pytest.fixture(params=["fake", "real"])
def world(request) -> World:
    if request.param == "fake":
        return World(fakes.deps(), lambda: None, real=False)
    from chalicelib.adapters.sqs import queue
    from chalicelib.wiring import stores

    deps = request.getfixturevalue("deps")
    url = request.getfixturevalue("contract_queue")
    real = stores.build(deps.settings)
    real.queue = queue.Queue(request.getfixturevalue("sqs"), url)
    real.epoch.open_epoch("contract")  # numbering needs an open epoch, as after any deploy

    def refresh() -> None:
        real.elasticsearch.indices.refresh(index=real.settings.messages_index)

    return World(real, refresh, real=True)
