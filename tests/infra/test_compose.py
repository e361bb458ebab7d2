"""docker-compose.yml must stay equivalent to `make up`: same pins, ports and template parameters."""

import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from cfnlint.decode import cfn_yaml

from local.stack import config, deploy

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DEPLOY = SERVICES["deploy"]
LONG_RUNNING = [name for name in SERVICES if name != "deploy"]
DOCKERFILE = ROOT / "local" / "compose" / "Dockerfile"
WSGATE = SERVICES["wsgate"]


def _tag(image: str) -> str:
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"{image} has no tag"
    return tag


def _overrides() -> dict:
    return dict(arg.split("=", 1) for arg in DEPLOY["command"])


def test_every_image_is_pinned_to_an_exact_version():
    images = [svc["image"] for svc in SERVICES.values() if "image" in svc]
    for dockerfile in (ROOT / "local" / "compose").glob("*Dockerfile"):
        images += re.findall(r"^FROM\s+(\S+)", dockerfile.read_text(), re.MULTILINE)
    assert len(images) == len(LONG_RUNNING) + 1
    for image in images:
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[a-z0-9.-]+)?", _tag(image)), f"{image} is not pinned to x.y.z"


def test_localstack_image_is_one_that_starts_without_an_account():
    # Images from 2026.3 on refuse to start without LOCALSTACK_AUTH_TOKEN; the host install
    # (localstack-core from PyPI, local/localstack/requirements.in) needs none (docs/platform.md).
    assert _tag(SERVICES["localstack"]["image"]) == "4.13.1"
    host = re.search(
        r"localstack-core\[runtime\]==([\d.]+)", (ROOT / "local/localstack/requirements.in").read_text()
    )
    assert host.group(1) == "2026.3.0"


def test_elasticsearch_is_the_version_of_the_local_node():
    pom = ET.parse(ROOT / "local" / "elasticsearch" / "pom.xml")
    version = pom.find(
        "{http://maven.apache.org/POM/4.0.0}properties/"
        "{http://maven.apache.org/POM/4.0.0}elasticsearch.version"
    ).text
    assert _tag(SERVICES["elasticsearch"]["image"]) == version


def test_the_deployer_installs_the_pins_of_the_local_stack():
    dockerfile = DOCKERFILE.read_text()
    assert "-r /tmp/sam-requirements.txt" in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    awscli = re.search(r'"(awscli==[\d.]+)"', pyproject).group(1)
    assert re.search(rf"\b{re.escape(awscli)}\b", dockerfile), f"the Dockerfile does not install {awscli}"


def test_ports_are_the_local_stack_defaults_on_loopback_only(monkeypatch):
    for name in ("MYSQL_PORT", "REDIS_PORT", "ES_PORT", "LOCALSTACK_PORT", "WSGATE_PORT"):
        monkeypatch.delenv(name, raising=False)
    cfg = config.load()
    expected = {
        "mysql": cfg.mysql_port,
        "redis": cfg.redis_port,
        "elasticsearch": cfg.es_port,
        "localstack": cfg.localstack_port,
        "wsgate": cfg.wsgate_port,
    }
    published = {name: svc["ports"] for name, svc in SERVICES.items() if "ports" in svc}
    assert published == {name: [f"127.0.0.1:{port}:{port}"] for name, port in expected.items()}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(name):
    assert SERVICES[name]["healthcheck"]["test"]


def test_deploy_waits_for_every_other_service_to_be_healthy():
    assert DEPLOY["depends_on"] == {name: {"condition": "service_healthy"} for name in LONG_RUNNING}


def test_lambda_containers_join_the_compose_network():
    assert (
        SERVICES["localstack"]["environment"]["LAMBDA_DOCKER_NETWORK"]
        == COMPOSE["networks"]["default"]["name"]
    )


def test_deploy_overrides_only_parameters_of_the_template():
    parameters = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))["Parameters"]
    assert _overrides() and set(_overrides()) <= set(parameters)


def test_override_values_with_spaces_are_quoted():
    # SAM cuts `CountsSchedule=rate(1 minute)` to `rate(1` unless the value is quoted.
    for name, value in _overrides().items():
        assert " " not in value or re.fullmatch(r'"[^"]*"', value), f"{name}={value} needs quotes"


def test_the_api_builds_its_links_under_the_url_localstack_serves_it_at(monkeypatch):
    monkeypatch.delenv("LOCALSTACK_PORT", raising=False)
    local = deploy.local_parameters(config.load())["ApiBaseUrl"]
    assert local == "http://127.0.0.1:4566/_aws/execute-api/{apiId}/Prod"
    assert _overrides()["ApiBaseUrl"] == local


def test_compose_sets_the_quotas_make_up_sets():
    local = deploy.local_parameters(config.load())
    quotas = {k: v for k, v in local.items() if k.startswith("RateLimit")}
    assert quotas and {k: _overrides().get(k) for k in quotas} == quotas


def test_compose_keeps_the_visibility_at_six_writer_timeouts():
    overrides = _overrides()
    assert int(overrides["QueueVisibilityTimeout"]) >= 6 * int(overrides["WriterTimeout"])


def test_compose_allows_the_page_origins_make_up_allows(monkeypatch):
    for name in ("LOCALSTACK_PORT", "WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    local = deploy.local_parameters(config.load())
    assert _overrides()["CorsAllowedOrigins"] == local["CorsAllowedOrigins"]


# Settings of local/localstack/env.sh that only make sense for LocalStack as a host process (paths
# under the state dir, the host executor, the offline machine, Docker detection); compose's image
# brings its own. Every other setting must be the same in both.
HOST_ONLY = {
    "GATEWAY_LISTEN",  # 0.0.0.0 inside the container, published on loopback
    "OVERRIDE_IN_DOCKER",
    "FILESYSTEM_ROOT",
    "XDG_CACHE_HOME",
    "TMPDIR",
    "DNS_ADDRESS",
    "SKIP_SSL_CERT_DOWNLOAD",
    "DISABLE_EVENTS",
    "LAMBDA_RUNTIME_EXECUTOR",  # host-process here, Docker containers there
    "LAMBDA_HOST_PYTHON",
    "LAMBDA_DISABLE_CLOUDWATCH_METRICS",  # read by the host-process executor's plugin only
}


def test_localstack_runs_with_the_settings_make_up_gives_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LAMBDA_HOST_PYTHON", raising=False)
    out = subprocess.run(
        ["bash", str(ROOT / "local/localstack/env.sh"), str(tmp_path), "4566"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    host = dict(line.split("=", 1) for line in out.splitlines())
    compose = {k: str(v) for k, v in SERVICES["localstack"]["environment"].items()}
    shared = {k: v for k, v in host.items() if k not in HOST_ONLY}
    assert {k: compose.get(k) for k in shared} == shared
    assert {"SQS_DISABLE_CLOUDWATCH_METRICS", "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC"} <= set(shared)


def test_mysql_keeps_its_default_login_which_the_layers_cryptography_supports():
    assert not any("authentication" in arg for arg in SERVICES["mysql"]["command"])
    assert re.search(r"^cryptography==", (ROOT / "layers/requirements.txt").read_text(), re.MULTILINE)


def _flag(argv: list, name: str) -> str:
    return next(arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}="))


def test_the_websocket_gateway_runs_the_lock_make_up_runs_it_with():
    dockerfile = (ROOT / "local" / WSGATE["build"]["dockerfile"]).read_text()
    assert "--require-hashes" in dockerfile and "wsgate/requirements.txt" in dockerfile
    assert WSGATE["command"][:3] == ["python", "-m", "local.wsgate"]


def test_the_websocket_gateway_listens_where_it_is_published_and_the_deploy_points(monkeypatch):
    for name in ("LOCALSTACK_PORT", "WSGATE_PORT"):
        monkeypatch.delenv(name, raising=False)
    port = str(config.load().wsgate_port)
    assert _flag(WSGATE["command"], "port") == port
    environment = DEPLOY["environment"]
    assert environment["WSGATE_FUNCTIONS_URL"] == f"http://wsgate:{port}"
    assert environment["WSGATE_CLIENTS_URL"] == f"http://127.0.0.1:{port}"
    assert _flag(WSGATE["command"], "lambda-endpoint") == "http://localstack:4566"


def test_the_websocket_gateway_reads_the_apis_the_deploy_registers():
    # The deploy writes the state folder's wsgate/apis as /out; the gateway reads it as /state.
    state = "${CHAT_STATE_DIR:-./.local}"
    assert f"{state}:/out" in DEPLOY["volumes"] and f"{state}:/state" in WSGATE["volumes"]
    assert _flag(WSGATE["command"], "apis") == "/state/wsgate/apis"
    assert "/out/wsgate/apis" in (ROOT / "local" / "compose" / "deploy.sh").read_text()
