"""Receives invocations from LocalStack: answers 202 at once, then queues them for the main thread.

The 202 goes out before the handler runs: if the handler kills the process first, LocalStack would
otherwise retry the invocation and hang.
"""

import json
import queue
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


class _InvokeServer(HTTPServer):
    inbox: "queue.Queue[dict]"


class _InvokeRequest(BaseHTTPRequestHandler):
    server: _InvokeServer

    def do_POST(self) -> None:
        if self.path != "/invoke":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.wfile.flush()
        self.server.inbox.put(json.loads(body))

    def log_message(self, format: str, *args) -> None:
        """Keep the function's log free of access lines."""


def start(listen_fd: int) -> "queue.Queue[dict]":
    """Serve on the socket inherited from LocalStack; return the queue of received invocations."""
    server = _InvokeServer(("127.0.0.1", 0), _InvokeRequest, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=listen_fd)
    server.inbox = queue.Queue()
    threading.Thread(target=server.serve_forever, name="invoke-listener", daemon=True).start()
    return server.inbox
