"""A webhook receiver inside pytest: an HTTP server on loopback that records what it is sent and
answers as the test scripts it (a status, a delay, the first attempts failed)."""

import http.server
import json
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    status: int = 200
    delay: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)
    # Answers 500 to this many requests first, whatever `status` says.
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)
    answered: int = 0
    # When each request was answered, 2xx or not.
    attempts: list[float] = field(default_factory=list)
    # When each request arrived (before `delay`).
    arrived: list[float] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self) -> list[dict]:
        return [r.event for r in self.received]

    def first_arrivals(self) -> dict[tuple[int, int], "Received"]:
        """(chat, message number) -> the first delivery of its message's event."""
        first: dict[tuple[int, int], Received] = {}
        for got in self.received:
            data = got.event["data"]
            first.setdefault((data["chat_number"], data["message"]["number"]), got)
        return first

    def duplicates(self) -> int:
        """Deliveries of an event already delivered (the same `webhook-id` again)."""
        return len(self.received) - len({got.headers["webhook-id"] for got in self.received})

    def in_order(self) -> bool:
        """Each chat's positions ascend, redeliveries aside (a receiver dedupes by `webhook-id`)."""
        seen: set[str] = set()
        last: dict[int, int] = {}
        for got in self.received:
            if got.headers["webhook-id"] in seen:
                continue
            seen.add(got.headers["webhook-id"])
            chat, position = got.event["data"]["chat_number"], got.event["data"]["position"]
            if position < last.get(chat, -1):
                return False
            last[chat] = position
        return True


def start(receiver: Receiver) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.arrived.append(time.time())
            if receiver.delay:
                time.sleep(receiver.delay)
            receiver.attempts.append(time.time())
            status = 500 if len(receiver.attempts) <= receiver.fail_first else receiver.status
            if 200 <= status < 300:
                receiver.received.append(Received(dict(self.headers.items()), body, time.time()))
            receiver.answered += 1
            try:
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the sender gave up waiting (its timeout, or the fast lane's budget)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: http.server.ThreadingHTTPServer) -> None:
    """Stops serving and closes the listening socket: a server only shut down still accepts
    connections into its backlog, so its endpoint would look like a receiver that never answers."""
    server.shutdown()
    server.server_close()
