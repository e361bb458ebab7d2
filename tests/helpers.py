"""Small helpers shared by the test layers."""

import time
from collections.abc import Callable


def eventually(check: Callable, timeout: float = 30.0, interval: float = 0.25):
    """Polls `check` until it returns something truthy, and returns that; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")
