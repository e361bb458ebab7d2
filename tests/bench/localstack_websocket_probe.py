"""Why the WebSocket gateway is not inside LocalStack (docs/platform.md, "WebSockets"): a throwaway
LocalStack (its own state dir and an OS-given port, killed at the end) with a WebSocket echo route
added from an init script, as an extension would add it; N sockets held open, and after each step
the process's thread count and its health endpoint's latency.

    .local/venvs/app/bin/python -m tests.bench.localstack_websocket_probe
"""

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import ROOT, STATE

# Runs inside LocalStack (an init script of its start stage): what an extension would do.
ECHO_ROUTE = """
from localstack.http.websocket import WebSocketDisconnectedError
from localstack.services.edge import ROUTER


def ws_echo(request, **kwargs):
    with request.accept() as ws:
        try:
            while True:
                ws.send(ws.receive())
        except WebSocketDisconnectedError:
            pass


ROUTER.add("/_wsprobe", ws_echo)
"""
STEPS = [0, 100, 400, 995, 1000]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(state: Path, port: int) -> subprocess.Popen:
    lines = subprocess.run(
        ["bash", str(ROOT / "local/localstack/env.sh"), str(state), str(port)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = dict(os.environ, **dict(line.split("=", 1) for line in lines.splitlines() if "=" in line))
    init = state / "filesystem" / "etc" / "localstack" / "init" / "start.d"
    init.mkdir(parents=True)
    (init / "ws_echo.py").write_text(ECHO_ROUTE)
    python = STATE / "venvs" / "localstack" / "bin" / "python"
    with open(state / "localstack.log", "wb") as log:
        return subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _health_ms(base: str, requests: int = 20) -> float | str:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        try:
            urllib.request.urlopen(f"{base}/_localstack/health", timeout=10).read()
        except OSError:
            return "no answer within 10 s"
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line.split()[1] for line in status if line.startswith("Threads:")))


async def _probe(port: int, pid: int) -> None:
    base = f"http://127.0.0.1:{port}"
    sockets: list[ClientConnection] = []
    for target in STEPS:
        while len(sockets) < target:
            sockets.append(await connect(f"ws://127.0.0.1:{port}/_wsprobe", proxy=None, open_timeout=10))
        health = await asyncio.to_thread(_health_ms, base)
        step = {"sockets": len(sockets), "threads": _threads(pid), "health_p50_ms": health}
        print(json.dumps(step | {"load_average": os.getloadavg()[0]}), flush=True)
    for opened in sockets:
        await opened.close()


def main() -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="ls-ws-probe-") as folder:
        localstack = _start(Path(folder), port)
        try:
            deadline = time.monotonic() + 120
            while _health_ms(f"http://127.0.0.1:{port}", 1) == "no answer within 10 s":
                if time.monotonic() > deadline or localstack.poll() is not None:
                    raise SystemExit(f"LocalStack did not start; log in {folder}/localstack.log")
                time.sleep(0.5)
            asyncio.run(asyncio.wait_for(_probe(port, localstack.pid), 300))
        finally:
            os.killpg(localstack.pid, signal.SIGKILL)  # its request threads may all be held
            localstack.wait(timeout=30)


if __name__ == "__main__":
    main()
