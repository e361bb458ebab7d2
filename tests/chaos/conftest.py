"""Fault, load and soak tests against the stack that the orchestrator's variables name.

Cases marked `chaos` stop, kill or restart services, or run for minutes: they run under
`make chaos` (CHAOS=1) only. The rest are quick, touch only their own applications, and run in
`make test` against the normal stack.
"""

import os

import pytest

from tests.chaos import stack


def pytest_collection_modifyitems(config, items):
    """Outside `make chaos`, the `chaos` cases are deselected (not run, not reported as skipped)."""
    if os.environ.get("CHAOS") == "1":
        return
    chaos = [item for item in items if item.get_closest_marker("chaos") is not None]
    if chaos:
        config.hook.pytest_deselected(items=chaos)
        items[:] = [item for item in items if item.get_closest_marker("chaos") is None]


@pytest.fixture(scope="session")
def cfg():
    return stack.target()


# Per test: a LocalStack restart in an earlier case redeploys the stack with new queue URLs.
@pytest.fixture
def stores(cfg):
    from tests.chaos.invariants import Stores

    return Stores(cfg)


@pytest.fixture
def deps(cfg):
    return stack.app_deps(cfg)
