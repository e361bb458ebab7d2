"""`make dev`: the API under `chalice local`, reloading on every save, against `make up`'s stores.

Only the API runs here; the writer and the counter keep running in LocalStack, fed by the same
queue, so a message posted here is persisted and indexed as it is through the deployed API. The
settings are the deployed functions' (the stack's ports and queue), given as environment
variables: `functions/.chalice/config.json` holds none, so it cannot drift from the template.
"""

import json
import os
import re

from .config import ROOT, Config
from .deploy import local_aws, local_parameters
from .proc import StackError


def environment(cfg: Config) -> dict:
    if not cfg.outputs_file.exists():
        raise StackError(f"{cfg.outputs_file} is missing: run `make up` first")
    outputs = json.loads(cfg.outputs_file.read_text())
    # The deployed API's quotas (RateLimitCreates -> RATE_LIMIT_CREATES): both count in one Redis.
    quotas = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper(): value
        for name, value in local_parameters(cfg).items()
        if name.startswith("RateLimit")
    }
    return dict(
        os.environ,
        MYSQL_PORT=str(cfg.mysql_port),
        REDIS_URL=f"redis://127.0.0.1:{cfg.redis_port}/0",
        ELASTICSEARCH_URL=f"http://127.0.0.1:{cfg.es_port}",
        CREATIONS_QUEUE_URL=outputs["QueueUrl"],
        **quotas,
        **local_aws(cfg),
    )


def serve(cfg: Config, port: int) -> None:
    """Replaces this process with `chalice local` (it restarts its worker when a file changes)."""
    chalice = cfg.venvs / "app" / "bin" / "chalice"
    args = [str(chalice), "--project-dir", str(ROOT / "functions"), "local"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--stage", "dev", "--autoreload"]
    print(f"API: http://127.0.0.1:{port}  (chalice local, reloads on save; Ctrl-C stops it)", flush=True)
    # Next-page links point here, as the deployed API's point at its own URL.
    os.execve(args[0], args, {**environment(cfg), "API_BASE_URL": f"http://127.0.0.1:{port}"})
