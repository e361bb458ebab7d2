"""Where the local stack lives: ports, folders and tool paths, all overridable by env vars."""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        sys.exit(f"{name}={value!r} is not a TCP port")
    return int(value)


@dataclass(frozen=True)
class Config:
    state: Path
    mysql_port: int
    redis_port: int
    es_port: int
    es_transport_port: int
    localstack_port: int
    es_heap: str
    python: str

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def data(self) -> Path:
        return self.state / "data"

    @property
    def venvs(self) -> Path:
        return self.state / "venvs"

    @property
    def outputs_file(self) -> Path:
        return self.state / "stack-outputs.json"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.localstack_port}"


def load() -> Config:
    state = Path(os.environ.get("CHAT_STATE_DIR", ROOT / ".local")).resolve()
    return Config(
        state=state,
        mysql_port=_port("MYSQL_PORT", 3306),
        redis_port=_port("REDIS_PORT", 6379),
        es_port=_port("ES_PORT", 9200),
        es_transport_port=_port("ES_TRANSPORT_PORT", 9300),
        localstack_port=_port("LOCALSTACK_PORT", 4566),
        es_heap=os.environ.get("ES_HEAP", "1g"),
        python=os.environ.get("CHAT_PYTHON", "python3.11"),
    )
