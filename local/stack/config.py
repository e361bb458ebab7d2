"""Where the local stack lives: ports, folders and tool paths, all overridable by env vars."""

import glob
import os
import shutil
import subprocess
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
    # Where `make web` (and the browser tests) serve web/ straight from disk.
    web_port: int
    # The local WebSocket gateway (local/wsgate): clients' sockets and the @connections API.
    wsgate_port: int
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

    @property
    def wsgate_url(self) -> str:
        return f"http://127.0.0.1:{self.wsgate_port}"

    @property
    def wsgate_apis(self) -> Path:
        """The WebSocket APIs the gateway serves, one file each (local/wsgate/apis.py)."""
        return self.state / "wsgate" / "apis"


# The Lambda runtime's version: the functions, the layer and every local venv run on it.
PYTHON_VERSION = "3.13"


def python_runs(python: str) -> bool:
    try:
        probe = f"import sys; sys.exit(sys.version_info[:2] != ({PYTHON_VERSION.replace('.', ', ')}))"
        return subprocess.run([python, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except OSError:
        return False


def find_python() -> str:
    """Python 3.13 from CHAT_PYTHON, PATH or pyenv's versions (whose shim fails unless selected);
    the bare name if none runs, which the install stage then reports."""
    if os.environ.get("CHAT_PYTHON"):
        return os.environ["CHAT_PYTHON"]
    name = f"python{PYTHON_VERSION}"
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [
        shutil.which(name),
        *sorted(glob.glob(f"{pyenv}/versions/{PYTHON_VERSION}.*/bin/{name}"))[::-1],
    ]
    return next((c for c in candidates if c and python_runs(c)), name)


def load() -> Config:
    state = Path(os.environ.get("CHAT_STATE_DIR", ROOT / ".local")).resolve()
    return Config(
        state=state,
        mysql_port=_port("MYSQL_PORT", 3306),
        redis_port=_port("REDIS_PORT", 6379),
        es_port=_port("ES_PORT", 9200),
        es_transport_port=_port("ES_TRANSPORT_PORT", 9300),
        localstack_port=_port("LOCALSTACK_PORT", 4566),
        web_port=_port("WEB_PORT", _port("LOCALSTACK_PORT", 4566) + 1),
        wsgate_port=_port("WSGATE_PORT", _port("LOCALSTACK_PORT", 4566) + 2),
        es_heap=os.environ.get("ES_HEAP", "1g"),
        python=find_python(),
    )
