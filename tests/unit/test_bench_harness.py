"""`make bench` runs every section to its end: a section that hangs or fails is recorded as
failed, in the JSON and in the table, and the others' figures are kept."""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.bench import harness, report


def test_a_section_waiting_for_ever_on_a_future_is_stopped_and_recorded_as_failed():
    never: Future[None] = Future()  # as a forked child's pool that has no thread to run it
    started = time.monotonic()
    result = harness.run_section(lambda: {"value": never.result()}, seconds=0.5)
    assert result["failed"] and "SectionTimeout" in result["error"]
    assert time.monotonic() - started < 5


def test_a_section_whose_clean_up_blocks_too_is_interrupted_again():
    release = threading.Event()

    def hangs_in_its_pool() -> None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(release.wait, 30)
            time.sleep(30)  # interrupted here, then again in the pool's join when leaving the block

    started = time.monotonic()
    try:
        with pytest.raises(harness.SectionTimeout), harness.time_limit(0.3, again_every=0.3):
            hangs_in_its_pool()
    finally:
        release.set()
    assert time.monotonic() - started < 10


def test_the_next_section_runs_after_a_failed_one_and_the_timer_is_off():
    failed = harness.run_section(lambda: {"x": 1 / 0}, seconds=5)
    assert failed["failed"] and failed["error"] == "ZeroDivisionError: division by zero"
    time.sleep(0.1)
    assert harness.run_section(lambda: {"x": 1}, seconds=5)["x"] == 1


def test_targets_of_a_failed_section_are_failed_not_missing_and_the_table_says_so():
    results = {
        "writers": {"failed": True, "error": "SectionTimeout: no result within 1200 s"},
        "counter": {"full_recount_all_rows_changed_s": 0.5},  # lacks incremental_s
    }
    verdicts = {v["key"]: v for v in report.evaluate(results)}
    assert verdicts["writers_2"]["met"] == "failed" and verdicts["writers_2"]["value"] is None
    assert verdicts["counter_full"]["met"] is True
    assert verdicts["counter_incremental"]["met"] == "failed"
    assert verdicts["search_p99"]["met"] is None  # not run: neither met nor failed
    table = report.table(results, list(verdicts.values()))
    assert "FAILED" in table and "writers: FAILED SectionTimeout" in table
