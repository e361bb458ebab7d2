"""Redis connections that know which server they talk to, and scripts run on one of them.

A server's identity is its `run_id` (new on every start, so also after a restore from a snapshot)
and its `master_replid` (new when a replica is promoted). Both are read once, when a connection
opens, never per request: a failover or a restart drops every connection, so the next request
reconnects and reads the new identity. The numbering scripts compare it with the identity the
epoch was opened on (epoch.py). A `WAIT` must follow its script on the same connection, so
scripts are sent with their `WAIT` in one round trip on one connection taken from the pool.
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import redis


def identify(conn: Any) -> None:  # a redis-py connection (its methods are untyped)
    """redis-py's `redis_connect_func`: the usual handshake, then the server's identity."""
    conn.on_connect()
    conn.send_command("INFO", "server")
    server = conn.read_response()
    conn.send_command("INFO", "replication")
    replication = conn.read_response()
    conn.server_identity = f"{_field(server, 'run_id')}/{_field(replication, 'master_replid')}"


def _field(info: bytes | str, name: str) -> str:
    text = info.decode() if isinstance(info, bytes) else info
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "unknown"


class Scripts:
    """Runs registered Lua scripts with the connection's server identity as ARGV[1]."""

    def __init__(self, client: redis.Redis, wait_replicas: int = 0, wait_timeout_ms: int = 100):
        self._client = client
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    def run(
        self, script: str, keys: Sequence[str], args: Sequence[Any], wait: bool = False
    ) -> tuple[Any, int | None]:
        """(the script's reply, replicas that acknowledged it or None if not waited for).

        Raises redis errors as redis raises them; a connection that failed is dropped."""
        sha = self._sha(script)
        for attempt in (1, 2):
            reply, acked = self._send(sha, keys, args, wait and self.wait_replicas > 0)
            if isinstance(reply, redis.exceptions.NoScriptError) and attempt == 1:
                self._client.script_load(script)  # the server restarted or its scripts were flushed
                continue
            if isinstance(reply, redis.exceptions.ReadOnlyError):
                # A demoted primary: drop every connection, the next ones find the promoted one.
                self._client.connection_pool.disconnect()
            if isinstance(reply, Exception):
                raise reply
            return reply, acked
        raise AssertionError("unreachable")

    def _send(self, sha: str, keys: Sequence[str], args: Sequence[Any], wait: bool) -> tuple[Any, int | None]:
        pool = self._client.connection_pool
        conn: Any = pool.get_connection()
        try:
            identity = conn.server_identity
            commands: list[tuple[Any, ...]] = [("EVALSHA", sha, len(keys), *keys, identity, *args)]
            if wait:
                commands.append(("WAIT", self.wait_replicas, self.wait_timeout_ms))
            conn.send_packed_command(conn.pack_commands(commands))
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except redis.exceptions.ResponseError as exc:  # that reply is read; go on
                    replies.append(exc)
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        return replies[0], (int(replies[1]) if wait and not isinstance(replies[1], Exception) else None)

    @staticmethod
    def _sha(script: str) -> str:
        return hashlib.sha1(script.encode()).hexdigest()  # Redis names scripts by their SHA-1
