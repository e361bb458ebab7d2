"""The web client in web/: its files with the API's URL filled in, for the bucket or a local server.

The page finds the API (and the live-delivery socket) in config.js, written here, and may connect
to their origins only: its Content-Security-Policy's `connect-src 'none'` becomes those origins in
index.html. The rest of web/ is served as it is.
"""

import functools
import json
import shutil
import subprocess
import threading
import tomllib
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .config import ROOT

WEB = ROOT / "web"


def config_js(api_url: str, socket_url: str = "") -> bytes:
    return f"window.CHAT_CONFIG = {json.dumps({'apiUrl': api_url, 'socketUrl': socket_url})};\n".encode()


_CONNECT_SRC = "connect-src 'none';"


def _origin(url: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"{url!r} is not a {'/'.join(schemes)} URL")
    return f"{parts.scheme}://{parts.netloc}"


def index_html(api_url: str, socket_url: str = "") -> bytes:
    """web/index.html whose policy lets the page connect to the API's origin (and the socket's)
    and nowhere else."""
    origins = [_origin(api_url, ("http", "https"))]
    if socket_url:
        origins.append(_origin(socket_url, ("ws", "wss")))
    page = (WEB / "index.html").read_text()
    if page.count(_CONNECT_SRC) != 1:
        raise ValueError(f"web/index.html must hold {_CONNECT_SRC!r} once, for the API's origin")
    return page.replace(_CONNECT_SRC, f"connect-src {' '.join(origins)};").encode()


def stage(api_url: str, into: Path, socket_url: str = "") -> Path:
    """A copy of web/ plus its config.js and policy, ready to upload."""
    shutil.rmtree(into, ignore_errors=True)
    shutil.copytree(WEB, into)
    (into / "config.js").write_bytes(config_js(api_url, socket_url))
    (into / "index.html").write_bytes(index_html(api_url, socket_url))
    return into


def page_url(endpoint_port: int, bucket: str) -> str:
    # `localhost` rather than the API's 127.0.0.1: another origin for the same LocalStack, so the
    # page calls the API across origins as it does on AWS (CloudFront's domain, API Gateway's).
    return f"http://localhost:{endpoint_port}/{bucket}/index.html"


def upload_to_aws(aws: str, staging: Path) -> str:
    """After `make deploy-aws`: web/ into the stack's bucket, for its API; returns the page's URL."""
    saved = tomllib.loads((ROOT / "infra" / "samconfig.toml").read_text())["aws"]["deploy"]["parameters"]
    where = ["--region", saved["region"]]
    described = subprocess.run(
        [
            aws,
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            saved["stack_name"],
            "--output",
            "json",
            *where,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in json.loads(described.stdout)["Stacks"][0]["Outputs"]}
    staged = stage(outputs["ApiUrl"], staging, outputs.get("WebSocketUrl", ""))
    bucket = f"s3://{outputs['WebBucketName']}"
    subprocess.run(
        [aws, "s3", "sync", str(staged), bucket, "--delete", "--cache-control", "no-cache", *where],
        check=True,
    )
    return outputs.get("WebUrl", f"{bucket} (WebDistribution is Disabled: no public URL)")


class _Handler(SimpleHTTPRequestHandler):
    api_url = ""
    socket_url = ""

    def do_GET(self) -> None:
        written = {
            "/config.js": (config_js, "text/javascript"),
            "/index.html": (index_html, "text/html; charset=utf-8"),
            "/": (index_html, "text/html; charset=utf-8"),
        }.get(self.path.split("?")[0])
        if written is None:
            return super().do_GET()
        make, content_type = written
        body = make(self.api_url, self.socket_url)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # edits in web/ show on the next reload
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def server(api_url: str, port: int, host: str = "127.0.0.1", socket_url: str = "") -> ThreadingHTTPServer:
    """Serves web/ as it is on disk, with config.js pointing at `api_url`; call serve_forever()."""
    handler = type("Handler", (_Handler,), {"api_url": api_url, "socket_url": socket_url})
    return ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(WEB)))


def serve_in_background(api_url: str, port: int, socket_url: str = "") -> ThreadingHTTPServer:
    httpd = server(api_url, port, socket_url=socket_url)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
