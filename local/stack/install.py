"""Installs what the stack needs, once: each step is skipped while its inputs are unchanged."""

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from .config import PYTHON_VERSION, ROOT, Config, python_runs
from .proc import StackError, run
from .services import ES_DIR, es_lib, lambda_python

# Tool on PATH -> the Debian package that brings it (javac: the ES node's few classes are compiled).
APT_PACKAGES = {
    "mariadbd": "mariadb-server",
    "mariadb": "mariadb-client",
    "redis-server": "redis-server",
    "javac": "openjdk-17-jdk-headless",
    "mvn": "maven",
    # The browser tests: Debian's headless Chromium and the WebDriver that drives it.
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
}


def _digest(paths: list) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = (
            sorted(p for p in Path(base).rglob("*") if p.is_file()) if Path(base).is_dir() else [Path(base)]
        )
        for f in files:
            if "__pycache__" in f.parts or "target" in f.parts:
                continue
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _once(
    cfg: Config, name: str, inputs: list, product: Path, step: Callable[[], None], interpreter: bool = False
) -> bool:
    """Runs `step` unless `product` exists and was made from the same inputs (and, if `interpreter`,
    by the same Python); True if it ran."""
    stamp = cfg.state / "stamps" / name
    digest = _digest(inputs) + (f" {_python_version(cfg.python)}" if interpreter else "")
    if product.exists() and stamp.exists() and stamp.read_text() == digest:
        return False
    step()
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    return True


def system_packages(cfg: Config) -> str:
    if not python_runs(cfg.python):
        # Debian 12 ships 3.11 only: pyenv (or Debian 13's python3.13-venv) brings the runtime's.
        raise StackError(
            f"Python {PYTHON_VERSION} (the Lambda runtime's) not found: `pyenv install {PYTHON_VERSION}`, "
            f"or point CHAT_PYTHON at a python{PYTHON_VERSION}"
        )
    missing = sorted({pkg for tool, pkg in APT_PACKAGES.items() if shutil.which(tool) is None})
    if not missing:
        return "present"
    if os.geteuid() != 0:
        raise StackError(f"missing {', '.join(missing)}: install them (sudo apt-get install ...) and rerun")
    log = cfg.logs / "apt.log"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], log, env=env)
    # policy-rc.d keeps Debian from starting its own copies of the servers on install.
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], log, env=env)
    finally:
        if created:
            policy.unlink()
    return f"installed {' '.join(missing)}"


def _python_version(python: Path | str) -> str:
    out = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    return out.stdout.strip()


def _venv(cfg: Config, name: str, lock: Path, product: str = "python") -> str:
    """A venv of its own under .local/venvs/NAME holding exactly `lock` (a full tree with hashes),
    made anew when the lock or the interpreter changes."""
    venv = cfg.venvs / name
    log = cfg.logs / f"install-{name}.log"

    def build() -> None:
        if (venv / "bin" / "python").exists() and _python_version(venv / "bin" / "python") != _python_version(
            cfg.python
        ):
            shutil.rmtree(venv)
        if not (venv / "bin" / "python").exists():
            run([cfg.python, "-m", "venv", venv], log)
        run([venv / "bin" / "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", lock], log)

    ran = _once(cfg, f"{name}-venv", [lock], venv / "bin" / product, build, interpreter=True)
    return "installed" if ran else "up to date"


def app_venv(cfg: Config) -> str:
    return _venv(cfg, "app", ROOT / "local" / "dev-requirements.txt")


def sam_venv(cfg: Config) -> str:
    """SAM CLI builds and deploys the template, here and on AWS; its pins live in their own venv."""
    return _venv(cfg, "sam", ROOT / "local" / "sam-requirements.txt", product="sam")


def lambda_runtime_venv(cfg: Config) -> str:
    """The interpreter Lambdas run in: plain Python 3.13 plus boto3, as AWS's runtime provides."""
    return _venv(cfg, "lambda-runtime", ROOT / "local" / "lambda-runtime-requirements.txt")


def wsgate_venv(cfg: Config) -> str:
    """The local WebSocket gateway's server and Lambda client (local/wsgate), as compose runs it."""
    return _venv(cfg, "wsgate", ROOT / "local" / "wsgate" / "requirements.txt")


def localstack_venv(cfg: Config) -> str:
    inputs = [
        ROOT / "local" / "localstack" / "install.sh",
        ROOT / "local" / "localstack" / "requirements.txt",
        ROOT / "local" / "lambda_executor",
    ]
    script = ROOT / "local" / "localstack" / "install.sh"

    def build() -> None:
        run(
            ["bash", script, cfg.venvs / "localstack"],
            cfg.logs / "install-localstack.log",
            env=dict(os.environ, LAMBDA_HOST_PYTHON=str(lambda_python(cfg)), LOCALSTACK_PYTHON=cfg.python),
        )

    product = cfg.venvs / "localstack" / "bin" / "python"
    ran = _once(cfg, "localstack-venv", inputs, product, build, interpreter=True)
    return "installed" if ran else "up to date"


def elasticsearch_jars(cfg: Config) -> str:
    lib = es_lib(cfg)

    def build() -> None:
        shutil.rmtree(lib, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                ES_DIR / "pom.xml",
                "-DskipTests",
                "package",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={lib}",
            ],
            cfg.logs / "install-elasticsearch.log",
        )
        for jar in (ES_DIR / "target").glob("*.jar"):
            shutil.copy(jar, lib)

    inputs = [ES_DIR / "pom.xml", ES_DIR / "src"]
    return "built" if _once(cfg, "elasticsearch-jars", inputs, lib, build) else "up to date"


STEPS = [
    ("system packages", system_packages),
    ("app venv", app_venv),
    ("sam venv", sam_venv),
    ("lambda runtime venv", lambda_runtime_venv),
    ("localstack venv", localstack_venv),
    ("wsgate venv", wsgate_venv),
    ("elasticsearch jars", elasticsearch_jars),
]
