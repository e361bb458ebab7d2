"""Where the running stack is: `make up` writes its outputs under the state dir."""

import json
import os
from pathlib import Path

import pytest

from tests.receiver import Receiver, start, stop

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("CHAT_STATE_DIR", ROOT / ".local"))

# Clients made by tests and by in-process handlers talk to LocalStack, never to AWS.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_ENDPOINT_URL", f"http://127.0.0.1:{os.environ.get('LOCALSTACK_PORT', '4566')}")
# The same variables move `make up`'s services; the handlers under test read these.
REDIS_PORT = os.environ.get("REDIS_PORT", "6379")
os.environ.setdefault("ELASTICSEARCH_URL", f"http://127.0.0.1:{os.environ.get('ES_PORT', '9200')}")


@pytest.fixture(scope="session")
def stack_outputs() -> dict:
    path = STATE / "stack-outputs.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make up` first")
    return json.loads(path.read_text())


@pytest.fixture
def receiver():
    """A webhook receiver on loopback (tests/receiver.py) for the test's length."""
    receiver = Receiver()
    server = start(receiver)
    yield receiver
    stop(server)
