"""Which hits make one search page, decided from their sizes before any body is fetched."""

import json

import pytest

from chalicelib.adapters.search.finder import Finder
from chalicelib.adapters.search.search_pages import (
    HIGHLIGHT_CHARS,
    HIT_COST,
    PAGE_COST,
    cost,
    cut,
    small_size,
)
from chalicelib.domain.errors import Unavailable

BIG = len(json.dumps("x" * 65_535))  # a 64 KB body's answer_bytes
LARGEST = len(json.dumps("\x01" * 65_535))  # every character escaped as \u0001


def test_a_page_of_big_bodies_stops_within_the_page_cost_well_before_the_limit():
    count = cut([BIG] * 101, limit=100)
    assert 1 < count < 20
    assert count * cost(BIG) <= PAGE_COST < (count + 1) * cost(BIG)


def test_a_page_of_small_bodies_holds_the_limit():
    assert cut([200] * 101, limit=100) == 100
    assert cut([200] * 7, limit=100) == 7


def test_the_first_hit_makes_a_page_whatever_its_size():
    assert cost(LARGEST) <= PAGE_COST  # it would fit anyway
    assert cut([PAGE_COST * 2, 10], limit=100) == 1
    assert cut([LARGEST, LARGEST, LARGEST], limit=100) == 2
    assert cut([], limit=100) == 0


def test_the_page_cut_is_at_the_first_hit_that_does_not_fit_not_at_a_later_smaller_one():
    fit = PAGE_COST // cost(BIG)
    sizes = [BIG] * fit + [BIG, 10]  # the one after those does not fit, and a smaller next would
    assert cut(sizes, limit=100) == fit


def test_highlighting_costs_more_as_the_body_grows_to_what_it_analyzes():
    assert cost(0) == 0
    assert cost(HIGHLIGHT_CHARS) == HIGHLIGHT_CHARS + HIT_COST
    assert cost(10 * HIGHLIGHT_CHARS) == 10 * HIGHLIGHT_CHARS + HIT_COST
    assert cost(100) < cost(200) < cost(HIGHLIGHT_CHARS)


@pytest.mark.parametrize("limit", [1, 2, 20, 50, 99, 100])
def test_limit_plus_one_small_bodies_always_fit_and_one_byte_more_may_not(limit):
    size = small_size(limit)
    assert (limit + 1) * cost(size) <= PAGE_COST < (limit + 1) * cost(size + 1)
    assert cut([size] * (limit + 1), limit) == limit


class _FailingShard:
    """An msearch whose searches fail on a shard, as Elasticsearch reports it inside a 200."""

    def options(self, **_):
        return self

    def msearch(self, **_):
        error = {"type": "search_phase_execution_exception", "index": "messages-v3", "shard": 0}
        return {"responses": [{"error": error, "status": 500}, {"error": error, "status": 500}]}


def test_a_failed_part_of_a_search_is_unavailable_without_naming_the_index():
    with pytest.raises(Unavailable) as failed:
        Finder(_FailingShard(), "messages").find(7, 1, ["hello"], 10)
    assert failed.value.message == "search is unavailable"
    assert "messages-v3" in str(failed.value.__cause__)  # for the log
