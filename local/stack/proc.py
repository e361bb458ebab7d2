"""Start, find and stop the processes we own: one pid file and one log file per service."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class StackError(Exception):
    """A step of the stack failed; the message says which and where its log is."""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class Process:
    """A detached process identified by its pid file; `marker` guards against reused pids."""

    def __init__(self, name: str, run_dir: Path, log_dir: Path, marker: str):
        self.name = name
        self.pid_file = run_dir / f"{name}.pid"
        self.log = log_dir / f"{name}.log"
        self.marker = marker

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        if alive(pid) and self.marker in _cmdline(pid):
            return pid
        return None

    def start(self, argv: list, env: dict | None = None, cwd: Path | None = None) -> int:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            log.write(f"\n--- {time.strftime('%F %T')} starting {' '.join(map(str, argv))}\n".encode())
            log.flush()
            child = subprocess.Popen(
                [str(a) for a in argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(child.pid))
        return child.pid

    def stop(self, timeout: float = 20.0) -> bool:
        """Ends the process group we started; True if something was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        if not wait_for(lambda: not alive(pid), timeout):
            _signal_group(pid, signal.SIGKILL)
            wait_for(lambda: not alive(pid), 5)
        # Children that outlived their leader are still in its group.
        _signal_group(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def leftovers(marker: str) -> list:
    """(pid, command line) of live processes whose command line names `marker` (our state dir)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and alive(int(entry)):
            cmdline = _cmdline(int(entry))
            if marker in cmdline:
                found.append((int(entry), cmdline))
    return found


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except Exception:  # a probe that raises means "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def run(argv: list, log: Path, env: dict | None = None, cwd: Path | None = None) -> None:
    """Runs a build or install step to completion, its output appended to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%F %T')} {' '.join(map(str, argv))}\n".encode())
        out.flush()
        code = subprocess.call(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
        )
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise StackError(f"`{' '.join(map(str, argv))}` exited {code}; log {log}:\n{tail}")
