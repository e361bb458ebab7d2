"""Health probes that need nothing but the standard library."""

import socket
import urllib.request


def http_get(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.status, dict(resp.headers), resp.read()


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")


def redis_command(port: int, *words: str) -> bytes:
    """One inline command (words without spaces) to the Redis at `port`; its raw reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(" ".join(words).encode() + b"\r\n")
        return s.recv(256)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
