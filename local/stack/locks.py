"""The lock files: every venv and the layer install full dependency trees pinned with hashes.

Each `.txt` is compiled from its `.in` (or pyproject.toml's extras) by `make lock`, which keeps the
pins it finds unless asked to upgrade (`make lock UPGRADE=1`); `make up` and `sam build` install
them with `--require-hashes`, so a download that is not the one locked fails the install.
"""

import subprocess
import sys

from .config import ROOT, Config
from .proc import StackError

# The Lambda runtime's Python and platform (Amazon Linux 2023, x86_64); the local venvs match it.
PYTHON_VERSION = "3.13"
PLATFORM = "x86_64-manylinux_2_28"

# (what to compile, the lock it makes, extra uv arguments)
LOCKS = [
    # aws-xray-sdk asks for botocore, which the runtime provides: the layer must not shadow it.
    ("layers/requirements.in", "layers/requirements.txt", ["--no-emit-package", "botocore"]),
    ("layers/chalice.in", "layers/chalice.txt", ["--no-deps"]),
    ("local/lambda-runtime-requirements.in", "local/lambda-runtime-requirements.txt", []),
    ("local/sam-requirements.in", "local/sam-requirements.txt", []),
    ("local/localstack/requirements.in", "local/localstack/requirements.txt", []),
    ("local/wsgate/requirements.in", "local/wsgate/requirements.txt", []),
    ("pyproject.toml", "local/dev-requirements.txt", ["--extra", "dev"]),
    ("pyproject.toml", "local/bench-requirements.txt", ["--extra", "dev", "--extra", "bench"]),
]


def compile_all(cfg: Config, upgrade: bool = False) -> list[str]:
    """Compiles every lock with the dev venv's uv; returns the locks that changed."""
    uv = cfg.venvs / "app" / "bin" / "uv"
    changed = []
    for source, lock, extra in LOCKS:
        before = (ROOT / lock).read_text() if (ROOT / lock).exists() else ""
        argv = [
            str(uv),
            "pip",
            "compile",
            source,
            "--output-file",
            lock,
            "--generate-hashes",
            "--python-version",
            PYTHON_VERSION,
            "--python-platform",
            PLATFORM,
            "--custom-compile-command",
            "make lock",
            "--quiet",
            *extra,
            *(["--upgrade"] if upgrade else []),
        ]
        out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise StackError(f"uv pip compile {source}: {out.stderr.strip()}")
        if (ROOT / lock).read_text() != before:
            changed.append(lock)
    return changed


if __name__ == "__main__":
    from .config import load

    print("\n".join(compile_all(load(), upgrade="--upgrade" in sys.argv)) or "no lock changed")
