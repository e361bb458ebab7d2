"""The host-process Lambda executor, exercised through a running LocalStack (AWS_ENDPOINT_URL).

Each test module run creates its own functions and layer from inline code and deletes them after.
The shutdown tests start a short-lived LocalStack of their own (venv: LOCALSTACK_VENV).
"""

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from local.stack import config

ENDPOINT = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
REPO = Path(__file__).resolve().parents[2]
LOCALSTACK_VENV = Path(os.environ.get("LOCALSTACK_VENV", config.load().venvs / "localstack"))
FUNCTION_TIMEOUT = 2

PROBE = """
import ctypes, importlib.util, logging, os, time
import shared_layer

def handler(event, context):
    action = event.get("action")
    if action == "sleep":
        print(f"pid={os.getpid()}")
        time.sleep(event["seconds"])
    elif action == "raise":
        raise ValueError("boom")
    elif action == "exit":
        os._exit(3)
    elif action == "segfault":
        ctypes.string_at(0)
    elif action == "unserializable":
        return {1, 2}
    elif action == "log":
        print(event["marker"] + "-print")
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("probe").info(event["marker"] + "-logging")
    return {
        "pid": os.getpid(),
        "event": event,
        "greeting": os.environ.get("GREETING"),
        "memory": os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "layer": shared_layer.VALUE,
        "importable": {
            name: importlib.util.find_spec(name) is not None
            for name in ("boto3", "localstack", "host_executor", "plux")
        },
    }
"""


def zip_files(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def client(service: str, endpoint: str = ENDPOINT):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60),
    )


def create_function(lambda_client, code: str, layers=(), environment=None) -> str:
    name = f"executor-test-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": zip_files({"app.py": code})},
        Timeout=FUNCTION_TIMEOUT,
        Environment={"Variables": environment or {}},
        Layers=list(layers),
    )
    deadline = time.monotonic() + 30
    while lambda_client.get_function_configuration(FunctionName=name)["State"] != "Active":
        assert time.monotonic() < deadline, f"{name} never became Active"
        time.sleep(0.05)
    return name


def invoke(lambda_client, name: str, event: dict) -> tuple[dict, dict, str]:
    """Returns (decoded payload, raw response, tail of the invocation's log)."""
    response = lambda_client.invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    payload = json.loads(response["Payload"].read())
    return payload, response, base64.b64decode(response.get("LogResult", "")).decode()


@pytest.fixture(scope="module")
def lambda_client():
    if not healthy(ENDPOINT):
        pytest.fail(f"no LocalStack at {ENDPOINT} (set AWS_ENDPOINT_URL)")
    return client("lambda")


@pytest.fixture(scope="module")
def layer_arn(lambda_client):
    layer = lambda_client.publish_layer_version(
        LayerName=f"executor-test-{uuid.uuid4().hex[:8]}",
        Content={"ZipFile": zip_files({"python/shared_layer.py": "VALUE = 'from-layer'\n"})},
        CompatibleRuntimes=["python3.13"],
    )
    yield layer["LayerVersionArn"]
    lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=layer["Version"])


@pytest.fixture(scope="module")
def probe(lambda_client, layer_arn):
    name = create_function(lambda_client, PROBE, [layer_arn], {"GREETING": "hello"})
    yield name
    lambda_client.delete_function(FunctionName=name)


@pytest.fixture
def function_factory(lambda_client):
    created = []

    def make(code: str) -> str:
        created.append(create_function(lambda_client, code))
        return created[-1]

    yield make
    for name in created:
        lambda_client.delete_function(FunctionName=name)


def test_handler_gets_event_env_vars_and_layer(lambda_client, probe):
    payload, response, _ = invoke(lambda_client, probe, {"action": "echo", "n": 1})

    assert "FunctionError" not in response
    assert payload["event"] == {"action": "echo", "n": 1}
    assert payload["greeting"] == "hello"
    assert payload["memory"] == "128"  # LocalStack hands it over as an int
    assert payload["layer"] == "from-layer"


def test_function_sees_runtime_boto3_but_not_localstack(lambda_client, probe):
    payload, _, _ = invoke(lambda_client, probe, {"action": "echo"})

    assert payload["importable"] == {
        "boto3": True,
        "localstack": False,
        "host_executor": False,
        "plux": False,
    }


def test_print_and_logging_reach_log_tail_and_cloudwatch(lambda_client, probe):
    marker = uuid.uuid4().hex
    _, _, tail = invoke(lambda_client, probe, {"action": "log", "marker": marker})

    assert f"{marker}-print" in tail
    assert re.search(rf"\[INFO\]\t\S+Z\t[0-9a-f-]+\t{marker}-logging", tail)
    assert "END RequestId" in tail and "REPORT RequestId" in tail

    logs = client("logs")
    deadline = time.monotonic() + 10
    while True:
        messages = cloudwatch_messages(logs, f"/aws/lambda/{probe}")
        if f"{marker}-print" in messages and f"{marker}-logging" in messages:
            break
        assert time.monotonic() < deadline, f"markers not in CloudWatch: {messages[-500:]}"
        time.sleep(0.2)


def cloudwatch_messages(logs, group: str) -> str:
    """The log group appears only once LocalStack has stored the first batch, asynchronously."""
    try:
        return "".join(event["message"] for event in logs.filter_log_events(logGroupName=group)["events"])
    except logs.exceptions.ResourceNotFoundException:
        return ""


def test_handler_exception_becomes_error_payload(lambda_client, probe):
    payload, response, tail = invoke(lambda_client, probe, {"action": "raise"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError"
    assert payload["errorMessage"] == "boom"
    assert any("app.py" in frame and "raise ValueError" in frame for frame in payload["stackTrace"])
    assert "[ERROR] ValueError: boom" in tail


def test_unserializable_result_is_a_marshal_error(lambda_client, probe):
    payload, response, _ = invoke(lambda_client, probe, {"action": "unserializable"})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.MarshalError"
    assert payload["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


def test_timeout_kills_the_environment_and_a_new_one_serves_next(lambda_client, probe):
    started = time.monotonic()
    payload, response, tail = invoke(lambda_client, probe, {"action": "sleep", "seconds": 30})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert f"Task timed out after {FUNCTION_TIMEOUT}." in payload["errorMessage"]
    assert FUNCTION_TIMEOUT <= elapsed < FUNCTION_TIMEOUT + 2
    timed_out_pid = int(re.search(r"pid=(\d+)", tail).group(1))
    assert wait_until_gone([timed_out_pid], seconds=2)

    payload, response, _ = invoke(lambda_client, probe, {"action": "echo"})
    assert "FunctionError" not in response
    assert payload["pid"] != timed_out_pid


@pytest.mark.parametrize(
    ("action", "reason"), [("exit", "exit status 3"), ("segfault", "signal: segmentation fault")]
)
def test_process_death_is_an_exit_error_and_next_invoke_works(lambda_client, probe, action, reason):
    payload, response, _ = invoke(lambda_client, probe, {"action": action})

    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert payload["errorMessage"].endswith(f"Runtime exited with error: {reason}")

    _, response, _ = invoke(lambda_client, probe, {"action": "echo"})
    assert "FunctionError" not in response


@pytest.mark.parametrize(
    ("code", "error_type", "message"),
    [
        (
            "import no_such_module_xyz\n",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'no_such_module_xyz'",
        ),
        (
            "def handler(event, context)\n",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app': expected ':' (app.py, line 1)",
        ),
        (
            "def other(event, context):\n    pass\n",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
    ],
    ids=["import", "syntax", "no-handler"],
)
def test_load_failures_are_reported_on_every_invoke(
    lambda_client, function_factory, code, error_type, message
):
    name = function_factory(code)

    for _ in range(2):
        payload, response, _ = invoke(lambda_client, name, {})
        assert response["FunctionError"] == "Unhandled"
        assert (payload["errorType"], payload["errorMessage"]) == (error_type, message)


def _memory_maps(pid: int) -> int:
    return len(Path(f"/proc/{pid}/maps").read_text().splitlines())


def test_invocations_do_not_pile_up_memory_maps_in_localstack(lambda_client, probe):
    """LocalStack keeps a thread per invocation, whose stack Python 3.13 keeps mapped until the
    thread is forgotten: left alone, ~32,000 invocations reached vm.max_map_count and LocalStack
    could start no thread (every API call then answered 502)."""
    pid = int((config.load().run / "localstack.pid").read_text())
    invoke(lambda_client, probe, {"action": "echo"})
    before = _memory_maps(pid)
    for _ in range(500):
        invoke(lambda_client, probe, {"action": "echo"})
    assert _memory_maps(pid) - before < 500  # two maps an invocation when they pile up


def test_concurrent_invocations_run_in_separate_environments(lambda_client, probe):
    sleep, workers = 1.0, 4
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(
            pool.map(
                lambda _: invoke(lambda_client, probe, {"action": "sleep", "seconds": sleep}),
                range(workers),
            )
        )
    elapsed = time.monotonic() - started

    assert all("FunctionError" not in response for _, response, _ in results)
    assert len({payload["pid"] for payload, _, _ in results}) == workers
    assert elapsed < sleep * 2.5, f"{workers} invokes of {sleep}s took {elapsed:.1f}s"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_environment_outlives_localstack(tmp_path, stop_signal):
    """SIGKILL leaves LocalStack no chance to clean up: only the environments' parent watch can."""
    with private_localstack(tmp_path) as (localstack, endpoint):
        lambda_client = client("lambda", endpoint)
        name = create_function(lambda_client, SLEEPER)
        with ThreadPoolExecutor(2) as pool:
            # Two environments; then one of them busy in the handler, the other idle.
            list(pool.map(lambda _: invoke(lambda_client, name, {"seconds": 0.3}), range(2)))
            environments = wait_for_children(localstack.pid, count=2)
            # LocalStack loads logs lazily after the first invoke (and cloudwatch, unless
            # LAMBDA_DISABLE_CLOUDWATCH_METRICS); if it is stopped while they load, its shutdown
            # hangs (a LocalStack race, unrelated to the executor).
            wait_for_services(endpoint, "logs")
            pool.submit(invoke_ignoring_errors, lambda_client, name, {"seconds": 30})
            time.sleep(0.5)
            localstack.send_signal(stop_signal)
            try:
                localstack.wait(timeout=20)
            except subprocess.TimeoutExpired:
                # LocalStack's own shutdown sometimes hangs on a busy machine; `make down` then
                # escalates to SIGKILL after 20 s, and so do we: no environment may survive either.
                localstack.kill()
                localstack.wait(timeout=10)
        assert wait_until_gone(environments, seconds=3), f"orphans: {alive(environments)}"


SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event['seconds'])\n"


def invoke_ignoring_errors(lambda_client, name: str, event: dict) -> None:
    try:
        lambda_client.invoke(FunctionName=name, Payload=json.dumps(event))
    except Exception:
        pass  # LocalStack goes away mid-invocation on purpose


class private_localstack:
    """A LocalStack of its own on a free port, started like the orchestrator does (env.sh)."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None

    def __enter__(self):
        port = free_port()
        lines = subprocess.run(
            [REPO / "local/localstack/env.sh", self.state_dir, str(port)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        env = {"PATH": os.environ["PATH"], **dict(line.split("=", 1) for line in lines)}
        self.process = subprocess.Popen(
            [LOCALSTACK_VENV / "bin/python", "-m", "localstack.runtime.main"],
            env=env,
            cwd=self.state_dir,
            stdout=open(self.state_dir / "localstack.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while not healthy(endpoint):
            assert self.process.poll() is None, (self.state_dir / "localstack.log").read_text()
            assert time.monotonic() < deadline, "private LocalStack not healthy in 60 s"
            time.sleep(0.1)
        return self.process, endpoint

    def __exit__(self, *exc_info):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def healthy(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for_services(endpoint: str, *names: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=1) as response:
            states = json.load(response)["services"]
        if all(states.get(name) == "running" for name in names):
            return
        assert time.monotonic() < deadline, f"services not running: {states}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid:
            found.append(int(status.parent.name))
    return found


def wait_for_children(pid: int, count: int, seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while len(found := children(pid)) < count:
        assert time.monotonic() < deadline, f"LocalStack {pid} has children {found}, wanted {count}"
        time.sleep(0.05)
    return found


def alive(pids: list[int]) -> list[int]:
    """Processes that exist and are not zombies (a reaped-later zombie holds no resources)."""
    living = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            living.append(pid)
    return living


def wait_until_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
