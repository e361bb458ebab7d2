"""Builds infra/template.yaml with `sam build` and deploys it into LocalStack with `sam deploy`.

The same two commands deploy to AWS; here they only get LocalStack's endpoint and local
parameters. LocalStack cannot update an API Gateway stage whose routes changed, so a changed
template replaces the stack instead of updating it.
"""

import hashlib
import json
import os
import subprocess
from pathlib import Path

from local.wsgate import apis as wsgate_apis

from . import web
from .config import ROOT, Config
from .proc import StackError, run, wait_for

STACK = os.environ.get("CHAT_STACK_NAME", "chat")
BUCKET = "chat-artifacts"
REGION = "us-east-1"
TEMPLATE = ROOT / "infra" / "template.yaml"
EXECUTE_API_PREFIX = "/_aws/execute-api/{apiId}"


def _env(cfg: Config) -> dict:
    # sam build looks for the runtime's python3.13 on PATH (the functions' and the layer's
    # Makefiles): put the one `make up` found first, as pyenv's shim does not run it.
    path = os.pathsep.join(filter(None, [os.path.dirname(cfg.python), os.environ.get("PATH", "")]))
    return dict(os.environ, PATH=path, SAM_CLI_TELEMETRY="0", **local_aws(cfg))


def local_aws(cfg: Config) -> dict[str, str]:
    """What makes an AWS client talk to the stack's LocalStack, never to AWS."""
    return {
        "AWS_ENDPOINT_URL": cfg.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def local_parameters(cfg: Config) -> dict:
    """Template parameters for the local stack; AWS deploys take theirs from samconfig."""
    # A short writer timeout and visibility (kept at 6x) bring a crashed writer's batch back in a
    # minute rather than three, and a poison event to the dead-letter queue in five.
    return {
        "CountsSchedule": "rate(1 minute)",
        "MysqlPort": str(cfg.mysql_port),
        # The local MariaDB has no certificate; on AWS the functions verify RDS Proxy's.
        "MysqlTls": "off",
        "WriterTimeout": "10",
        "QueueVisibilityTimeout": "60",
        "RedisUrl": f"redis://127.0.0.1:{cfg.redis_port}/0",
        "ElasticsearchUrl": f"http://127.0.0.1:{cfg.es_port}",
        # The URL write_outputs puts in ApiUrl below, for the Link headers the API builds.
        "ApiBaseUrl": f"{cfg.endpoint}{EXECUTE_API_PREFIX}/Prod",
        # The tests' webhook receivers listen on loopback.
        "WebhookAllowLoopback": "true",
        # LocalStack's free edition has no WAF.
        "Waf": "Disabled",
        # Every test, bench and browser calls from 127.0.0.1 into a few applications: quotas sized
        # for them (tests/integration/test_rate_limits.py checks the quotas at low values).
        "RateLimitCreates": "1000",
        "RateLimitEdits": "1000",
        "RateLimitSearches": "1000",
        "RateLimitReads": "5000",
        "RateLimitApplicationsPerAddress": "1000000",
        "RateLimitApplications": "1000000",
        # The page as `make up` deploys it, and as `make web` serves it from web/.
        "CorsAllowedOrigins": f"http://localhost:{cfg.localstack_port},http://127.0.0.1:{cfg.web_port}",
    }


def _aws(cfg: Config, *args: str) -> str:
    out = subprocess.run(
        [str(cfg.venvs / "app" / "bin" / "aws"), *args, "--output", "json"],
        capture_output=True,
        text=True,
        env=_env(cfg),
        timeout=60,
    )
    if out.returncode != 0:
        raise StackError(f"aws {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def _stack_status(cfg: Config) -> str:
    try:
        stacks = json.loads(_aws(cfg, "cloudformation", "describe-stacks", "--stack-name", STACK))
    except StackError as exc:
        if "does not exist" in str(exc):
            return "NONE"
        raise
    return stacks["Stacks"][0]["StackStatus"]


def _delete_stack(cfg: Config) -> None:
    # CloudFormation deletes no bucket that still holds files.
    if cfg.outputs_file.exists() and (
        bucket := json.loads(cfg.outputs_file.read_text()).get("WebBucketName")
    ):
        try:
            _aws(cfg, "s3", "rm", f"s3://{bucket}", "--recursive")
        except StackError:
            pass  # gone with an earlier LocalStack: nothing to empty
    _aws(cfg, "cloudformation", "delete-stack", "--stack-name", STACK)
    if not wait_for(lambda: _stack_status(cfg) in ("NONE", "DELETE_COMPLETE"), 120, 1):
        raise StackError(f"stack {STACK} was not deleted within 120 s")


def deploy(cfg: Config) -> str:
    sam = cfg.venvs / "sam" / "bin" / "sam"
    build_dir = cfg.state / "build"
    log = cfg.logs / "deploy.log"
    env = _env(cfg)
    run(
        [
            sam,
            "build",
            "--template-file",
            TEMPLATE,
            "--build-dir",
            build_dir,
            "--cached",
            "--cache-dir",
            cfg.state / "cache" / "sam",
        ],
        log,
        env=env,
        cwd=ROOT,
    )

    template_digest = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    stamp = cfg.state / "stamps" / "deployed-template"
    status = _stack_status(cfg)
    replaced = status != "NONE" and (
        not status.endswith("_COMPLETE")
        or "ROLLBACK" in status
        or not stamp.exists()
        or stamp.read_text() != template_digest
    )
    if replaced:
        _delete_stack(cfg)
    if not _bucket_exists(cfg):
        _aws(cfg, "s3api", "create-bucket", "--bucket", BUCKET)
    template, websocket_apis = localize_websockets(cfg, build_dir / "template.yaml", log)
    # sam splits overrides on spaces unless the value is quoted.
    overrides = [f'{k}="{v}"' for k, v in local_parameters(cfg).items()]
    try:
        run(
            [
                "timeout",
                "300",
                sam,
                "deploy",
                "--template-file",
                template,
                "--stack-name",
                STACK,
                "--s3-bucket",
                BUCKET,
                "--region",
                REGION,
                "--capabilities",
                "CAPABILITY_IAM",
                "CAPABILITY_AUTO_EXPAND",
                "--no-confirm-changeset",
                "--no-fail-on-empty-changeset",
                "--parameter-overrides",
                *overrides,
            ],
            log,
            env=env,
            cwd=ROOT,
        )
    except StackError:
        stamp.unlink(missing_ok=True)  # the next deploy starts from a fresh stack
        raise
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(template_digest)
    outputs = write_outputs(cfg, register_websockets(cfg, websocket_apis))
    # LocalStack's free edition skips custom resources, so the Schema resource never runs here.
    invoke(cfg, "MigrateFunctionName")
    upload_web(cfg, outputs)
    return f"{'replaced' if replaced else 'deployed'}: {outputs['ApiUrl']}"


def upload_web(cfg: Config, outputs: dict) -> None:
    """Puts web/ into the template's bucket with config.js pointing at the deployed API."""
    staged = web.stage(outputs["ApiUrl"], cfg.state / "build" / "web", socket_url(outputs))
    bucket = f"s3://{outputs['WebBucketName']}"
    _aws(cfg, "s3", "sync", str(staged), bucket, "--delete", "--cache-control", "no-cache")


def socket_url(outputs: dict) -> str:
    """Where the web page's live socket connects: the local gateway's URL of the template's API."""
    api = outputs.get("WebSocketApis", {}).get("ChatWebSocket")
    return api["Url"] if api else ""


def _bucket_exists(cfg: Config) -> bool:
    try:
        _aws(cfg, "s3api", "head-bucket", "--bucket", BUCKET)
        return True
    except StackError:
        return False


def localize_websockets(cfg: Config, built: Path, log: Path) -> tuple[Path, list[dict]]:
    """The built template without its API Gateway v2 resources, which LocalStack's free edition
    lacks, and the WebSocket APIs they describe, for the local gateway (local/wsgate/template.py)."""
    localized = built.with_name("template.local.json")
    described = cfg.state / "run" / "websocket-apis.json"
    described.parent.mkdir(parents=True, exist_ok=True)
    python = cfg.venvs / "app" / "bin" / "python"
    argv = [python, "-m", "local.wsgate.template", built, localized, "--stack", STACK]
    argv += ["--http-base", cfg.wsgate_url, "--ws-base", cfg.wsgate_url.replace("http://", "ws://", 1)]
    with open(described, "w") as out, open(log, "ab") as err:
        code = subprocess.call([str(a) for a in argv], stdout=out, stderr=err, cwd=ROOT)
    if code != 0:
        raise StackError(f"local.wsgate.template exited {code}; log {log}")
    return localized, json.loads(described.read_text())


def register_websockets(cfg: Config, specs: list[dict]) -> dict:
    """Hands the deployed stack's WebSocket APIs to the local gateway; their URLs, for the outputs."""
    resources = json.loads(_aws(cfg, "cloudformation", "describe-stack-resources", "--stack-name", STACK))
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}
    registry = wsgate_apis.Registry(cfg.wsgate_apis)
    ws_base = cfg.wsgate_url.replace("http://", "ws://", 1)
    return {
        api.logical_id: wsgate_apis.urls(api, cfg.wsgate_url, ws_base)
        for api in wsgate_apis.register(registry, STACK, specs, physical)
    }


def write_outputs(cfg: Config, websocket_apis: dict | None = None) -> dict:
    stack = json.loads(_aws(cfg, "cloudformation", "describe-stacks", "--stack-name", STACK))["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # The template's ApiUrl is AWS's; LocalStack serves the same API under its own path.
    outputs["ApiUrl"] = cfg.endpoint + EXECUTE_API_PREFIX.format(apiId=outputs["ApiId"]) + "/Prod"
    outputs["WebUrl"] = web.page_url(cfg.localstack_port, outputs["WebBucketName"])
    outputs.update(StackName=STACK, Region=REGION, Endpoint=cfg.endpoint)
    # The template's WebSocket APIs as the local gateway serves them: {logical id: {Url, ...}}.
    outputs["WebSocketApis"] = websocket_apis or {}
    cfg.outputs_file.write_text(json.dumps(outputs, indent=2) + "\n")
    return outputs


def invoke(cfg: Config, output_key: str) -> str:
    """Invokes a deployed function named by a stack output; returns its answer."""
    name = json.loads(cfg.outputs_file.read_text())[output_key]
    answer = cfg.state / "run" / f"{output_key}.json"
    meta = json.loads(_aws(cfg, "lambda", "invoke", "--function-name", name, "--payload", "{}", str(answer)))
    if "FunctionError" in meta:
        raise StackError(f"{name} failed: {answer.read_text()}")
    return answer.read_text()
