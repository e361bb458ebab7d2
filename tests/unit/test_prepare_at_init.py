"""Lambda's init phase builds what its entry point's requests read (wiring/stores.prepare), so that
the drivers' imports and the clients do not count against the first request's timeout."""

from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

from chalicelib.adapters import aws
from chalicelib.usecases import ports
from chalicelib.wiring import settings, stores

TEMPLATE = cfn_yaml.load(str(Path(__file__).resolve().parents[2] / "infra" / "template.yaml"))
HANDLERS = {
    r["Properties"]["Handler"]
    for r in TEMPLATE["Resources"].values()
    if r["Type"] == "AWS::Serverless::Function"
}


@pytest.fixture
def built(monkeypatch):
    """Adapters as a function builds them, from the local defaults (nothing connects to build)."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    adapters = stores.build(settings.from_env({"WEBSOCKET_ENDPOINT": "http://127.0.0.1:1/ws"}))
    for handler, (protocol, _) in list(stores.ENTRY_POINTS.items()):
        monkeypatch.setitem(stores.ENTRY_POINTS, handler, (protocol, lambda: adapters))
    return adapters


def test_each_entry_point_prepared_is_a_function_of_the_template():
    assert set(stores.ENTRY_POINTS) <= HANDLERS


def _adapters(protocol: type) -> set[str]:
    return {
        name
        for cls in protocol.__mro__
        for name, value in vars(cls).items()
        if isinstance(value, property) and name in stores.BUILT
    }


def test_the_api_environment_builds_its_adapters_at_init_but_the_search_client(monkeypatch, built):
    monkeypatch.setenv("_HANDLER", "app.app")
    assert set(stores.prepare()) == _adapters(ports.Deps) - {"finder"}
    assert {"db", "queue", "keys", "tokens"} <= built.__dict__.keys()
    assert not {"finder", "elasticsearch"} & built.__dict__.keys()


def test_the_socket_environment_builds_what_identifies_a_credential_and_its_own(monkeypatch, built):
    monkeypatch.setenv("_HANDLER", "handlers.socket.handle_socket")
    assert set(stores.prepare()) == _adapters(ports.SocketDeps)
    assert {"db", "tokens", "connections", "sockets"} <= built.__dict__.keys()
    assert not {"queue", "keys", "reservations", "elasticsearch"} & built.__dict__.keys()


def test_the_push_environment_builds_its_own_adapters_and_no_redis(monkeypatch, built):
    monkeypatch.setenv("_HANDLER", "handlers.push.push_changes")
    assert set(stores.prepare()) == _adapters(ports.PushDeps)
    assert {"db", "connections", "sockets", "fan_out"} <= built.__dict__.keys()
    assert not {"redis", "tokens", "elasticsearch"} & built.__dict__.keys()


def test_the_writer_environment_builds_its_search_client_at_init(monkeypatch, built):
    monkeypatch.setenv("_HANDLER", "handlers.writer.handle_creations")
    assert set(stores.prepare()) == _adapters(ports.WriterDeps)
    assert "elasticsearch" in built.__dict__


def test_outside_lambda_importing_the_app_builds_nothing(monkeypatch):
    monkeypatch.delenv("_HANDLER", raising=False)
    for handler, (protocol, _) in list(stores.ENTRY_POINTS.items()):
        monkeypatch.setitem(stores.ENTRY_POINTS, handler, (protocol, lambda: pytest.fail("built")))
    assert stores.prepare() == []


def test_an_adapter_that_cannot_be_built_at_init_is_left_to_the_first_request(monkeypatch, built):
    monkeypatch.setenv("_HANDLER", "app.app")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)  # the SQS client cannot be made without a region
    monkeypatch.setattr(aws, "_session", None)  # as at a Lambda's init: no botocore session yet
    prepared = stores.prepare()
    assert "queue" not in prepared and "db" in prepared
    assert "queue" not in built.__dict__
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert built.queue is not None  # the first request builds it
