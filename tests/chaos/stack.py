"""The stack under test and the faults put on it, all from the orchestrator's configuration.

`local.stack` reads CHAT_STATE_DIR and the *_PORT variables, so `make chaos` run by anyone hits
that person's stack, and the same variables point the in-process adapters at it.
"""

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import redis
from botocore.config import Config as BotoConfig

from local.stack import config, deploy, probes, proc, services

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions"))

SERVICES = {svc.name: svc for svc in services.ALL}

if TYPE_CHECKING:
    from chalicelib.usecases import ports
    from chalicelib.wiring.stores import Stores


def target() -> config.Config:
    cfg = config.load()
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }.items():
        os.environ.setdefault(name, value)
    os.environ["AWS_ENDPOINT_URL"] = cfg.endpoint
    return cfg


def outputs(cfg: config.Config) -> dict:
    return json.loads(cfg.outputs_file.read_text())


def settings_env(cfg: config.Config) -> dict:
    """What the deployed functions are given, as the in-process handlers must see it too."""
    return {
        "MYSQL_PORT": str(cfg.mysql_port),
        "REDIS_URL": f"redis://127.0.0.1:{cfg.redis_port}/0",
        "ELASTICSEARCH_URL": f"http://127.0.0.1:{cfg.es_port}",
        "MESSAGES_INDEX": "messages",
        "CREATIONS_QUEUE_URL": outputs(cfg)["QueueUrl"],
        "DEAD_LETTER_QUEUE_URL": outputs(cfg)["DeadLetterQueueUrl"],
    }


def redis_client(cfg: config.Config) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=cfg.redis_port, db=0, socket_timeout=5)


def sqs():
    return boto3.client(
        "sqs",
        config=BotoConfig(
            max_pool_connections=64,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=2,
            read_timeout=5,
        ),
    )


def app_deps(cfg: config.Config) -> "Stores":
    """The product's adapters on the stack's services and its deployed queue (many threads at once)."""
    from chalicelib.wiring import settings, stores

    # No quotas: the load generator stands for many clients at once and offers more than one
    # application's quota on purpose (quotas have tests of their own, the noisy neighbour's too).
    built = stores.build(settings.from_env(settings_env(cfg)), sqs=_product_sqs())
    return built.replace(limits=None)


def _product_sqs() -> Any:
    """The product's bounds on a send (a request never queues after its time), with room for many threads."""
    from chalicelib.adapters.sqs import queue

    return boto3.client("sqs", config=queue.CLIENT_CONFIG.merge(BotoConfig(max_pool_connections=64)))


def creation_queue(cfg: config.Config) -> "ports.Queue":
    """The product's adapter on the deployed creation queue (new URLs after a redeploy)."""
    from chalicelib.adapters.sqs import queue

    urls = outputs(cfg)
    return queue.Queue(_product_sqs(), urls["QueueUrl"], dead_letter_url=urls["DeadLetterQueueUrl"])


def invoke(cfg: config.Config, output_key: str, payload: dict | None = None) -> dict:
    answer = boto3.client("lambda").invoke(
        FunctionName=outputs(cfg)[output_key], Payload=json.dumps(payload or {}).encode()
    )
    body = json.loads(answer["Payload"].read() or b"null")
    if "FunctionError" in answer:
        raise RuntimeError(f"{output_key} failed: {body}")
    return body


# -- faults ----------------------------------------------------------------------------------------


def stop(cfg: config.Config, name: str) -> None:
    SERVICES[name].process(cfg).stop()


def start(cfg: config.Config, name: str) -> None:
    SERVICES[name].up(cfg)


def restart_localstack(cfg: config.Config) -> None:
    """LocalStack keeps its state in memory: after a restart the stack has to be deployed again."""
    stop(cfg, "localstack")
    # Its listening socket can outlive the process by a moment; `up` refuses a port in use.
    proc.wait_for(lambda: not probes.port_open(cfg.localstack_port), 30)
    start(cfg, "localstack")
    deploy.deploy(cfg)


def function_environments(cfg: config.Config, output_key: str) -> list:
    """Pids of the host processes running one deployed function (its Lambda environments)."""
    name = outputs(cfg)[output_key]
    return [
        pid
        for pid, cmdline in proc.leftovers(str(cfg.state))
        if "lambda_host_runtime" in cmdline and f"/{name}-" in cmdline
    ]


def kill_environments(cfg: config.Config, output_key: str) -> int:
    """SIGKILLs every environment of the function, as a crashed Lambda sandbox; returns how many."""
    pids = function_environments(cfg, output_key)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def rss_mib(pids: list) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return round(total / 1024, 1)


def wait(check, timeout: float, interval: float = 1.0) -> float:
    """Seconds until `check()` held; raises TimeoutError after `timeout`."""
    started = time.monotonic()
    if not proc.wait_for(check, timeout, interval):
        raise TimeoutError(f"not settled within {timeout:.0f} s")
    return time.monotonic() - started


@contextlib.contextmanager
def writer_paused(lam, outputs: dict):
    """The deployed writer's queue mapping disabled meanwhile: the queue fills, nothing drains."""
    mapping = next(
        m["UUID"]
        for m in lam.list_event_source_mappings(FunctionName=outputs["WriterFunctionName"])[
            "EventSourceMappings"
        ]
    )
    lam.update_event_source_mapping(UUID=mapping, Enabled=False)
    try:
        time.sleep(2)  # the poller notices
        yield
    finally:
        lam.update_event_source_mapping(UUID=mapping, Enabled=True)
