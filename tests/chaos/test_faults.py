"""The fault matrix of docs/reliability.md: nothing accepted is lost or duplicated.

Each case offers CHAOS_N message creates (default 10,000) and a chat create after every 50, at
CHAOS_RATE per second, injects its fault mid-stream, waits for recovery and checks the
invariants (tests/chaos/invariants.py). Results are appended to $CHAT_STATE_DIR/chaos/results.jsonl.
"""

import pytest

from tests.chaos.scenarios import Plan, run_scenario

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize(
    "scenario",
    [
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
    ],
)
def test_nothing_accepted_is_lost_or_duplicated(scenario):
    report = run_scenario(scenario, Plan())
    assert report.ok, report.to_json()
    assert not [n for n in report.notes if n.startswith("UNEXPECTED")], report.notes
