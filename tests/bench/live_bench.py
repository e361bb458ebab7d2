"""Live delivery against the deployed stack (the push function, the local WebSocket gateway):

- announce -> delivered: a socket follows a chat; an announcement is made the two ways an
  announcer could (an async Lambda invocation of the push function, or an SNS topic the push
  function subscribes to: a topic of the bench's own, deleted after), and the time until the
  socket has the change frame is taken, alternating the two so both see the same machine;
- fan-out: N sockets follow one chat; the time until the last of them has its frame, from an
  announcement made by the bench (the push alone), and from the 201 of a message posted to the
  API (the whole path: queue, writer, announcement, push).

    .local/venvs/app/bin/python -m tests.bench.live_bench [--messages 100] [--sockets 1000]
"""

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import boto3
import requests
from websockets.asyncio.client import ClientConnection, connect

from tests.bench import common  # first: it puts functions/ on the path
from tests.conftest import STATE

CHAT = 1


def _summary(values_ms: list[float]) -> dict:
    return {**common.latency(values_ms), "max_ms": round(max(values_ms), 1)}


def _outputs() -> dict:
    return json.loads((STATE / "stack-outputs.json").read_text())


class Stack:
    def __init__(self) -> None:
        outputs = _outputs()
        self.api = outputs["ApiUrl"]
        self.socket_url = outputs["WebSocketApis"]["ChatWebSocket"]["Url"]
        self.push_function = outputs["PushFunctionName"]
        self.lam = boto3.client("lambda")
        self.sns = boto3.client("sns")
        token = requests.post(f"{self.api}/applications", json={"name": "live-bench"}, timeout=30).json()[
            "token"
        ]
        requests.post(f"{self.api}/applications/{token}/chats", timeout=30).raise_for_status()
        self.token = token
        from chalicelib.domain.tokens import token_hash
        from chalicelib.wiring import settings, stores

        mysql = stores.build(settings.from_env()).mysql
        self.application_id = mysql.count(
            "SELECT id FROM applications WHERE token = %s", (token_hash(token),)
        )
        self.position = 0

    def post_message(self) -> float:
        """Posts a message; returns when its 201 came (perf_counter)."""
        answer = requests.post(
            f"{self.api}/applications/{self.token}/chats/{CHAT}/messages",
            json={"body": "fan-out"},
            timeout=30,
        )
        answer.raise_for_status()
        return time.perf_counter()

    def next_payload(self) -> tuple[int, bytes]:
        self.position += 1
        return self.position, json.dumps({"changes": [[self.application_id, CHAT, self.position]]}).encode()


async def _follower(stack: Stack) -> ClientConnection:
    socket = await connect(f"{stack.socket_url}?token={stack.token}", proxy=None, open_timeout=60)
    await socket.send(json.dumps({"action": "subscribe", "chat": CHAT}))
    answer = json.loads(await asyncio.wait_for(socket.recv(), 60))
    assert answer == {"type": "subscribed", "chat": CHAT}, answer
    return socket


async def _until(socket: ClientConnection, position: int) -> None:
    while True:
        frame = json.loads(await socket.recv())
        if frame.get("position") == position:
            return


async def _until_change(socket: ClientConnection) -> None:
    """Until the posted message reached the socket: its `accepted` frame, or its change."""
    while json.loads(await socket.recv()).get("type") not in ("accepted", "change"):
        pass


async def announce_paths(stack: Stack, messages: int, warm_up: int = 5) -> dict:
    topic = stack.sns.create_topic(Name=f"live-bench-{uuid.uuid4().hex[:8]}")["TopicArn"]
    function_arn = stack.lam.get_function(FunctionName=stack.push_function)["Configuration"]["FunctionArn"]
    stack.sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function_arn)
    ways = {
        "invoke": lambda payload: stack.lam.invoke(
            FunctionName=stack.push_function, InvocationType="Event", Payload=payload
        ),
        "sns": lambda payload: stack.sns.publish(TopicArn=topic, Message=payload.decode()),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    socket = await _follower(stack)
    try:
        for i in range(warm_up + messages):
            for name, announce in ways.items():
                position, payload = stack.next_payload()
                started = time.perf_counter()
                await asyncio.to_thread(announce, payload)
                await asyncio.wait_for(_until(socket, position), 30)
                if i >= warm_up:
                    times[name].append((time.perf_counter() - started) * 1000)
    finally:
        await socket.close()
        stack.sns.delete_topic(TopicArn=topic)
    result = {name: _summary(values) for name, values in times.items()}
    result["sns_over_invoke_p50"] = round(result["sns"]["p50_ms"] / result["invoke"]["p50_ms"], 2)
    return result


async def fan_out(stack: Stack, sockets: int, rounds: int, whole_path: bool = True) -> dict:
    gate = asyncio.Semaphore(16)

    async def one() -> ClientConnection:
        async with gate:
            return await _follower(stack)

    started = time.perf_counter()
    followers = await asyncio.gather(*(one() for _ in range(sockets)))
    connect_s = time.perf_counter() - started
    figures: dict[str, dict[str, list[float]]] = {
        "after_announce": {"last": [], "each": []},
        "after_201": {"last": [], "each": []},
    }

    async def one_round(figure: str, start: Any, position: int | None) -> None:
        """`start()` makes the change; its return is when the clock starts (the 201, or now). A
        frame may come before it (an `accepted` frame before the 201 reached the bench): < 0."""

        async def arrival(socket: ClientConnection) -> float:
            if position is None:
                await _until_change(socket)
            else:
                await _until(socket, position)
            return time.perf_counter()

        waiting = [asyncio.create_task(arrival(s)) for s in followers]
        started = await asyncio.to_thread(start)
        arrivals = [(at - started) * 1000 for at in await asyncio.wait_for(asyncio.gather(*waiting), 60)]
        figures[figure]["last"].append(max(arrivals))
        figures[figure]["each"].extend(arrivals)

    try:
        for _ in range(rounds):
            # The push alone: an announcement made here, as the writer would make it.
            position, payload = stack.next_payload()

            def announce(payload: bytes = payload) -> float:
                t0 = time.perf_counter()
                stack.lam.invoke(FunctionName=stack.push_function, InvocationType="Event", Payload=payload)
                return t0

            await one_round("after_announce", announce, position)
            # The whole path: a message posted to the API, from its 201 to the last socket's frame.
            if whole_path:
                await one_round("after_201", stack.post_message, None)
    finally:
        await asyncio.gather(*(s.close() for s in followers), return_exceptions=True)
    return {
        "sockets": sockets,
        "connect_and_subscribe_s": round(connect_s, 1),
        **{
            figure: {"last_socket": _summary(f["last"]), "each_socket": _summary(f["each"])}
            for figure, f in figures.items()
            if f["last"]
        },
    }


def run(
    messages: int = 100, sockets: int = 1000, rounds: int = 5, whole_path: bool = True, progress: Any = print
) -> dict:
    stack = Stack()
    progress(f"announce -> delivered, {messages} each way")
    paths = asyncio.run(announce_paths(stack, messages))
    progress(json.dumps(paths))
    progress(f"fan-out to {sockets} sockets, {rounds} rounds")
    fan = asyncio.run(fan_out(stack, sockets, rounds, whole_path))
    progress(json.dumps(fan))
    return {"announce": paths, "fan_out": fan, "load_average": common.load_average()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-whole-path", action="store_true", help="the push alone, not from a 201")
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.sockets, args.rounds, not args.no_whole_path), indent=2))
