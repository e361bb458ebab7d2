"""`make reindex`: rebuilds the search index from MySQL behind the alias, with progress and an ETA.

Reads the functions' settings from the environment (MYSQL_*, ELASTICSEARCH_URL, MESSAGES_INDEX and
the secret ARNs on AWS: docs/deploy-aws.md), so it runs wherever those stores are reachable.
"""

import argparse
import sys
import time
from typing import TextIO

from chalicelib.adapters.mysql.mysql import MySQL
from chalicelib.adapters.mysql.stored_messages import StoredMessages
from chalicelib.adapters.search.indexer import Indexer
from chalicelib.adapters.search.search_index import IndexVersions
from chalicelib.usecases import reindex
from chalicelib.wiring import clients, settings


class Bar:
    """One line per phase on stderr: a bar, the count, the rate and the time left, redrawn at most
    4 times a second on a terminal (elsewhere a line every 10 s), and drawn once more at its end."""

    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._started = self._drawn = self._ticked = time.monotonic()
        self._last: reindex.Progress | None = None
        self._pending = False  # the last state has not been drawn

    def __call__(self, p: reindex.Progress) -> None:
        now = time.monotonic()
        if self._last is not None and p.phase != self._last.phase:
            self.close()
            self._started = self._ticked  # the phase began when the last one ended
        elif self._last is not None and now - self._drawn < (0.25 if self._tty else 10):
            self._last, self._ticked, self._pending = p, now, True
            return
        self._last, self._ticked = p, now
        self._draw(now)

    def close(self) -> None:
        """Draws the last state of the phase and ends its line."""
        if self._last is not None:
            if self._pending:
                self._draw(self._ticked)
            if self._tty:
                self._stream.write("\n")

    def _draw(self, now: float) -> None:
        assert self._last is not None, "drawn only after a tick"
        self._drawn, self._pending = now, False
        text = line(self._last, now - self._started)
        self._stream.write(f"\r{text}" if self._tty else f"{text}\n")
        self._stream.flush()


def line(p: reindex.Progress, elapsed: float) -> str:
    rate = p.done / elapsed if elapsed > 0 else 0.0
    if p.total <= 0:
        return f"{p.phase:<14} {p.done:>11,} messages  {rate:,.0f}/s"
    share = min(p.done / p.total, 1.0)
    eta = (p.total - p.done) / rate if rate > 0 else float("nan")
    bar = "#" * int(share * 30)
    eta_text = "--:--" if eta != eta else _clock(eta)
    return f"{p.phase:<14} [{bar:<30}] {share:4.0%} {p.done:>11,}/{p.total:,}  {rate:,.0f}/s  ETA {eta_text}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make reindex", description=__doc__.splitlines()[0])
    parser.add_argument("--page", type=int, default=2000, help="messages read and indexed at once")
    parser.add_argument(
        "--settle",
        type=float,
        default=30,
        help="seconds between the swap and the last catch-up: at least the writer's timeout",
    )
    parser.add_argument("--drop-old", action="store_true", help="delete the old index after the swap")
    args = parser.parse_args(argv)
    s = settings.get()
    es = clients.elasticsearch_client(s)
    bar = Bar()
    result = reindex.rebuild(
        StoredMessages(MySQL(clients.mysql_connect(s))),
        IndexVersions(es, s.messages_index, s.search_shards),
        lambda name: Indexer(es, name),
        page=args.page,
        settle=args.settle,
        drop_old=args.drop_old,
        progress=bar,
    )
    bar.close()
    print(
        f"{s.messages_index} -> {result.new} (was {result.old}): {result.copied:,} copied, "
        f"{result.caught_up:,} caught up, {result.seconds:.1f} s"
        + ("" if args.drop_old or result.old is None else f"; `{result.old}` kept (delete it when done)"),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
