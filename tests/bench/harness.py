"""How `make bench` runs one section: under a time limit, and a section that fails or hangs is
recorded as failed instead of ending the run (tests/unit/test_bench_harness.py)."""

import contextlib
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any


class SectionTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float, again_every: float = 30) -> Iterator[None]:
    """Raises SectionTimeout in the main thread after `seconds`, and again every `again_every`
    seconds while the section's clean-up still blocks (a join on a hung process or thread)."""

    def expire(signum: int, frame: object) -> None:
        raise SectionTimeout(f"no result within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, again_every)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_section(action: Callable[[], dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The section's figures, or {"failed": True, "error": ...}; with "section_s" either way."""
    started = time.monotonic()
    try:
        with time_limit(seconds):
            result = action()
    except Exception as exc:  # one broken section must not lose the others' figures
        traceback.print_exc()
        result = {"failed": True, "error": f"{type(exc).__name__}: {exc}"}
    result["section_s"] = round(time.monotonic() - started, 1)
    return result
