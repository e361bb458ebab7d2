"""What the integration tests share: where their Redis database is, and calls to the in-process API
(chalice.test.Client)."""

import json
from typing import Any

from tests.conftest import REDIS_PORT

JSON = {"content-type": "application/json"}
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/1"  # a database of its own


def call(
    client: Any, method: str, path: str, raw: str | bytes | None = None, headers: dict[str, str] = JSON
) -> tuple[int, Any]:
    """Sends `raw` as the body as it is (bad input included); returns (status, decoded answer)."""
    response = getattr(client.http, method)(path, headers=headers, body=raw)
    return response.status_code, json.loads(response.body)


def post(client: Any, path: str, body: Any = None) -> tuple[int, Any]:
    """POSTs `body` as JSON (no body when None); returns (status, decoded answer)."""
    response = client.http.post(path, headers=JSON, body=json.dumps(body) if body is not None else "")
    return response.status_code, json.loads(response.body)


def patch(client: Any, path: str, body: Any) -> tuple[int, Any]:
    response = client.http.patch(path, headers=JSON, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def get(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    response = client.http.get(path, headers=headers or {})
    return response.status_code, json.loads(response.body), response.headers
