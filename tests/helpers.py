"""Small helpers shared by the test layers."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path


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

    def __init__(self, port: int, directory, replica_of: int | None = None):
        self.port, self.dir, self.replica_of = port, Path(directory), replica_of
        self.process: subprocess.Popen | None = None

    def start(self, dbfilename: str = "dump.rdb") -> "RedisServer":
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir)]
        argv += ["--dbfilename", dbfilename, "--save", "", "--appendonly", "no", "--daemonize", "no"]
        if self.replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, socket_timeout=5)
        eventually(lambda: self._pings(), timeout=10, interval=0.05)
        assert self.process.poll() is None, f"redis-server could not start on port {self.port}"
        return self

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
