"""How many of a search's hits one answer holds, decided from their sizes before any big body is read.

What a search costs is not the query (2-13 ms of Elasticsearch's time on a chat of 1,000 bodies of
64 KB that all match) but reading and highlighting the bodies it answers with: about 4 ms per
64 KB body, 1 ms per 5 KB, 0.3 ms per 200 bytes on the loaded 2-core machine (docs/performance.md,
5b). A page therefore holds at most `limit` hits and at most PAGE_COST of `cost`; the rest is the
next page's. Search.find reads each hit's size from a doc value (`answer_bytes`) with the ranking,
fetches the small bodies with it (`small_size`), and the big ones only where they fit the page.
"""

from collections.abc import Sequence

# Highlighting analyzes a hit's first characters (search_query.HIGHLIGHT): a fixed amount of work per
# hit of at least this many characters, which HIT_COST prices in bytes of body read.
HIGHLIGHT_CHARS = 1_000
# 24 KiB: with 16 KiB, pages of 49 bodies of 5 KB took 1.2-1.5 times as long as pages of 12 of
# 64 KB in the same runs (a 5 KB hit cost a third of a 64 KB one, not a quarter).
HIT_COST = 24 * 1024
# A page's bodies and highlighting together, in bytes of body: 11 bodies of 64 KB, 35 of 5 KB,
# 100 of up to 409 bytes. Against 512 and 768 KiB on the loaded machine (same run, 12 bodies of
# 64 KB a page then), 1 MiB took 0.65-0.7 times as long as the 20 of before at limit 20, whose
# quiet p99 was 36.5 ms; in the runs of docs/performance.md 5b, p99 24-45 ms.
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
