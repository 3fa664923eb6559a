"""A lobby screen behind a network that goes silent: the cable is pulled, not closed.

A pausable TCP proxy between the screen and a real ``hallq serve`` forwards bytes until it is
cut; then it drops everything both ways and new connections hang, as a dead switch does (no
FIN, no RST). Calls go on meanwhile. The screen notices the silence (pings unanswered, as the
browser's watchdog notices missing server pings), keeps knocking, and once the network is back
resumes with ``since=``: every event applied once, in order, none missing.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from server.embedded import free_port
from tests.chaos.test_kill import follow
from tests.live import LiveServer

pytestmark = pytest.mark.long

CUT_S = 12


class PausableProxy:
    """Forwards 127.0.0.1:``port`` to ``target_port``; :attr:`cut` drops all traffic silently."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.cut = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.connections = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while self.cut.is_set():  # a new connection hangs while the network is down
            await asyncio.sleep(0.1)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if self.cut.is_set():
                    continue  # lost on the way
                writer.write(data)
                await writer.drain()
        writer.close()


async def test_a_screen_behind_a_silent_cut_resumes_gap_free(live_server: LiveServer) -> None:
    proxy = PausableProxy(live_server.port)
    await proxy.start()
    clerks = {w: await asyncio.to_thread(live_server.login, f"s0{w}") for w in "12345"}
    for _ in range(len(clerks) + 1):
        await asyncio.to_thread(live_server.issue, ["register"])
    applied: list[int] = []
    stop = asyncio.Event()
    # Pings every second, 1 s to answer: a browser's HallSocket gives up after 45 s of silence
    # (the server pings every 15 s); the same rule, faster, so the test stays short.
    screen = asyncio.create_task(follow(f"ws://127.0.0.1:{proxy.port}", stop, applied, ping_interval=1, ping_timeout=1))
    try:
        await wait_until(lambda: bool(applied), 10)
        status, body = await asyncio.to_thread(live_server.act, clerks["1"], "1", "call_next")
        assert status == 200, body
        await wait_until(lambda: applied[-1] >= body["seq"], 10)
        before = applied[-1]

        proxy.cut.set()
        last_seq = 0
        for window, action in [("1", "complete"), ("2", "call_next"), ("3", "call_next"), ("4", "call_next")]:
            status, body = await asyncio.to_thread(live_server.act, clerks[window], window, action)
            assert status == 200, body
            last_seq = max(last_seq, int(body["seq"]))
        await asyncio.sleep(CUT_S)
        assert applied[-1] == before, "nothing can arrive through a cut network"
        proxy.cut.clear()

        await wait_until(lambda: applied[-1] >= last_seq, 20)
        assert applied == list(range(applied[0], applied[-1] + 1)), "every event once, in order"
        assert proxy.connections >= 2, "the screen noticed the silence and connected again"
    finally:
        stop.set()
        await screen
        await proxy.stop()


async def wait_until(condition: object, timeout: float) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
