#!/usr/bin/env bash
# Install LocalStack (host mode) with the host-process Lambda executor into VENV_DIR. Idempotent.
# Usage: local/localstack/install.sh VENV_DIR
set -euo pipefail

VENV_DIR=${1:?usage: install.sh VENV_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
EXECUTOR_SRC=$(cd "$HERE/../lambda_executor" && pwd)
PYTHON=${LOCALSTACK_PYTHON:-python3.13}
# The full tree, locked with hashes (requirements.in says why each pin; `make lock` remakes it).
LOCK="$HERE/requirements.txt"
PLUGIN=host-process

step() { echo "[localstack install] $*"; }

if [ -x "$VENV_DIR/bin/python" ] && [ "$("$VENV_DIR/bin/python" -c 'import sys; print(sys.version)')" != "$("$PYTHON" -c 'import sys; print(sys.version)')" ]; then
    step "venv $VENV_DIR was made by another Python: making it anew"
    rm -rf "$VENV_DIR"
fi
if [ ! -x "$VENV_DIR/bin/python" ]; then
    step "creating venv $VENV_DIR with $PYTHON"
    "$PYTHON" -m venv "$VENV_DIR"
else
    step "venv $VENV_DIR exists"
fi
VPY="$VENV_DIR/bin/python"

step "installing $LOCK"
"$VPY" -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$LOCK"

# Built from a copy so that the source tree gets no build/ or *.egg-info; reinstalled every run so
# that executor changes are picked up.
step "installing the executor from $EXECUTOR_SRC"
BUILD_DIR=$(mktemp -d)
trap 'rm -rf "$BUILD_DIR"' EXIT
cp -r "$EXECUTOR_SRC/." "$BUILD_DIR/"
find "$BUILD_DIR" -name __pycache__ -prune -exec rm -rf {} +
# Built with the locked setuptools (no isolated build env, which would fetch one unchecked).
"$VPY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall "$BUILD_DIR"

# LocalStack's default server (twisted) is faster than hypercorn here (send_message p50 1.9 vs
# 3.3 ms, docs/performance.md, "LocalStack settings") but binds IPv4 on every interface: its own
# "TODO: interface = host?". Give it GATEWAY_LISTEN's host, so that it listens on 127.0.0.1 only.
step "binding the twisted server to GATEWAY_LISTEN's host"
"$VPY" - <<'EOF'
import importlib.util, pathlib, sys
path = pathlib.Path(importlib.util.find_spec("localstack.runtime.server.twisted").origin)
text = path.read_text()
old = "endpoint = endpoints.TCP4ServerEndpoint(reactor, host_and_port.port)"
new = "endpoint = endpoints.TCP4ServerEndpoint(reactor, host_and_port.port, interface=host_and_port.host)"
if new in text:
    print("[localstack install]   already bound")
elif text.count(old) == 1:
    path.write_text(text.replace(old, new))
    print(f"[localstack install]   patched {path}")
else:
    sys.exit(f"{path}: the IPv4 listen line is not as expected; patch by hand")
EOF

# plux swallows import errors, so load the plugin explicitly to surface them.
step "verifying the '$PLUGIN' executor plugin"
"$VPY" - "$PLUGIN" <<'EOF'
import sys
from plux import PluginManager
name = sys.argv[1]
manager = PluginManager("localstack.lambda.runtime_executor")
names = manager.list_names()
if name not in names:
    sys.exit(f"executor plugin {name!r} not registered; found {names}")
executor = manager.load(name).load()
print(f"[localstack install]   {name} -> {executor.__module__}.{executor.__name__}")
EOF

HOST_PY=$("$VPY" -c 'import host_executor.process as p; print(p.host_python())')
HOST_PY=${LAMBDA_HOST_PYTHON:-$HOST_PY}
step "checking the Lambda interpreter $HOST_PY provides boto3 (as the AWS runtime does)"
"$HOST_PY" -c 'import boto3, sys; print(f"[localstack install]   python {sys.version.split()[0]}, boto3 {boto3.__version__}")'
step "done"
