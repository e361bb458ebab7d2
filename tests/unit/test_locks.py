"""The lock files hold full trees with hashes, and agree with the pins they were compiled from."""

import re
import tomllib
from pathlib import Path

import pytest

from local.stack.locks import LOCKS

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(text: str) -> dict:
    return {_name(n): v for n, v in PIN.findall(text)}


def _sources(source: str, extra: list) -> dict:
    if source != "pyproject.toml":
        return _pins((ROOT / source).read_text())
    project = tomllib.loads((ROOT / source).read_text())["project"]
    extras = [extra[i + 1] for i, arg in enumerate(extra) if arg == "--extra"]
    lines = [d for e in extras for d in project["optional-dependencies"][e]]
    return _pins("\n".join([*lines, (ROOT / "layers/requirements.in").read_text()]))


@pytest.mark.parametrize(("source", "lock", "extra"), LOCKS, ids=[lock for _, lock, _ in LOCKS])
def test_every_pin_of_the_source_is_locked_at_its_version(source, lock, extra):
    locked = _pins((ROOT / lock).read_text())
    wanted = _sources(source, extra)
    assert wanted, f"{source} pins nothing"
    assert {n: locked.get(n) for n in wanted} == wanted, f"run `make lock`: {lock} is behind {source}"


@pytest.mark.parametrize("lock", [lock for _, lock, _ in LOCKS])
def test_every_locked_package_carries_a_hash(lock):
    entries = re.split(r"\n(?=\S)", (ROOT / lock).read_text())
    packages = [e for e in entries if PIN.match(e)]
    assert packages
    assert [e.split(" ")[0] for e in packages if "--hash=sha256:" not in e] == []


def test_the_functions_the_layer_the_locks_and_the_venvs_share_one_python():
    from cfnlint.decode import cfn_yaml

    from local.stack import config, locks

    template = cfn_yaml.load(str(ROOT / "infra" / "template.yaml"))
    runtime = template["Globals"]["Function"]["Runtime"]
    layer = template["Resources"]["Dependencies"]["Properties"]["CompatibleRuntimes"]
    assert runtime == f"python{config.PYTHON_VERSION}" == f"python{locks.PYTHON_VERSION}"
    assert layer == [runtime]
    assert f"PYTHON ?= {runtime}" in (ROOT / "layers" / "Makefile").read_text()
