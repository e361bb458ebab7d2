#!/usr/bin/env bash
# Print the environment for `python -m localstack.runtime.main`, one KEY=VALUE per line.
# Usage: local/localstack/env.sh STATE_DIR PORT   (creates STATE_DIR's tmp/ and cache/)
set -euo pipefail

STATE_DIR=${1:?usage: env.sh STATE_DIR PORT}
PORT=${2:?usage: env.sh STATE_DIR PORT}
# TMPDIR must exist, or Python silently falls back to /tmp.
mkdir -p "$STATE_DIR/tmp" "$STATE_DIR/cache"
STATE_DIR=$(cd "$STATE_DIR" && pwd)

# OVERRIDE_IN_DOCKER=0: this machine has /.dockerenv, and LocalStack would then ignore
#   FILESYSTEM_ROOT and share /var/lib/localstack with every other instance.
# FILESYSTEM_ROOT: LocalStack's files (else inside its own package dir, or /var/lib/localstack).
# XDG_CACHE_HOME: plux's entry-point cache.  TMPDIR: where Lambda code is unzipped.
# DNS_ADDRESS=0: no DNS server on port 53.  SKIP_SSL_CERT_DOWNLOAD, DISABLE_EVENTS: we are offline.
# GATEWAY_SERVER=twisted (the default, said here because it matters): ~1 ms less per request than
#   hypercorn, which also closes the connection after each response unless asked to keep it;
#   install.sh makes it listen on GATEWAY_LISTEN's host only (127.0.0.1). Functions run as host processes.
# LAMBDA_KEEPALIVE_MS: an idle environment (a 75 MB process) goes after 2 minutes, not 10, so
#   a burst of concurrent requests does not hold memory long after it.
# LAMBDA_LIMITS_*: every environment is a process of 20-45 MB; cap them well below the 1000 default.
# SQS_DISABLE_CLOUDWATCH_METRICS: as shipped, every message sent, received or deleted becomes a
#   CloudWatch datapoint committed to SQLite under one lock: twice send_message's p50 and most of a
#   queue drain's cost (docs/performance.md, "LocalStack settings"). Only AWS's alarms read such metrics.
# LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC: the SQS event source sleeps this long after every
#   batch (default 1 s), which capped a drain at ~one batch a second (same section: 93 -> 486/s at
#   0.1) and added up to a second to every message's lag; AWS's pollers do not pause.
# IN_MEMORY_CLIENT: LocalStack's calls to itself (API Gateway -> Lambda invoke, Lambda -> CloudWatch
#   Logs, the SQS poller's receive and delete) go to its gateway in memory, not as HTTP requests to
#   its own port: ~4 ms of its CPU less per API request (docs/performance.md, "The local API's ceiling").
# LAMBDA_DISABLE_CLOUDWATCH_METRICS: ours, read by the host executor's plugin (plugin.py): no
#   per-invocation Invocations/Errors datapoints, each a put_metric_data committed to SQLite.
# CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES: the free edition has no CloudWatch dashboard and no custom
#   resource; it skips them (the deploy invokes the migrate function itself). Said here because
#   LocalStack warns that the default will turn to failing the deploy.
cat <<LINES
GATEWAY_LISTEN=127.0.0.1:$PORT
GATEWAY_SERVER=twisted
LOCALSTACK_HOST=127.0.0.1:$PORT
SQS_ENDPOINT_STRATEGY=path
OVERRIDE_IN_DOCKER=0
FILESYSTEM_ROOT=$STATE_DIR/filesystem
XDG_CACHE_HOME=$STATE_DIR/cache
TMPDIR=$STATE_DIR/tmp
DNS_ADDRESS=0
SKIP_SSL_CERT_DOWNLOAD=1
DISABLE_EVENTS=1
LAMBDA_RUNTIME_EXECUTOR=host-process
LAMBDA_KEEPALIVE_MS=120000
LAMBDA_LIMITS_CONCURRENT_EXECUTIONS=100
LAMBDA_LIMITS_MINIMUM_UNRESERVED_CONCURRENCY=10
LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC=1
SQS_DISABLE_CLOUDWATCH_METRICS=1
LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC=0.1
IN_MEMORY_CLIENT=1
LAMBDA_DISABLE_CLOUDWATCH_METRICS=1
CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1
LINES
if [ -n "${LAMBDA_HOST_PYTHON:-}" ]; then
    echo "LAMBDA_HOST_PYTHON=$LAMBDA_HOST_PYTHON"
fi
