"""Small helpers shared by the test layers."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def invoke(handler: Callable[[Any, Any], Any], event: Any, memory_size: int = 512) -> Any:
    """Calls a function's handler (handlers/) as Lambda would: with a Lambda context."""
    from chalice.local import LambdaContext

    return handler(event, LambdaContext(handler.__name__, memory_size=memory_size))


def eventually(check: Callable, timeout: float = 30.0, interval: float = 0.25):
    """Polls `check` until it returns something truthy, and returns that; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")


class RedisServer:
    """A `redis-server` of a test's own on loopback: a replica to fail over to, or a server to restart."""

    def __init__(self, ports, directory, replica_of: int | None = None):
        """`ports`: one port or several to try in turn (a loopback port of the range may be some
        client connection's source port at that moment); a restart keeps the one it got."""
        self.ports = [ports] if isinstance(ports, int) else list(ports)
        self.port, self.dir, self.replica_of = self.ports[0], Path(directory), replica_of
        self.process: subprocess.Popen | None = None
        self._chosen = False

    def start(self, dbfilename: str = "dump.rdb") -> "RedisServer":
        for port in [self.port] if self._chosen else self.ports:
            if self._start_on(port, dbfilename):
                self.port, self._chosen = port, True
                return self
        raise AssertionError(f"redis-server could not listen on any of {self.ports}")

    def _start_on(self, port: int, dbfilename: str) -> bool:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.dir)]
        argv += ["--dbfilename", dbfilename, "--save", "", "--appendonly", "no", "--daemonize", "no"]
        if self.replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=port, socket_timeout=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # it could not listen there
            if self._pings():
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def _pings(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def in_sync(self) -> bool:
        return self.client.info("replication").get("master_link_status") == "up"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# What an answer adds to a message's or chat's content: when, by whom (tests of content drop them).
_ABOUT = {"created_at", "edited_at", "deleted_at", "author", "last_message_at", "last_change"}


def content(answer: Any) -> Any:
    """A message or chat answer (or a list of them) without its times and author."""
    if isinstance(answer, list):
        return [content(item) for item in answer]
    return {k: v for k, v in answer.items() if k not in _ABOUT}
