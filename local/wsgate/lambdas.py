"""Invokes the route's Lambda function through LocalStack's Lambda API, as API Gateway does."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


class IntegrationError(Exception):
    """The function failed, timed out or could not be invoked: AWS answers 'Internal server error'."""


class Invoker:
    def __init__(self, endpoint: str, region: str, workers: int = 64):
        # boto3 blocks: a pool of threads gives it the concurrency API Gateway has (one invocation
        # per message in flight, none waiting on another connection's).
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="invoke")
        self._client = boto3.client(
            "lambda",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            # API Gateway never retries an integration; its timeout is 29 s, the function's own may
            # be longer locally (docs/platform.md).
            config=Config(
                retries={"total_max_attempts": 1},
                read_timeout=900,
                connect_timeout=5,
                max_pool_connections=workers,
            ),
        )

    async def invoke(self, function: str, event: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._invoke, function, json.dumps(event))

    def _invoke(self, function: str, payload: str) -> Any:
        try:
            answer = self._client.invoke(FunctionName=function, Payload=payload.encode())
            body = answer["Payload"].read()
        except (BotoCoreError, ClientError) as exc:
            raise IntegrationError(f"{function}: {exc}") from exc
        if "FunctionError" in answer:
            raise IntegrationError(f"{function}: {body[:500]!r}")
        try:
            return json.loads(body) if body else None
        except ValueError as exc:
            raise IntegrationError(f"{function} answered no JSON: {body[:200]!r}") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
