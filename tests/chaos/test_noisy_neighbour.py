"""One tenant flooding at its quota does not hold back another (docs/reliability.md)."""

import pytest

from tests.chaos.scenarios import Plan, run_scenario

pytestmark = pytest.mark.chaos


def test_a_tenant_flooding_at_its_quota_neither_loses_nor_slows_another():
    report = run_scenario("noisy-neighbour", Plan())
    # ok: nothing lost or duplicated, every persisted message indexed, none dead-lettered.
    assert report.ok and report.dead_lettered == 0, report.to_json()
    assert report.persisted == report.accepted == report.offered, report.to_json()
    assert report.accept_p99_ratio is not None and report.accept_p99_ratio <= 2.0, report.notes
