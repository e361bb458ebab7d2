"""The fault matrix of docs/reliability.md: nothing accepted is lost or duplicated.

Each case offers CHAOS_N message creates (default 10,000; 400 under `make chaos QUICK=1`) and a
chat create after every 50, at CHAOS_RATE per second, injects its fault mid-stream, waits for
recovery and checks the invariants (tests/chaos/invariants.py). Results are appended to
$CHAT_STATE_DIR/chaos/results.jsonl.
"""

import pytest

from tests.chaos import stack
from tests.chaos.scenarios import Plan, run_scenario

pytestmark = pytest.mark.chaos

SCENARIOS = [
    "duplicates",
    "writer-killed",
    "poison",
    "elasticsearch-down",
    "mariadb-down",
    "redis-restart",
    "localstack-restart",
    "redis-failover",
    "redis-old-snapshot",
    "redis-counters-lost",
    "redis-restart-dlq",
]
# `make chaos QUICK=1` (CI, ~3 min with the Redis restarts): at-least-once delivery amplified,
# a writer killed mid-batch (redelivery after the visibility timeout), Redis failing over to a
# replica that lags; the outages of a whole service wait out a restart and a visibility timeout.
QUICK = {"duplicates", "writer-killed", "redis-failover"}


@pytest.fixture
def redis_just_started(cfg):
    """Each scenario begins on a Redis that has just started empty, its numbering epoch closed, as
    on a stack brought up a moment ago: no scenario leans on what the one before it left."""
    stack.stop(cfg, "redis")
    stack.start(cfg, "redis")


@pytest.mark.parametrize(
    "scenario", [pytest.param(s, marks=[pytest.mark.chaos_quick] if s in QUICK else []) for s in SCENARIOS]
)
def test_nothing_accepted_is_lost_or_duplicated(scenario, redis_just_started):
    report = run_scenario(scenario, Plan())
    assert report.ok, report.to_json()
    assert report.accepted > 0, report.to_json()
    assert not [n for n in report.notes if n.startswith("UNEXPECTED")], report.notes
