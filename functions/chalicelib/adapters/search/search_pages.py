"""How many of a search's hits one answer holds, decided from their sizes before any big body is read.

What a search costs is not the query but reading and highlighting the bodies it answers with
(docs/performance.md, "Search cost bounds"). A page therefore holds at most `limit` hits and at
most PAGE_COST of `cost`; the rest is the next page's. Finder.find reads each hit's size from a
doc value (`answer_bytes`) with the ranking, fetches the small bodies with it (`small_size`), and
the big ones only where they fit the page.
"""

from collections.abc import Sequence

# Highlighting analyzes a hit's first characters (search_query.HIGHLIGHT): a fixed amount of work per
# hit of at least this many characters, which HIT_COST prices in bytes of body read.
HIGHLIGHT_CHARS = 1_000
# 24 KiB: a 5 KB hit costs a third of a 64 KB one, not a quarter (docs/performance.md, "Search
# cost bounds").
HIT_COST = 24 * 1024
# A page's bodies and highlighting together, in bytes of body: 11 bodies of 64 KB, 35 of 5 KB,
# 100 of up to 409 bytes; why 1 MiB: docs/performance.md, "Search cost bounds".
PAGE_COST = 1024 * 1024


def cost(size: int) -> int:
    """What answering a hit costs, in bytes: its body's `answer_bytes` and its highlighting."""
    return size + HIT_COST * min(size, HIGHLIGHT_CHARS) // HIGHLIGHT_CHARS


def small_size(limit: int) -> int:
    """The largest body of which `limit` + 1 hits always fit one page: fetched with the ranking,
    before the sizes are known."""
    share = PAGE_COST // (limit + 1)
    if share >= cost(HIGHLIGHT_CHARS):
        return share - HIT_COST
    return share * HIGHLIGHT_CHARS // (HIGHLIGHT_CHARS + HIT_COST)


def cut(sizes: Sequence[int], limit: int) -> int:
    """How many of the first hits (by their `answer_bytes`) make a page: at most `limit`, at most
    PAGE_COST together, and always the first, which fits alone (a body is at most 64 KB, 384 KB
    escaped)."""
    total = 0
    for count, size in enumerate(sizes[:limit]):
        total += cost(size)
        if total > PAGE_COST and count > 0:
            return count
    return min(len(sizes), limit)
