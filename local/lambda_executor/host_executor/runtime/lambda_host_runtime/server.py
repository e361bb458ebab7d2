"""Receives invocations from the executor and answers each with its result, on the main thread.

One HTTP/1.1 keep-alive connection from the executor carries every invocation: `POST /invoke` in,
`200` with the function's response or error payload out (the `X-Invocation-Outcome` header says
which). Nothing goes back through LocalStack's gateway. If the handler kills the process, the
executor sees the connection break and reads the exit code; LocalStack's own retry on a connection
error (the reason its protocol answers 202 first) is not in this path, since the executor posts.
"""

import json
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

# (succeeded, body): the function's JSON response, or the AWS error payload.
Outcome = tuple[bool, bytes]
OUTCOME_HEADER = "X-Invocation-Outcome"


class _InvokeServer(HTTPServer):
    run_invocation: Callable[[dict], Outcome]


class _InvokeRequest(BaseHTTPRequestHandler):
    server: _InvokeServer
    protocol_version = "HTTP/1.1"  # keep-alive: one connection for the environment's life
    disable_nagle_algorithm = True  # the header and body writes must not wait for an ACK

    def do_POST(self) -> None:
        if self.path != "/invoke":
            self.send_error(404)
            return
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        succeeded, body = self.server.run_invocation(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(OUTCOME_HEADER, "response" if succeeded else "error")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        """Keep the function's log free of access lines."""


def serve(listen_fd: int, run_invocation: Callable[[dict], Outcome]) -> None:
    """Serve on the socket inherited from the executor, running each invocation here (the main
    thread, as on AWS: signal handlers and alarms in the function work). Never returns."""
    server = _InvokeServer(("127.0.0.1", 0), _InvokeRequest, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=listen_fd)
    server.run_invocation = run_invocation
    server.serve_forever()
