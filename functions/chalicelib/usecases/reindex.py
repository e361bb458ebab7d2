"""Rebuilds the search index from MySQL while the API keeps reading and writing through the alias.

1. Note the database's clock, create the next index version (not behind the alias yet).
2. Copy every message into it at its MySQL version (external versions: an older copy never
   overwrites a newer one). Meanwhile the writer still indexes through the alias into the old index.
3. Catch up: copy again what changed since the last pass began (`updated_at`), until a pass
   finds less than a page of changes (at most CATCH_UP_PASSES times), so that the new index is
   close to current when it starts serving.
4. Swap the alias in one request: from now on the writer indexes into the new version.
5. Wait `settle` seconds, then catch up once more. A writer batch that indexed into the old index
   just before the swap writes MySQL at the same time, and may commit after the last pass read
   it; `settle` must cover a writer invocation (its timeout), after which MySQL holds it.
Every pass starts `CLOCK_MARGIN` early: a statement's `updated_at` is taken when it starts, and
it may become visible a little later.
"""

import datetime
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..domain.errors import Unavailable
from ..domain.models import NewMessage
from .ports import Indexer, IndexVersions, StoredMessages

CLOCK_MARGIN = datetime.timedelta(seconds=30)
# Passes before the swap: each re-reads CLOCK_MARGIN's worth of writes, so under steady traffic
# they never come to nothing; the last catch-up after the swap is what guarantees completeness.
CATCH_UP_PASSES = 3
ATTEMPTS = 5  # per page: a busy cluster rejects (429) part of a bulk request; the rest is kept


@dataclass
class Progress:
    phase: str  # "copy", "catch-up", "swapped" (then `settle` seconds pass), "final catch-up"
    done: int
    total: int


@dataclass(frozen=True)
class Result:
    old: str | None
    new: str
    copied: int
    caught_up: int
    seconds: float


def rebuild(
    source: StoredMessages,
    versions: IndexVersions,
    new_search: Callable[[str], Indexer],
    page: int = 2000,
    settle: float = 30.0,
    drop_old: bool = False,
    progress: Callable[[Progress], None] = lambda p: None,
) -> Result:
    started = time.monotonic()
    since = source.now() - CLOCK_MARGIN
    total = source.count()
    old = versions.serving()
    new = versions.create_next()
    target = new_search(new)
    copied = _copy(source, target, page, None, lambda n: progress(Progress("copy", n, total)))

    caught_up = 0
    for _ in range(CATCH_UP_PASSES):
        pass_started = source.now() - CLOCK_MARGIN
        n = _copy(source, target, page, since, lambda n: progress(Progress("catch-up", n, 0)))
        caught_up, since = caught_up + n, pass_started
        if n < page:
            break
    versions.swap(new, old)
    progress(Progress("swapped", copied + caught_up, 0))
    time.sleep(settle)
    caught_up += _copy(source, target, page, since, lambda n: progress(Progress("final catch-up", n, 0)))
    if drop_old and old is not None and old != versions.alias:
        versions.drop(old)
    return Result(old, new, copied, caught_up, time.monotonic() - started)


def _copy(
    source: StoredMessages,
    target: Indexer,
    page: int,
    since: datetime.datetime | None,
    tick: Callable[[int], None],
) -> int:
    """Indexes every message (changed since `since`, if given) into `target`; returns how many."""
    done = 0
    for messages in _read_ahead(source.pages(page, changed_since=since)):
        left = messages
        for _ in range(ATTEMPTS):
            failed = target.index(left)
            left = [m for m in left if m.key in failed]
            if not left:
                break
            time.sleep(1)
        else:
            raise Unavailable(
                f"{len(left)} messages could not be indexed, e.g. {next(iter(failed.values()))}"
            )
        done += len(messages)
        tick(done)
    return done


def _read_ahead(pages: Iterator[list[NewMessage]]) -> Iterator[list[NewMessage]]:
    """The next page is read from MySQL while the current one is indexed."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reindex-read") as reader:
        upcoming = reader.submit(next, pages, None)
        while (current := upcoming.result()) is not None:
            upcoming = reader.submit(next, pages, None)
            yield current
