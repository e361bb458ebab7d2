"""The bench's own resources in the running LocalStack: functions, a no-op API, queues.

Everything is named `chat-bench-*` and deleted by `cleanup()`, so the deployed `chat` stack is
never changed. The functions run the same code and layer as the stack's (functions/ and the
layer `sam build` made under the state dir), pointed at the bench's stores.
"""

import functools
import hashlib
import importlib.util
import io
import json
import py_compile
import tempfile
import time
import zipfile
from pathlib import Path

import boto3

from tests.bench import common

PREFIX = "chat-bench"
BUCKET = "chat-bench-artifacts"
ROLE = "arn:aws:iam::000000000000:role/chat-bench"
LAYER_SOURCE = common.STATE / "build" / "Dependencies"
NOOP_CODE = "def handler(event, context):\n    return {'statusCode': 200, 'body': '{}'}\n"


def _zip(files: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, path_or_text in sorted(files.items()):
            if isinstance(path_or_text, Path):
                z.write(path_or_text, name)
            else:
                z.writestr(name, path_or_text)
    return buffer.getvalue()


# Once per tree and run: the cold start section creates 24 functions from two trees.
@functools.cache
def code_zip(root: Path = common.FUNCTIONS) -> bytes:
    """The functions' code under `root` as sam build ships it (functions/Makefile): every file (Lua
    scripts too) and each module's bytecode, checked by hash."""
    files: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="bench-code-") as tmp:
        for path in root.rglob("*"):
            name = str(path.relative_to(root))
            if not path.is_file() or "__pycache__" in path.parts or name == "Makefile":
                continue
            files[name] = path
            if path.suffix == ".py":
                cached = importlib.util.cache_from_source(name)
                py_compile.compile(
                    str(path),
                    cfile=str(Path(tmp) / cached),
                    dfile=name,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
                )
                files[cached] = Path(tmp) / cached
        return _zip(files)


def layer_zip() -> Path:
    """The stack's built layer with its bytecode, zipped once per content (cached under the state dir)."""
    if not (LAYER_SOURCE / "python").is_dir():
        raise RuntimeError(f"{LAYER_SOURCE} is missing: run `make up` (sam build makes it)")
    files = {str(p.relative_to(LAYER_SOURCE)): p for p in sorted(LAYER_SOURCE.rglob("*")) if p.is_file()}
    digest = hashlib.sha256(
        "".join(f"{n}:{p.stat().st_size}" for n, p in files.items()).encode()
    ).hexdigest()[:16]
    out = common.OUT_DIR / "build" / f"layer-{digest}.zip"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(_zip(files))
        tmp.rename(out)
    return out


class Resources:
    def __init__(self, progress=print, endpoint: str | None = None):
        """`endpoint`: another LocalStack than the stack's (AWS_ENDPOINT_URL)."""
        self.progress = progress
        self.lam = boto3.client("lambda", endpoint_url=endpoint)
        self.apigw = boto3.client("apigateway", endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.s3 = boto3.client("s3", endpoint_url=endpoint)
        self.logs = boto3.client("logs", endpoint_url=endpoint)
        self.endpoint = endpoint or common.ENDPOINT
        self.functions: list[str] = []
        self.apis: list[str] = []
        self.queues: list[str] = []
        self.mappings: list[str] = []
        self.layer_arn: str | None = None
        self.cleanup(leftovers_only=True)

    # -- making things -------------------------------------------------------------------------

    def layer(self) -> str:
        if self.layer_arn is None:
            path = layer_zip()
            self._bucket()
            self.s3.upload_file(str(path), BUCKET, path.name)
            self.layer_arn = self.lam.publish_layer_version(
                LayerName=f"{PREFIX}-deps",
                Content={"S3Bucket": BUCKET, "S3Key": path.name},
                CompatibleRuntimes=["python3.13"],
            )["LayerVersionArn"]
        return self.layer_arn

    def _bucket(self) -> None:
        try:
            self.s3.head_bucket(Bucket=BUCKET)
        except self.s3.exceptions.ClientError:
            self.s3.create_bucket(Bucket=BUCKET)

    def function(
        self,
        suffix: str,
        handler: str,
        env: dict,
        memory: int = 256,
        timeout: int = 30,
        noop: bool = False,
        code: Path = common.FUNCTIONS,
    ) -> str:
        """Creates a function (of the code under `code`) and waits until it is Active; returns its name."""
        name = f"{PREFIX}-{suffix}"
        kwargs = (
            {"Code": {"ZipFile": _zip({"noop.py": NOOP_CODE})}}
            if noop
            else {
                "Code": {"ZipFile": code_zip(code)},
                "Layers": [self.layer()],
                "Environment": {"Variables": env},
            }
        )
        self.lam.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=ROLE,
            Handler=handler,
            MemorySize=memory,
            Timeout=timeout,
            **kwargs,
        )
        self.functions.append(name)
        self.lam.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120}
        )
        return name

    def queue(self, suffix: str) -> tuple:
        url = self.sqs.create_queue(QueueName=f"{PREFIX}-{suffix}", Attributes={"VisibilityTimeout": "180"})[
            "QueueUrl"
        ]
        self.queues.append(url)
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    def sqs_mapping(self, function: str, queue_arn: str, batch_size: int, window: int) -> str:
        uuid = self.lam.create_event_source_mapping(
            FunctionName=function,
            EventSourceArn=queue_arn,
            BatchSize=batch_size,
            MaximumBatchingWindowInSeconds=window,
            FunctionResponseTypes=["ReportBatchItemFailures"],
            Enabled=True,
        )["UUID"]
        self.mappings.append(uuid)
        return uuid

    def proxy_api(self, function: str) -> str:
        """A REST API whose every path goes to `function` (AWS_PROXY); returns its base URL."""
        api = self.apigw.create_rest_api(name=f"{PREFIX}-noop")["id"]
        self.apis.append(api)
        root = next(r["id"] for r in self.apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
        proxy = self.apigw.create_resource(restApiId=api, parentId=root, pathPart="{proxy+}")["id"]
        arn = self.lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
        self.apigw.put_method(restApiId=api, resourceId=proxy, httpMethod="ANY", authorizationType="NONE")
        self.apigw.put_integration(
            restApiId=api,
            resourceId=proxy,
            httpMethod="ANY",
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
        )
        self.apigw.create_deployment(restApiId=api, stageName="bench")
        return f"{self.endpoint}/_aws/execute-api/{api}/bench"

    # -- using them ----------------------------------------------------------------------------

    def invoke(self, name: str, payload: dict) -> dict:
        """Invokes once; returns the client's wall time and the REPORT line's figures."""
        started = time.perf_counter()
        answer = self.lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
        wall_ms = (time.perf_counter() - started) * 1000
        body = answer["Payload"].read()
        import base64

        log = base64.b64decode(answer.get("LogResult", "")).decode(errors="replace")
        report = parse_report(log)
        return {
            "wall_ms": round(wall_ms, 1),
            "error": answer.get("FunctionError"),
            "answer": body[:200].decode(errors="replace"),
            **report,
        }

    def reports(self, name: str, window: tuple = ()) -> list:
        """Every REPORT line the function logged (CloudWatch Logs), parsed; only those of the
        (start, end) epoch milliseconds of `window` if given."""
        out, kwargs = [], {"logGroupName": f"/aws/lambda/{name}", "filterPattern": "REPORT"}
        if window:
            kwargs.update(startTime=window[0], endTime=window[1])
        try:
            while True:
                page = self.logs.filter_log_events(**kwargs)
                out += [parse_report(e["message"]) for e in page["events"] if "REPORT" in e["message"]]
                if "nextToken" not in page:
                    return out
                kwargs["nextToken"] = page["nextToken"]
        except self.logs.exceptions.ResourceNotFoundException:
            return out

    # -- removing them -------------------------------------------------------------------------

    def cleanup(self, leftovers_only: bool = False) -> None:
        """Deletes what this object made; first, anything named chat-bench-* an earlier run left."""
        if leftovers_only:
            self.mappings = [
                m["UUID"]
                for m in self.lam.list_event_source_mappings()["EventSourceMappings"]
                if f":function:{PREFIX}-" in m.get("FunctionArn", "")
            ]
            self.functions = [
                f["FunctionName"]
                for f in self.lam.list_functions()["Functions"]
                if f["FunctionName"].startswith(PREFIX)
            ]
            self.apis = [a["id"] for a in self.apigw.get_rest_apis()["items"] if a["name"].startswith(PREFIX)]
            self.queues = [u for u in self.sqs.list_queues(QueueNamePrefix=PREFIX).get("QueueUrls", [])]
        for uuid in self.mappings:
            _quietly(lambda: self.lam.delete_event_source_mapping(UUID=uuid))
        for api in self.apis:
            _quietly(lambda: self.apigw.delete_rest_api(restApiId=api))
        for name in self.functions:
            _quietly(lambda: self.lam.delete_function(FunctionName=name))
            _quietly(lambda: self.logs.delete_log_group(logGroupName=f"/aws/lambda/{name}"))
        for url in self.queues:
            _quietly(lambda: self.sqs.delete_queue(QueueUrl=url))
        if not leftovers_only:
            for version in self.lam.list_layer_versions(LayerName=f"{PREFIX}-deps").get("LayerVersions", []):
                _quietly(
                    lambda: self.lam.delete_layer_version(
                        LayerName=f"{PREFIX}-deps", VersionNumber=version["Version"]
                    )
                )
        self.functions, self.apis, self.queues, self.mappings = [], [], [], []


def run_alone(run, section: str, **kwargs) -> None:
    """Runs one benchmark that needs these resources on its own, and removes them after."""
    resources = Resources()
    try:
        print(json.dumps(run(resources, progress=common.Progress(section), **kwargs), indent=2))
    finally:
        resources.cleanup()


def parse_report(log: str) -> dict:
    """Duration, Init Duration and Max Memory Used from a REPORT line, in ms and MB."""
    out = {}
    for line in log.splitlines():
        if "REPORT RequestId" not in line:
            continue
        for field in line.split("\t"):
            key, _, value = field.partition(":")
            key = key.strip()
            if key in ("Duration", "Init Duration", "Max Memory Used", "Memory Size"):
                out[key.lower().replace(" ", "_")] = float(value.split()[0])
    return out


def _quietly(action) -> None:
    try:
        action()
    except Exception:  # cleaning up: already gone is fine
        pass
