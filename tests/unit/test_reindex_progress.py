"""The reindex's progress line: share, rate and time left."""

from chalicelib.usecases.reindex import Progress
from ops import reindex  # ops/reindex.py, the entry point of `make reindex`


def test_the_copy_shows_share_rate_and_time_left():
    text = reindex.line(Progress("copy", 250_000, 1_000_000), elapsed=10.0)
    assert "25%" in text and "250,000/1,000,000" in text and "25,000/s" in text and "ETA 0:30" in text


def test_a_catch_up_of_unknown_size_shows_count_and_rate():
    text = reindex.line(Progress("catch-up", 40, 0), elapsed=2.0)
    assert "ETA 1:10:00" in reindex.line(Progress("copy", 1_000, 421_000), elapsed=10.0)
    assert "40 messages" in text and "20/s" in text and "ETA" not in text
