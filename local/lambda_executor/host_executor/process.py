"""One execution environment as an OS process: spawn it, connect to it, watch it, kill it, read its log."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

RUNTIME_DIR = Path(__file__).parent / "runtime"

# -P keeps the script's directory off sys.path and -s the user site: the function sees only the
# plain interpreter, its code and its layers (main() puts RUNTIME_DIR last, like /var/runtime).
BOOTSTRAP = "import sys; sys.path.append(sys.argv[1]); from lambda_host_runtime.main import main; main()"


def host_python() -> str:
    """The plain interpreter that runs functions: LAMBDA_HOST_PYTHON, else the base interpreter of
    LocalStack's venv (same version, none of LocalStack's packages)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return os.environ.get("LAMBDA_HOST_PYTHON") or str(Path(sys.base_prefix) / "bin" / version)


def logs_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "lambda-host-logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


class EnvironmentProcess:
    def __init__(self, popen: subprocess.Popen, port: int, log_path: Path):
        self.popen = popen
        self.port = port
        self.log_path = log_path

    @classmethod
    def spawn(
        cls,
        python: str,
        task_root: Path,
        layer_roots: list[Path],
        env_vars: dict[str, str],
        log_path: Path,
    ) -> "EnvironmentProcess":
        # Made here and inherited: the port is known, and connectable at once.
        listener = socket.create_server(("127.0.0.1", 0))
        with listener, open(log_path, "ab") as log:
            config = {
                "listen_fd": listener.fileno(),
                "parent_pid": os.getpid(),
                "task_root": str(task_root),
                "layer_roots": [str(root) for root in layer_roots],
            }
            popen = subprocess.Popen(
                [python, "-P", "-s", "-u", "-c", BOOTSTRAP, str(RUNTIME_DIR), json.dumps(config)],
                cwd=task_root,
                env=_process_env(python, task_root, env_vars),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # own process group: killed as a whole, deaf to ^C
            )
            return cls(popen, listener.getsockname()[1], log_path)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def connect(self) -> http.client.HTTPConnection:
        """A keep-alive connection to the environment's invoke server (runtime/.../server.py)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.connect()
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def exit_code(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        """Kill the environment and whatever the function started in its process group."""
        try:
            # Linux does not reuse a pid while it names a process group: safe after exit too.
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)

    def wait_exit(self, seconds: float) -> int:
        """The exit code of a process that is going away (its connection broke); killed if it lingers."""
        try:
            return self.popen.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.popen.wait()

    def read_log(self, offset: int = 0) -> bytes:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read()
        except FileNotFoundError:
            return b""

    def truncate_log(self) -> None:
        """Empties the log; the process appends (O_APPEND), so it writes from the start again."""
        os.truncate(self.log_path, 0)

    def remove_log(self) -> None:
        self.log_path.unlink(missing_ok=True)


def _process_env(python: str, task_root: Path, env_vars: dict[str, str]) -> dict[str, str]:
    """A clean environment: nothing of LocalStack's own process leaks into the function."""
    env = {
        "PATH": f"{Path(python).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    env.update(env_vars)
    env["LAMBDA_TASK_ROOT"] = str(task_root)
    env["LAMBDA_RUNTIME_DIR"] = str(RUNTIME_DIR)
    return env
