"""What each function's import costs on Lambda with the bytecode `sam build` ships, against the
timestamp-checked bytecode it shipped before (pip's default, and none at all for our code).

On Lambda the code (/var/task) and the layer (/opt) are read-only and SAM dates every zip entry
1980-01-01: a .pyc checked by timestamp never matches its source there, so the interpreter compiles
the module again at each cold start and cannot keep the result. The build now writes .pyc checked
by hash (functions/Makefile, layers/Makefile). This takes what `make up`'s `sam build` made
(.local/build), copies it twice — as built, and recompiled the way it was before — dates every
file 1980-01-01, and imports each function's handler module in a fresh interpreter that may not
write bytecode (as /var/task and /opt allow none), with boto3 from the Lambda runtime's venv, in
alternating order. Medians per function and the ratio as built / before.

    .local/venvs/app/bin/python -m tests.bench.bytecode_bench [--rounds 9]
"""

import argparse
import compileall
import json
import os
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from local.wsgate.template import load_yaml
from tests.bench import common

BUILD = common.STATE / "build"
RUNTIME_SITE = common.STATE / "venvs" / "lambda-runtime" / "lib" / "python3.13" / "site-packages"
SAM_ZIP_DATE = 315532800  # 1980-01-01 00:00:00 UTC, the date SAM gives every zip entry
# The interpreter without this venv's packages, as the Lambda runtime's python3.13 is.
PYTHON = str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")

IMPORT = (
    "import sys, time; sys.path[:0] = [{task!r}, {opt!r}]; sys.path.append({runtime!r}); "
    "t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
)


def handler_modules() -> dict[str, str]:
    """Each function of the built template and the module its handler lives in."""
    template = load_yaml((BUILD / "template.yaml").read_text())
    return {
        name: resource["Properties"]["Handler"].rsplit(".", 1)[0]
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    }


def _as_packaged(tree: Path) -> None:
    for path in tree.rglob("*"):
        os.utime(path, (SAM_ZIP_DATE, SAM_ZIP_DATE), follow_symlinks=False)


def prepare(root: Path, functions: list[str]) -> dict[str, Path]:
    """`built` as sam build made it, `before` with the bytecode the build shipped before."""
    arms = {}
    for arm in ("built", "before"):
        base = root / arm
        shutil.copytree(BUILD / "Dependencies" / "python", base / "opt", symlinks=True)
        for name in functions:
            shutil.copytree(BUILD / name, base / name, symlinks=True)
        if arm == "before":
            for cache in list(base.rglob("__pycache__")):
                shutil.rmtree(cache)
            # pip compiled the layer with timestamps; the functions' pip workflow shipped no bytecode.
            compileall.compile_dir(
                base / "opt",
                quiet=1,
                workers=0,
                invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
            )
        _as_packaged(base)
        arms[arm] = base
    return arms


def import_ms(base: Path, function: str, module: str) -> float:
    code = IMPORT.format(
        task=str(base / function), opt=str(base / "opt"), runtime=str(RUNTIME_SITE), module=module
    )
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", AWS_DEFAULT_REGION="us-east-1")
    env.pop("PYTHONPATH", None)
    out = subprocess.run(
        [PYTHON, "-s", "-P", "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode:
        raise RuntimeError(f"importing {module} for {function} failed: {out.stderr[-600:]}")
    return float(out.stdout.strip().splitlines()[-1])


def run(rounds: int = 9, progress=print) -> dict[str, Any]:
    if not (BUILD / "template.yaml").is_file():
        raise RuntimeError(f"{BUILD} has no build: run `make up` (sam build makes it)")
    modules = handler_modules()
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bytecode-bench-") as tmp:
        arms = prepare(Path(tmp), sorted(modules))
        progress(
            f"{len(modules)} functions, {rounds} rounds; both trees dated 1980-01-01, no bytecode written"
        )
        for r in range(rounds):
            order = ("built", "before") if r % 2 == 0 else ("before", "built")
            for function, module in sorted(modules.items()):
                for arm in order:
                    times.setdefault((function, arm), []).append(import_ms(arms[arm], function, module))
            progress(f"round {r + 1}/{rounds} done")
    out: dict[str, Any] = {"rounds": rounds, "functions": {}}
    for function, module in sorted(modules.items()):
        built = statistics.median(times[(function, "built")])
        before = statistics.median(times[(function, "before")])
        out["functions"][function] = {
            "module": module,
            "import_ms": round(built, 1),
            "before_ms": round(before, 1),
            "ratio": round(built / before, 2),
        }
        progress(f"{function} ({module}): {built:.0f} ms vs {before:.0f} ms before (x{built / before:.2f})")
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(json.dumps(run(args.rounds, progress=common.Progress("bytecode")), indent=2))
