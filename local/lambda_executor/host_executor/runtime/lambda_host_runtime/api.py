"""Reports to LocalStack's executor endpoint: the init status (ready, or the load error).

Invocations are answered on the executor's own connection (server.py), not here.
"""

import http.client
from urllib.parse import urlsplit


class RuntimeApi:
    def __init__(self, endpoint: str, runtime_id: str):
        url = urlsplit(endpoint)
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._prefix = url.path.rstrip("/")
        self._runtime_id = runtime_id

    def ready(self) -> None:
        self._post(f"/status/{self._runtime_id}/ready", b"{}")

    def init_error(self, payload: bytes) -> None:
        self._post(f"/status/{self._runtime_id}/error", payload)

    def _post(self, path: str, body: bytes) -> None:
        # http.client, not urllib: a function's HTTP_PROXY variable must not reroute these calls.
        connection = http.client.HTTPConnection(self._host, self._port, timeout=60)
        try:
            connection.request("POST", self._prefix + path, body, {"Content-Type": "application/json"})
            connection.getresponse().read()
        finally:
            connection.close()
