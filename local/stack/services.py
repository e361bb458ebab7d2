"""The long-running services of the local stack: how each starts, and how we know it is up."""

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import probes
from .config import ROOT, Config
from .proc import Process, StackError, run, wait_for

MYSQL_DATABASE = "chat"
MYSQL_USER = "chat"
MYSQL_PASSWORD = "chat"


@dataclass
class Service:
    name: str
    marker: str  # a word of the command line, so a reused pid is never taken for ours
    argv: Callable[[Config], list]
    healthy: Callable[[Config], bool]
    url: Callable[[Config], str]  # where clients reach it; its port is the one the service takes
    env: Callable[[Config], dict | None] = lambda cfg: None
    prepare: Callable[[Config], None] = lambda cfg: None
    after_start: Callable[[Config], None] = lambda cfg: None
    start_timeout: float = 60.0

    def process(self, cfg: Config) -> Process:
        return Process(self.name, cfg.run, cfg.logs, self.marker)

    def up(self, cfg: Config) -> str:
        """Starts the service unless it already runs, then its after_start; 'running' or 'started'."""
        proc = self.process(cfg)
        if proc.pid() is not None and self.healthy(cfg):
            self.after_start(cfg)  # idempotent: a running service gets what a newer stack needs
            return "running"
        if proc.pid() is None and probes.port_open(urlparse(self.url(cfg)).port or 0):
            raise StackError(
                f"{self.name}: port in use by a process we did not start; "
                f"free it or set another port (see README)"
            )
        self.prepare(cfg)
        if proc.pid() is None:
            proc.start(self.argv(cfg), env=self.env(cfg), cwd=ROOT)
        if not wait_for(lambda: proc.pid() is not None and self.healthy(cfg), self.start_timeout):
            state = "exited" if proc.pid() is None else f"not healthy after {self.start_timeout:.0f} s"
            raise StackError(f"{self.name} {state}; last lines of {proc.log}:\n{proc.tail()}")
        self.after_start(cfg)
        return "started"


# --- MariaDB ---------------------------------------------------------------------------------


def _mysql_dir(cfg: Config) -> Path:
    return cfg.data / "mariadb"


def _mysql_socket(cfg: Config) -> Path:
    return cfg.run / "mariadb.sock"


def _mysql_prepare(cfg: Config) -> None:
    datadir = _mysql_dir(cfg)
    if (datadir / "mysql").is_dir():
        return
    datadir.mkdir(parents=True, exist_ok=True)
    run(
        [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={datadir}",
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ],
        cfg.logs / "mariadb-install.log",
    )


def _mysql_argv(cfg: Config) -> list:
    return [
        "mariadbd",
        "--no-defaults",
        f"--datadir={_mysql_dir(cfg)}",
        f"--port={cfg.mysql_port}",
        "--bind-address=127.0.0.1",
        f"--socket={_mysql_socket(cfg)}",
        "--user=root",
        f"--pid-file={cfg.run / 'mariadbd.pid'}",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=256M",
        "--max-connections=500",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]


def _mysql_root(cfg: Config, sql: str) -> str:
    out = subprocess.run(
        ["mariadb", "--no-defaults", "-uroot", f"--socket={_mysql_socket(cfg)}", "-N", "-e", sql],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if out.returncode != 0:
        raise StackError(f"mariadb: {out.stderr.strip()}")
    return out.stdout


def _mysql_healthy(cfg: Config) -> bool:
    return _mysql_socket(cfg).exists() and _mysql_root(cfg, "SELECT 1").strip() == "1"


def _mysql_bootstrap(cfg: Config) -> None:
    _mysql_root(
        cfg,
        f"CREATE DATABASE IF NOT EXISTS {MYSQL_DATABASE};"
        f"CREATE USER IF NOT EXISTS '{MYSQL_USER}'@'%' IDENTIFIED BY '{MYSQL_PASSWORD}';"
        # As Aurora's master user may: the schema function creates and grants the API's
        # DML-only login (functions/chalicelib/schema.py, Schema.grant_api_user).
        f"GRANT ALL ON {MYSQL_DATABASE}.* TO '{MYSQL_USER}'@'%' WITH GRANT OPTION;"
        f"GRANT CREATE USER ON *.* TO '{MYSQL_USER}'@'%';",
    )


MARIADB = Service(
    "mariadb",
    "mariadbd",
    _mysql_argv,
    _mysql_healthy,
    lambda cfg: f"mysql://{MYSQL_USER}:{MYSQL_PASSWORD}@127.0.0.1:{cfg.mysql_port}/{MYSQL_DATABASE}",
    prepare=_mysql_prepare,
    after_start=_mysql_bootstrap,
)

# --- Redis -----------------------------------------------------------------------------------
# No persistence on purpose: Redis is a cache here, and a restart that empties it is a case
# the product must survive (see docs/architecture.md).
# Only keys with a TTL may be evicted, and only caches have one: numbering, the change marks and
# the Idempotency-Key records never do. infra/data.yaml and docker-compose.yml say the same.
REDIS_MAXMEMORY_POLICY = "volatile-lru"

REDIS = Service(
    "redis",
    "redis-server",
    lambda cfg: [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--port",
        str(cfg.redis_port),
        "--dir",
        str(cfg.data),
        "--save",
        "",
        "--appendonly",
        "no",
        "--maxmemory-policy",
        REDIS_MAXMEMORY_POLICY,
        "--daemonize",
        "no",
    ],
    lambda cfg: probes.redis_ping(cfg.redis_port),
    lambda cfg: f"redis://127.0.0.1:{cfg.redis_port}/0",
    # A Redis started by an older stack gets the policy without a restart (which would empty it).
    after_start=lambda cfg: _redis_policy(cfg),
)


def _redis_policy(cfg: Config) -> None:
    reply = probes.redis_command(cfg.redis_port, "CONFIG", "SET", "maxmemory-policy", REDIS_MAXMEMORY_POLICY)
    if not reply.startswith(b"+OK"):
        raise StackError(f"redis refused its maxmemory-policy: {reply!r}")


# --- Elasticsearch ---------------------------------------------------------------------------

ES_DIR = ROOT / "local" / "elasticsearch"


def es_lib(cfg: Config) -> Path:
    return cfg.state / "elasticsearch" / "lib"


def _es_argv(cfg: Config) -> list:
    # local/elasticsearch/README.md: a real ES 8 node assembled from Maven Central's jars.
    return [
        "java",
        f"-Xms{cfg.es_heap}",
        f"-Xmx{cfg.es_heap}",
        "-cp",
        f"{es_lib(cfg)}/*",
        "local.chat.es.EsNode",
        "--home",
        str(cfg.data / "elasticsearch"),
        "--http-port",
        str(cfg.es_port),
        "--transport-port",
        str(cfg.es_transport_port),
    ]


def _es_healthy(cfg: Config) -> bool:
    status, headers, _ = probes.http_get(f"http://127.0.0.1:{cfg.es_port}/_cluster/health")
    return (
        status == 200
        and headers.get("X-elastic-product", headers.get("X-Elastic-Product")) == "Elasticsearch"
    )


ELASTICSEARCH = Service(
    "elasticsearch",
    "local.chat.es.EsNode",
    _es_argv,
    _es_healthy,
    lambda cfg: f"http://127.0.0.1:{cfg.es_port}",
    start_timeout=120,
)

# --- LocalStack ------------------------------------------------------------------------------


def lambda_python(cfg: Config) -> Path:
    return cfg.venvs / "lambda-runtime" / "bin" / "python"


def _localstack_env(cfg: Config) -> dict:
    state = cfg.state / "localstack"
    lines = subprocess.run(
        ["bash", str(ROOT / "local" / "localstack" / "env.sh"), str(state), str(cfg.localstack_port)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, LAMBDA_HOST_PYTHON=str(lambda_python(cfg))),
    ).stdout
    env = dict(os.environ)
    env.update(line.split("=", 1) for line in lines.splitlines() if "=" in line)  # type: ignore[misc]
    return env


def _localstack_healthy(cfg: Config) -> bool:
    status, _, body = probes.http_get(f"{cfg.endpoint}/_localstack/health")
    return status == 200 and json.loads(body).get("services", {}).get("lambda") in ("available", "running")


LOCALSTACK = Service(
    "localstack",
    "localstack.runtime.main",
    lambda cfg: [cfg.venvs / "localstack" / "bin" / "python", "-m", "localstack.runtime.main"],
    _localstack_healthy,
    lambda cfg: cfg.endpoint,
    env=_localstack_env,
    start_timeout=90,
)

# --- the WebSocket gateway ---------------------------------------------------------------------
# LocalStack's free edition has no API Gateway v2: local/wsgate speaks its WebSocket contract to the
# functions deployed in LocalStack (docs/platform.md, "WebSockets").


def _wsgate_healthy(cfg: Config) -> bool:
    status, _, body = probes.http_get(f"{cfg.wsgate_url}/_wsgate/health")
    return status == 200 and json.loads(body).get("status") == "ok"


WSGATE = Service(
    "wsgate",
    "local.wsgate",
    lambda cfg: [
        cfg.venvs / "wsgate" / "bin" / "python",
        "-m",
        "local.wsgate",
        "--port",
        str(cfg.wsgate_port),
        "--apis",
        cfg.wsgate_apis,
        "--lambda-endpoint",
        cfg.endpoint,
    ],
    _wsgate_healthy,
    lambda cfg: cfg.wsgate_url,
    start_timeout=30,
)

ALL = [MARIADB, REDIS, ELASTICSEARCH, LOCALSTACK, WSGATE]
