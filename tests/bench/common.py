"""Plumbing shared by the benchmarks: paths, timing, percentiles, and the bench's own stores.

Every benchmark writes to stores of its own - the databases `chat_bench` (1M messages, kept and
reused) and `chat_bench_w` (emptied by each run), Redis database 7, indexes named `bench-*`,
queues and functions named `chat-bench-*` - so the deployed `chat` stack's data is never touched.
"""

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
STATE = Path(os.environ.get("CHAT_STATE_DIR", ROOT / ".local")).resolve()
OUT_DIR = STATE / "bench"
sys.path.insert(0, str(FUNCTIONS))

# Clients talk to the local stack's LocalStack, never to AWS (as tests/conftest.py does).
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
ENDPOINT = f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}"
os.environ.setdefault("AWS_ENDPOINT_URL", ENDPOINT)
MYSQL_PORT = int(os.environ.get("MYSQL_PORT", "3306"))
REDIS_PORT = int(os.environ.get("REDIS_PORT", "6379"))
ES_URL = f"http://127.0.0.1:{os.environ.get('ES_PORT', '9200')}"

DATA_DB = "chat_bench"  # 1M messages, reused between runs (tests/bench/datagen.py)
WRITE_DB = "chat_bench_w"  # what the benchmarks write to; emptied as they need
REDIS_DB = 7
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/{REDIS_DB}"

from chalicelib.wiring import settings, stores  # noqa: E402
from local.stack.measure import _tree  # noqa: E402  (a process and its descendants)
from tests.bench import datagen  # noqa: E402

# -- figures -------------------------------------------------------------------------------------


def percentile(values: list, p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(p / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def latency(ms: list) -> dict:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else None,
    }


def load_average() -> list:
    return [round(x, 2) for x in os.getloadavg()]


def ratio(a, b, digits: int = 2):
    return round(a / b, digits) if a and b else None


class Progress:
    """One line per step on the terminal, each with the time since the section started."""

    def __init__(self, section: str):
        self.section = section
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        print(f"  [{self.section} {time.monotonic() - self.started:6.1f} s] {text}", flush=True)


class Cpu:
    """CPU seconds used by this process and by each service of the stack (LocalStack with its
    Lambda environments), between `start()` and `stop()`: unlike wall time, barely moved by the
    other work sharing the machine's two cores."""

    SERVICES = ("mariadb", "elasticsearch", "redis", "localstack")

    def __init__(self, services=SERVICES):
        self._pids = {name: _pid(name) for name in services}
        self._start = {}

    def _now(self) -> dict:
        out = {name: sum(map(cpu_seconds, _tree(pid))) for name, pid in self._pids.items() if pid}
        out["bench"] = time.process_time()
        return out

    def start(self) -> "Cpu":
        self._start = self._now()
        return self

    def stop(self) -> dict:
        now = self._now()
        return {name: round(now[name] - self._start.get(name, 0.0), 3) for name in now}


def _pid(service: str):
    try:
        return int((STATE / "run" / f"{service}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


# -- the bench's stores --------------------------------------------------------------------------


def root_sql(*statements: str, database: str = "mysql") -> None:
    with datagen.connect(database) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def ensure_database(name: str) -> None:
    """Creates the database with the product's schema; the `chat` user (the functions' login) may use it."""
    root_sql(f"CREATE DATABASE IF NOT EXISTS {name}", f"GRANT ALL ON {name}.* TO 'chat'@'%'")
    from chalicelib.adapters.mysql.mysql import MySQL
    from chalicelib.adapters.mysql.schema import Schema

    Schema(MySQL(lambda: datagen.connect(name))).migrate()


def empty_tables(database: str) -> None:
    root_sql(
        "SET FOREIGN_KEY_CHECKS = 0",
        "TRUNCATE messages",
        "TRUNCATE chats",
        "TRUNCATE applications",
        "SET FOREIGN_KEY_CHECKS = 1",
        database=database,
    )


def function_env(database: str = WRITE_DB, index: str = "bench-messages", queue_url: str = "") -> dict:
    """The variables a function of the bench gets: the product's settings, pointed at bench stores."""
    return {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": str(MYSQL_PORT),
        "MYSQL_DATABASE": database,
        "MYSQL_USER": "chat",
        "MYSQL_PASSWORD": "chat",
        "REDIS_URL": REDIS_URL,
        "ELASTICSEARCH_URL": ES_URL,
        "MESSAGES_INDEX": index,
        "CREATIONS_QUEUE_URL": queue_url,
        "API_TIMEOUT_SECONDS": "10",
        # One application offers the whole load: the quota check runs (it is part of the path
        # measured) but never refuses, or the figures would be those of 429s.
        "RATE_LIMIT_CREATES": "1000000000",
        "RATE_LIMIT_EDITS": "1000000000",
        "RATE_LIMIT_SEARCHES": "1000000000",
        "POWERTOOLS_METRICS_NAMESPACE": "ChatBench",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",  # as the template's default (Tracing off)
    }


def deps(database: str = WRITE_DB, index: str = "bench-messages", queue_url: str = ""):
    """The product's adapters, built as a function builds them, against bench stores."""
    return stores.build(settings.from_env({**os.environ, **function_env(database, index, queue_url)}))
