"""`make dev`: the API under `chalice local` answers against the running stack's stores."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from tests.helpers import content, eventually

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dev_server(stack_outputs, tmp_path_factory):
    """One `make dev` for this module's tests, stopped after them."""
    tmp_path = tmp_path_factory.mktemp("dev")
    port = _free_port()
    log = (tmp_path / "dev.log").open("w")
    # A session of its own: stopping it stops make, chalice's reloader and its worker together.
    server = subprocess.Popen(
        ["make", "-s", "dev", f"DEV_PORT={port}"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers():
        if server.poll() is not None:
            pytest.fail(f"make dev exited with {server.returncode}: {(tmp_path / 'dev.log').read_text()}")
        try:
            return requests.get(f"{url}/applications/unknown-token", timeout=5).status_code
        except requests.ConnectionError:
            return None

    try:
        eventually(answers, timeout=60, interval=0.3)
        yield url, tmp_path / "dev.log"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        log.close()


def test_make_dev_serves_the_api_against_the_stacks_stores_and_queue(dev_server, api):
    dev_server, _ = dev_server
    created = requests.post(f"{dev_server}/applications", json={"name": "dev"}, timeout=10)
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert requests.get(f"{dev_server}/applications/{token}", timeout=10).json()["name"] == "dev"
    assert requests.get(f"{dev_server}/applications/unknown-token", timeout=10).status_code == 404
    # Queued through LocalStack's queue: the deployed writer persists it, as for the deployed API.
    assert requests.post(f"{dev_server}/applications/{token}/chats", timeout=10).status_code == 201
    eventually(
        lambda: (
            content(api.get(f"/applications/{token}/chats").json()) == [{"number": 1, "messages_count": 0}]
        )
    )


def test_make_dev_restarts_the_api_when_a_file_is_saved(dev_server):
    url, log = dev_server
    os.utime(ROOT / "functions" / "app.py")  # a save that changes nothing but the time
    eventually(lambda: "Restarting local dev server." in log.read_text(), timeout=20)
    answer = eventually(lambda: _status(f"{url}/applications/unknown-token"), timeout=30)
    assert answer == 404


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return None
