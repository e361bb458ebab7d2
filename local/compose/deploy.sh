#!/usr/bin/env bash
# The deploy service of docker-compose.yml: local/stack/deploy.py's steps, against the LocalStack
# in AWS_ENDPOINT_URL. Arguments: the template's parameter overrides. The repo is at /src.
set -euo pipefail

STACK=chat
BUCKET=chat-artifacts
HOST_ENDPOINT=http://127.0.0.1:4566 # LocalStack as the host, and so the tests, reach it

stack_gone() {
    local status
    status=$(aws cloudformation describe-stacks --stack-name "$STACK" \
        --query 'Stacks[0].StackStatus' --output text 2>/dev/null) || return 0
    [ "$status" = DELETE_COMPLETE ]
}

sam build --template-file /src/infra/template.yaml --build-dir /tmp/build
# LocalStack's free edition has no API Gateway v2: the WebSocket APIs go to the wsgate service
# instead, as local/stack/deploy.py does it.
PYTHONPATH=/src /opt/sam/bin/python -m local.wsgate.template /tmp/build/template.yaml \
    /tmp/build/template.local.json --stack "$STACK" \
    --http-base "$WSGATE_FUNCTIONS_URL" --ws-base "${WSGATE_CLIENTS_URL/http:/ws:}" >/tmp/websocket-apis.json

# LocalStack cannot update an API stage whose routes changed: replace the stack, never update it.
if ! stack_gone; then
    aws cloudformation delete-stack --stack-name "$STACK"
    for _ in $(seq 120); do stack_gone && break; sleep 1; done
    stack_gone || { echo "stack $STACK not deleted within 120 s" >&2; exit 1; }
fi
aws s3api head-bucket --bucket "$BUCKET" 2>/dev/null || aws s3api create-bucket --bucket "$BUCKET" >/dev/null

# Bounded: `sam deploy` would wait forever on a stack stuck in ROLLBACK_COMPLETE.
timeout 300 sam deploy --template-file /tmp/build/template.local.json --stack-name "$STACK" \
    --s3-bucket "$BUCKET" --region "$AWS_REGION" --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
    --no-confirm-changeset --no-fail-on-empty-changeset --parameter-overrides "$@"

# The same keys as local/stack/deploy.py's write_outputs, with the addresses the host sees.
aws cloudformation describe-stacks --stack-name "$STACK" --output json >/tmp/stack.json
aws cloudformation describe-stack-resources --stack-name "$STACK" --output json >/tmp/resources.json
PYTHONPATH=/src python3 - "$STACK" "$AWS_REGION" "$HOST_ENDPOINT" "$WSGATE_CLIENTS_URL" >/out/stack-outputs.json.tmp <<'PY'
import json, pathlib, sys
from local.wsgate import apis
stack, region, endpoint, wsgate = sys.argv[1:]
with open("/tmp/stack.json") as f:
    described = json.load(f)["Stacks"][0]
outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
# The WebSocket APIs, registered with the wsgate service (it reads /out as /state).
with open("/tmp/resources.json") as f:
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in json.load(f)["StackResources"]}
with open("/tmp/websocket-apis.json") as f:
    registered = apis.register(apis.Registry(pathlib.Path("/out/wsgate/apis")), stack, json.load(f), physical)
outputs["WebSocketApis"] = {
    api.logical_id: apis.urls(api, wsgate, wsgate.replace("http:", "ws:", 1)) for api in registered
}
outputs["ApiUrl"] = f"{endpoint}/_aws/execute-api/{outputs['ApiId']}/Prod"
# As local/stack/web.py's page_url: localhost, another origin than the API's 127.0.0.1.
outputs["WebUrl"] = f"{endpoint.replace('127.0.0.1', 'localhost')}/{outputs['WebBucketName']}/index.html"
outputs.update(StackName=stack, Region=region, Endpoint=endpoint)
print(json.dumps(outputs, indent=2))
PY
mv /out/stack-outputs.json.tmp /out/stack-outputs.json

# LocalStack's free edition skips custom resources, so the Schema resource never runs the
# migrations here: invoke the function as local/stack/deploy.py does.
migrate=$(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["MigrateFunctionName"])')
aws lambda invoke --function-name "$migrate" --payload '{}' /tmp/migrate.json >/tmp/migrate-meta.json
if grep -q FunctionError /tmp/migrate-meta.json; then
    echo "migration failed: $(cat /tmp/migrate.json)" >&2
    exit 1
fi
# The web client, with the API's address as the host's browser reaches it.
bucket=$(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["WebBucketName"])')
api_url=$(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["ApiUrl"])')
socket_url=$(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["WebSocketApis"]["ChatWebSocket"]["Url"])')
# The same staging as `make up` (standard library only): config.js, and the page's policy opened
# to the API's and the socket's origins (web/index.html ships with connect-src 'none').
(cd /src && python3 -c 'import sys; from pathlib import Path; from local.stack import web; web.stage(sys.argv[1], Path(sys.argv[2]), sys.argv[3])' \
    "$api_url" /tmp/web "$socket_url")
aws s3 sync /tmp/web "s3://$bucket" --delete --cache-control no-cache >/dev/null
echo "Web: $(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["WebUrl"])')"
echo "API: $(python3 -c 'import json; print(json.load(open("/out/stack-outputs.json"))["ApiUrl"])')"
