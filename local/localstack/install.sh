#!/usr/bin/env bash
# Install LocalStack (host mode) with the host-process Lambda executor into VENV_DIR. Idempotent.
# Usage: local/localstack/install.sh VENV_DIR
set -euo pipefail

VENV_DIR=${1:?usage: install.sh VENV_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
EXECUTOR_SRC=$(cd "$HERE/../lambda_executor" && pwd)
PYTHON=${LOCALSTACK_PYTHON:-python3.11}
# pyOpenSSL 26.2 removed X509.add_extensions, which LocalStack 4.13 uses for its TLS certificate.
PINS=("localstack-core[runtime]==4.13.1" "cbor2==5.6.5" "service-identity==26.1.0" "pyOpenSSL==26.1.0")
PLUGIN=host-process

step() { echo "[localstack install] $*"; }

if [ ! -x "$VENV_DIR/bin/python" ]; then
    step "creating venv $VENV_DIR with $PYTHON"
    "$PYTHON" -m venv "$VENV_DIR"
else
    step "venv $VENV_DIR exists"
fi
VPY="$VENV_DIR/bin/python"

step "installing ${PINS[*]}"
"$VPY" -m pip install --quiet --disable-pip-version-check "${PINS[@]}"

# Built from a copy so that the source tree gets no build/ or *.egg-info; reinstalled every run so
# that executor changes are picked up.
step "installing the executor from $EXECUTOR_SRC"
BUILD_DIR=$(mktemp -d)
trap 'rm -rf "$BUILD_DIR"' EXIT
cp -r "$EXECUTOR_SRC/." "$BUILD_DIR/"
find "$BUILD_DIR" -name __pycache__ -prune -exec rm -rf {} +
"$VPY" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$BUILD_DIR"

# On Python 3.11 threading.Lock is a function, so this annotation raises at import; LocalStack then
# still says "Ready." but silently lacks the Lambda hooks and package installers.
step "checking localstack.packages.api imports"
"$VPY" - <<'EOF'
import importlib.util, pathlib, re, sys
try:
    import localstack.packages.api  # noqa: F401
    print("[localstack install]   imports fine, no patch needed")
    sys.exit(0)
except TypeError:
    pass
path = pathlib.Path(importlib.util.find_spec("localstack.packages").submodule_search_locations[0]) / "api.py"
text = path.read_text()
patched = re.sub(r"install_lock: Lock \| None = None", 'install_lock: "Lock | None" = None', text)
if patched == text:
    sys.exit(f"{path}: import fails but the known annotation is not there; patch by hand")
path.write_text(patched)
import localstack.packages.api  # noqa: F401,E402  (fails loudly if the patch did not help)
print(f"[localstack install]   patched {path}")
EOF

# LocalStack's default server (twisted) is faster than hypercorn here (send_message p50 1.9 vs
# 3.3 ms, docs/performance.md) but binds IPv4 on every interface: its own "TODO: interface =
# host?". Give it GATEWAY_LISTEN's host, so that it listens on 127.0.0.1 only.
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
if ! "$HOST_PY" -c 'import boto3' 2>/dev/null; then
    "$HOST_PY" -m pip install --quiet --disable-pip-version-check boto3
fi
"$HOST_PY" -c 'import boto3, sys; print(f"[localstack install]   python {sys.version.split()[0]}, boto3 {boto3.__version__}")'
step "done"
