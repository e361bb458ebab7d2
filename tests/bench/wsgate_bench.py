"""The local WebSocket gateway's own costs, on the echo API of its platform tests (a stack of the
bench's own, deleted after):

- round trip: a client sends a message, the `$default` function posts it back through
  `@connections`, the client reads it (client -> gateway -> Lambda -> @connections -> client);
- fan-out: N connected sockets, one loop POSTing to each (through boto3's apigatewaymanagementapi
  client, and as plain keep-alive HTTP for the gateway's share alone), on 1 and on 8 threads; the
  time until the last socket has its message, and each POST's.

    .local/venvs/app/bin/python -m tests.bench.wsgate_bench [--messages 200] [--sockets 1000]
"""

import argparse
import asyncio
import http.client
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection, connect

from local.stack import config
from tests.conftest import STATE
from tests.platform.wsgate_stack import EchoStack, echo_stack

NOTICE = b'{"notice": 1}'


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values_ms: list[float]) -> dict:
    return {
        "n": len(values_ms),
        "p50_ms": round(statistics.median(values_ms), 2),
        "p99_ms": round(_percentile(values_ms, 0.99), 2),
        "max_ms": round(max(values_ms), 2),
    }


async def round_trips(echo: EchoStack, messages: int, warm_up: int = 10) -> dict:
    async with connect(echo.url, proxy=None) as socket:
        times = []
        for i in range(warm_up + messages):
            started = time.perf_counter()
            await socket.send(f"ping {i}")
            json.loads(await socket.recv())
            if i >= warm_up:
                times.append((time.perf_counter() - started) * 1000)
    return _summary(times)


async def _who(socket: ClientConnection) -> str:
    await socket.send("who am I")
    return json.loads(await socket.recv())["connectionId"]


def _boto3_poster(echo: EchoStack) -> Callable[[str], None]:
    management = echo.management()
    return lambda connection_id: management.post_to_connection(ConnectionId=connection_id, Data=NOTICE)


def _raw_poster(echo: EchoStack) -> Callable[[str], None]:
    """Plain keep-alive HTTP, one connection per thread: the gateway's share without boto3's."""
    local = threading.local()
    endpoint = urlsplit(echo.management_endpoint)

    def post(connection_id: str) -> None:
        if not hasattr(local, "http"):
            local.http = http.client.HTTPConnection(endpoint.netloc, timeout=30)
        local.http.request("POST", f"{endpoint.path}/@connections/{quote(connection_id, safe='')}", NOTICE)
        response = local.http.getresponse()
        response.read()
        assert response.status == 200, response.status

    return post


async def fan_out(echo: EchoStack, sockets: int, threads: int, client: str) -> dict:
    opening = asyncio.Semaphore(16)

    async def open_one() -> tuple[ClientConnection, str]:
        async with opening:
            socket = await connect(echo.url, proxy=None, open_timeout=60)
            return socket, await asyncio.wait_for(_who(socket), 60)

    started = time.perf_counter()
    opened = await asyncio.gather(*(open_one() for _ in range(sockets)))
    open_seconds = time.perf_counter() - started
    arrivals: list[float] = []

    async def receive(socket: ClientConnection) -> None:
        await socket.recv()
        arrivals.append(time.perf_counter())

    receivers = [asyncio.create_task(receive(socket)) for socket, _ in opened]
    send = (_boto3_poster if client == "boto3" else _raw_poster)(echo)
    posts: list[float] = []

    def post(connection_id: str) -> None:
        began = time.perf_counter()
        send(connection_id)
        posts.append((time.perf_counter() - began) * 1000)

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(threads) as pool:
        first_post = time.perf_counter()
        await asyncio.gather(*(loop.run_in_executor(pool, post, cid) for _, cid in opened))
        loop_seconds = time.perf_counter() - first_post
    await asyncio.wait_for(asyncio.gather(*receivers), 60)
    for socket, _ in opened:
        await socket.close()
    return {
        "sockets": sockets,
        "client": client,
        "post_threads": threads,
        "open_and_identify_s": round(open_seconds, 2),
        "post_loop_s": round(loop_seconds, 3),
        "last_socket_after_first_post_s": round(max(arrivals) - first_post, 3),
        "post": _summary(posts),
    }


async def main_async(args: argparse.Namespace) -> dict:
    with echo_stack(STATE, config.load().wsgate_port) as echo:
        result: dict[str, object] = {"round_trip": await round_trips(echo, args.messages)}
        for client in ("boto3", "raw-http"):
            for threads in args.threads:
                result[f"fan_out_{client}_{threads}"] = await fan_out(echo, args.sockets, threads, client)
    result["load_average"] = os.getloadavg()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.wsgate_bench")
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    print(json.dumps(asyncio.run(main_async(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
