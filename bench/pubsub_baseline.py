"""The stack a Python team would pick instead of hallq: Redis pub/sub + python-websockets ``broadcast()``.

A baseline for the fan-out and memory benchmarks, run in the same session as hallq. One process:

- python-websockets' asyncio server holds the display sockets; each gets a snapshot-shaped
  greeting on connect (the bench's clients count it as "ready") and then only listens;
- one redis-py pub/sub subscription on ``hall:demo``; every message is handed to
  ``websockets.broadcast()`` for every connected socket, unchanged;
- ``GET /call`` (answered by the same server's ``process_request``) stands in for the clerk's
  call: it PUBLISHes a ``ticket.called`` event with the next seq (INCR) and answers 200 with it.

It does what the baseline stack does and nothing else: no engine, no sessions, no resync, no
backpressure. That makes it the floor hallq's fan-out is compared with, not an equal.

    .venv/bin/python bench/pubsub_baseline.py --port 8765 --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

CHANNEL = "hall:demo"


async def run(port: int, redis_url: str) -> None:
    """Serve until SIGTERM."""
    store = aioredis.from_url(redis_url)
    displays: set[ServerConnection] = set()

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/call":
            seq = await store.incr("bench:seq")
            event = {"type": "ticket.called", "seq": seq, "ticket": "A001", "window": "1", "at": time.time()}
            await store.publish(CHANNEL, json.dumps(event, separators=(",", ":")))
            return connection.respond(http.HTTPStatus.OK, f"{seq}\n")
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "ok\n")
        return None  # a websocket upgrade

    async def display(connection: ServerConnection) -> None:
        await connection.send('{"type":"snapshot","seq":0}')
        displays.add(connection)
        try:
            await connection.wait_closed()
        finally:
            displays.discard(connection)

    async def relay() -> None:
        async with store.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            async for message in pubsub.listen():
                if message["type"] == "message":
                    broadcast(displays, message["data"].decode())

    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    relaying = asyncio.create_task(relay())
    # compression off, as hallq's displays: the same bytes on the wire
    async with serve(display, "127.0.0.1", port, process_request=process_request, compression=None):
        await stop
    relaying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relaying
    await store.aclose()


class PubsubServer:
    """The baseline server as a subprocess, with :class:`harness.Server`'s shape (port, rss_kb)."""

    def __init__(self, port: int, redis_url: str) -> None:
        self.port = port
        self.redis_url = redis_url
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, __file__, "--port", str(self.port), "--redis", self.redis_url]
        self.process = subprocess.Popen(command, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the pub/sub baseline server ended")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("the pub/sub baseline server did not start")

    def call(self) -> int:
        """The clerk's call: publish the next event; its seq."""
        with urllib.request.urlopen(self.url + "/call", timeout=10) as answer:
            return int(answer.read())

    def rss_kb(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    args = parser.parse_args()
    asyncio.run(run(args.port, args.redis))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
