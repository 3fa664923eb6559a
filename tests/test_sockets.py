"""The WebSockets of CONTRACT.md against a real ``hallq serve`` and the real ``websockets`` client.

Displays: a snapshot on connect, an exact replay with ``since=SEQ`` (or a snapshot
when those events were trimmed), never a skipped or repeated seq. Pads: the window's
state, then actions answered one by one, bad frames refused without harm. Visitors:
their ticket, people ahead and the call. A socket that never reads is dropped
without delaying a hundred others.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from tests.live import LiveServer

#: Messages that are not hall events (they carry no seq of the hall's stream, or a copy of it).
NOT_EVENTS = {"snapshot", "window_state", "result", "status", "ticket", "error"}


def is_event(message: dict[str, Any]) -> bool:
    return message.get("type") not in NOT_EVENTS and "seq" in message


class Peer:
    """One client socket: JSON messages in arrival order, with waiting helpers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first message matching ``predicate`` (earlier ones are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def collect(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every message up to and including the first one matching ``predicate``."""
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            message = await self.recv(max(0.01, deadline - time.monotonic()))
            messages.append(message)
            if predicate(message):
                return messages

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds`` (usually: nothing)."""
        messages = []
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(await self.recv(seconds))
        return messages

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))


@contextlib.asynccontextmanager
async def open_socket(url: str, **options: Any) -> AsyncIterator[Peer]:
    """A lean client like a lobby screen's: no compression, every message kept, no proxy."""
    async with connect(
        url, compression=None, max_queue=None, max_size=2**24, open_timeout=5, close_timeout=2, proxy=None, **options
    ) as ws:
        yield Peer(ws)


def display_url(server: LiveServer, since: int | None = None) -> str:
    return f"{server.ws_url}/ws/halls/demo/display" + (f"?since={since}" if since is not None else "")


def pad_url(server: LiveServer, window: str, token: str) -> str:
    return f"{server.ws_url}/ws/halls/demo/windows/{window}?token={token}"


def visitor_url(server: LiveServer, token: str) -> str:
    return f"{server.ws_url}/ws/tickets/{token}"


async def call(server: LiveServer, token: str, window: str, action: str = "call_next", **extra: Any) -> Any:
    """An HTTP action from a worker thread, so the sockets keep reading meanwhile."""
    status, body = await asyncio.to_thread(server.act, token, window, action, **extra)
    assert status == 200, body
    return body


async def issue(server: LiveServer, services: list[str] | None = None, token: str | None = None) -> dict[str, Any]:
    """Issue a ticket (as a kiosk, or as staff with ``token``: no rate limit)."""
    status, body = await asyncio.to_thread(
        server.request, "POST", "/api/halls/demo/tickets", {"services": services or ["register"]}, token
    )
    assert status == 201, body
    return dict(body)


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [int(m["seq"]) for m in messages if is_event(m)]


# --- displays ------------------------------------------------------------------------


async def test_display_gets_a_snapshot_then_every_event(live_server: LiveServer) -> None:
    first = await issue(live_server)
    await issue(live_server, ["photo"])
    async with open_socket(display_url(live_server)) as display:
        snapshot = await display.recv()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 2
        assert snapshot["state"]["seq"] == 2
        assert snapshot["state"]["waiting"] == {"register": 1, "transfer": 0, "pension": 0, "photo": 1}
        assert [w["status"] for w in snapshot["state"]["windows"]] == ["closed"] * 5
        assert await display.quiet(0.2) == []
        await issue(live_server, ["pension"])
        event = await display.recv()
        assert event["type"] == "ticket.issued" and event["seq"] == 3 and event["hall"] == "demo"
        assert isinstance(event["at"], int)
        assert event["ticket"]["number"] == "C001" and "token" not in event["ticket"]
        clerk = await asyncio.to_thread(live_server.login, "s01")
        await call(live_server, clerk, "1")
        opened, called = await display.recv(), await display.recv()
        assert (opened["type"], opened["seq"], opened["window"]) == ("window.opened", 4, "1")
        assert opened["clerk"] == {"name": "李明"}  # staff ids stay out of public events
        assert (called["type"], called["seq"], called["window"]) == ("ticket.called", 5, "1")
        assert called["ticket"]["number"] == first["ticket"]["number"]
        assert first["ticket"]["token"] not in json.dumps(called)


async def test_ticket_called_carries_the_announcement(live_server: LiveServer) -> None:
    await issue(live_server)
    clerk = await asyncio.to_thread(live_server.login, "s01")
    async with open_socket(display_url(live_server)) as display:
        await display.recv()
        await call(live_server, clerk, "1")
        called = await display.until(lambda m: m.get("type") == "ticket.called")
        assert called["announce"] == {
            "zh": {"text": "请A001号到1号窗口办理", "audio": "/audio/demo/zh/A001/1.wav"},
            "en": {"text": "Number A001, please go to window 1", "audio": "/audio/demo/en/A001/1.wav"},
        }
        assert list(called["announce"]) == ["zh", "en"]
        await call(live_server, clerk, "1", "recall")
        recalled = await display.until(lambda m: m.get("type") == "ticket.recalled")
        assert recalled["announce"] == called["announce"]
    # the state's `recent` holds the same messages, newest first
    status, state = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
    assert [(r["type"], r["seq"]) for r in state["recent"]] == [
        ("ticket.recalled", recalled["seq"]),
        ("ticket.called", called["seq"]),
    ]
    assert state["recent"][0]["announce"] == called["announce"]
    # and the audio named in it is served
    status, _ = await asyncio.to_thread(live_server.request, "GET", called["announce"]["zh"]["audio"])
    assert status == 200


async def test_since_replays_exactly_the_missed_events(live_server: LiveServer) -> None:
    for _ in range(4):
        await issue(live_server)
    clerk = await asyncio.to_thread(live_server.login, "s02")
    await call(live_server, clerk, "2")  # seq 5 window.opened, seq 6 ticket.called
    async with open_socket(display_url(live_server, since=2)) as display:
        replay = [await display.recv() for _ in range(4)]
        assert seqs(replay) == [3, 4, 5, 6]
        assert [m["type"] for m in replay] == ["ticket.issued", "ticket.issued", "window.opened", "ticket.called"]
        assert replay[3]["announce"]["zh"]["text"] == "请A001号到2号窗口办理"
        assert await display.quiet(0.2) == []
        await issue(live_server)
        assert (await display.recv())["seq"] == 7
    # since = the current seq: nothing to replay, then live
    async with open_socket(display_url(live_server, since=7)) as display:
        assert await display.quiet(0.2) == []
        await call(live_server, clerk, "2")
        assert seqs([await display.recv(), await display.recv()]) == [8, 9]


async def test_since_older_than_what_is_kept_gets_a_snapshot(live_server: LiveServer) -> None:
    for _ in range(6):
        await issue(live_server)
    async with Redis.from_url(live_server.redis_url, decode_responses=True) as redis:
        await redis.xtrim("hallq:{demo}:events", maxlen=2, approximate=False)
        assert await redis.xlen("hallq:{demo}:events") == 2
    async with open_socket(display_url(live_server, since=1)) as display:
        snapshot = await display.recv()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 6
        assert snapshot["state"]["waiting"]["register"] == 6
        assert await display.quiet(0.2) == []
        await issue(live_server)
        assert (await display.recv())["seq"] == 7
    # still kept: a replay
    async with open_socket(display_url(live_server, since=5)) as display:
        assert seqs([await display.recv(), await display.recv()]) == [6, 7]


async def test_since_ahead_of_the_hall_gets_a_snapshot(live_server: LiveServer) -> None:
    """A screen that saw seq 500 of a Redis that has since been replaced must not wait for seq 501."""
    await issue(live_server)
    async with open_socket(display_url(live_server, since=500)) as display:
        snapshot = await display.recv()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 1


async def test_snapshots_and_events_never_skip_or_repeat_a_seq(live_server: LiveServer) -> None:
    """Screens join (fresh, or with since=) while four clerks and a kiosk act at full speed."""
    clerks = [await asyncio.to_thread(live_server.login, f"s0{i}") for i in range(1, 5)]
    desk = await asyncio.to_thread(live_server.login, "desk")
    stop = asyncio.Event()

    async def kiosk() -> None:
        while not stop.is_set():
            await issue(live_server, [random.choice(["register", "photo"])], token=desk)

    async def clerk_at(token: str, window: str) -> None:
        while not stop.is_set():
            await asyncio.to_thread(live_server.act, token, window, "call_next")

    async def screen(delay: float, use_since: bool) -> tuple[int, list[int]]:
        await asyncio.sleep(delay)
        since = None
        if use_since:
            _status, state = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
            since = max(0, int(state["seq"]) - random.randint(0, 5))
        async with open_socket(display_url(live_server, since)) as display:
            first = await display.recv()
            start = int(first["seq"]) if first["type"] == "snapshot" else int(first["seq"]) - 1
            got = [] if first["type"] == "snapshot" else [int(first["seq"])]
            if since is not None:
                assert first["type"] == "snapshot" or first["seq"] == since + 1, (since, first)
            await stop.wait()
            await asyncio.sleep(0.3)
            final = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
            target = int(final[1]["seq"])
            while not got or got[-1] < target:
                message = await display.recv()
                assert message["type"] != "snapshot", "a second snapshot without a reason"
                if is_event(message):
                    got.append(int(message["seq"]))
            return start, got

    workers = [asyncio.create_task(kiosk()), asyncio.create_task(kiosk())]
    workers += [asyncio.create_task(clerk_at(t, str(i))) for i, t in enumerate(clerks, start=1)]
    screens = [asyncio.create_task(screen(0.05 * i, use_since=i % 2 == 0)) for i in range(16)]
    await asyncio.sleep(1.2)
    stop.set()
    await asyncio.gather(*workers)
    results = await asyncio.wait_for(asyncio.gather(*screens), 15)
    final_seq = int((await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state"))[1]["seq"])
    assert final_seq > 40, "the actions did not run concurrently enough to mean anything"
    for start, got in results:
        assert got == list(range(start + 1, final_seq + 1)), (start, got[:10])


# --- pads --------------------------------------------------------------------------


async def test_pad_gets_its_window_then_answers_each_action(live_server: LiveServer) -> None:
    await issue(live_server, ["photo"])
    await issue(live_server, ["register"])
    token = await asyncio.to_thread(live_server.login, "s05")
    async with open_socket(pad_url(live_server, "5", token)) as pad:
        state = await pad.recv()
        assert state["type"] == "window_state" and state["seq"] == 2
        assert state["window"] == {"id": "5", "status": "closed", "ticket": None, "clerk": None}
        assert state["waiting"] == {"photo": 1, "register": 1, "transfer": 0, "pension": 0}
        assert "served_today" in state
        await pad.send({"action": "call_next", "request_id": "r-1"})
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is True and result["request_id"] == "r-1"
        assert result["ticket"]["number"] == "D001" and result["ticket"]["token"]
        assert result["window"]["status"] == "calling" and result["seq"] == 4
        after = await pad.until(lambda m: m.get("type") == "window_state")
        assert after["window"]["ticket"]["number"] == "D001" and after["window"]["clerk"]["id"] == "s05"
        assert after["waiting"]["photo"] == 0
        # the same request again: the same answer, performed once
        await pad.send({"action": "call_next", "request_id": "r-1"})
        again = await pad.until(lambda m: m.get("type") == "result")
        assert again == result
        _status, state_now = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
        assert state_now["seq"] == 4 and state_now["waiting"]["register"] == 1
        # a refused action is answered, not dropped, and the socket stays
        await pad.send({"action": "resume", "ticket": "Z999", "request_id": "r-2"})
        refused = await pad.until(lambda m: m.get("type") == "result")
        assert refused["ok"] is False and refused["request_id"] == "r-2"
        assert set(refused["error"]) >= {"code", "message"}
        await pad.send({"action": "start", "request_id": "r-3"})
        started = await pad.until(lambda m: m.get("type") == "result")
        assert started["ok"] is True and started["ticket"]["status"] == "serving"


async def test_pad_survives_malformed_frames(live_server: LiveServer) -> None:
    token = await asyncio.to_thread(live_server.login, "s01")
    async with open_socket(pad_url(live_server, "1", token)) as pad:
        await pad.recv()
        bad_frames: list[tuple[Any, str]] = [
            ("{not json", "bad_json"),
            ("[1, 2]", "bad_body"),
            ('"call_next"', "bad_body"),
            ({"action": "call_next", "colour": "red", "request_id": "x1"}, "unknown_field"),
            ({"action": 7}, "bad_field"),
            ({"request_id": "x2"}, "missing_field"),
            ({"action": "dance"}, "unknown_action"),
            (b"\x00\x01binary", "bad_frame"),
            (json.dumps({"action": "pause", "request_id": "big", "ticket": "x" * 20_000}), "bad_frame"),
        ]
        for frame, code in bad_frames:
            await pad.send(frame)
            answer = await pad.until(lambda m: m.get("type") == "result")
            assert answer["ok"] is False and answer["error"]["code"] == code, (frame, answer)
        await pad.send({"action": "call_next", "request_id": "x1"})
        assert (await pad.until(lambda m: m.get("type") == "result"))["ok"] is True
    status, _ = await asyncio.to_thread(live_server.request, "GET", "/healthz")
    assert status == 200


async def test_an_oversize_frame_closes_that_socket_only(live_server: LiveServer) -> None:
    token = await asyncio.to_thread(live_server.login, "s01")
    async with open_socket(display_url(live_server)) as display, open_socket(pad_url(live_server, "1", token)) as pad:
        await display.recv()
        await pad.recv()
        await pad.send("x" * (65 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await pad.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        # a display that sends junk is closed too, and nobody else notices
        async with open_socket(display_url(live_server)) as junk:
            await junk.recv()
            await junk.send(os.urandom(70 * 1024))
            with pytest.raises(ConnectionClosed):
                await junk.recv()
        assert (await asyncio.to_thread(live_server.request, "GET", "/healthz"))[0] == 200
        await issue(live_server)
        assert (await display.recv())["type"] == "ticket.issued"
    async with open_socket(pad_url(live_server, "1", token)) as pad:
        assert (await pad.recv())["type"] == "window_state"


# --- visitors ------------------------------------------------------------------------


async def test_visitor_follows_the_ticket_until_called(live_server: LiveServer) -> None:
    for _ in range(2):
        await issue(live_server)
    mine = (await issue(live_server))["ticket"]
    clerk = await asyncio.to_thread(live_server.login, "s03")
    async with open_socket(visitor_url(live_server, mine["token"])) as phone:
        hello = await phone.recv()
        assert hello["type"] == "ticket" and hello["ticket"]["number"] == "A003"
        assert hello["ticket"]["token"] == mine["token"] and hello["ticket"]["status"] == "waiting"
        assert hello["ahead"] == 2 and hello["eta_s"] > 0
        await call(live_server, clerk, "3")
        update = await phone.recv()
        assert update["type"] == "ticket" and update["ahead"] == 1 and update["ticket"]["status"] == "waiting"
        await call(live_server, clerk, "3")
        assert (await phone.recv())["ahead"] == 0
        await call(live_server, clerk, "3")
        called = await phone.recv()
        assert called["ticket"]["status"] == "called" and called["ticket"]["window"] == "3"
        assert isinstance(called["ticket"]["called_at"], int)
        # an event that does not change this ticket sends the phone nothing
        await issue(live_server)
        assert await phone.quiet(0.3) == []
        await call(live_server, clerk, "3", "start")
        assert (await phone.recv())["ticket"]["status"] == "serving"


async def test_visitor_with_an_unknown_ticket_is_told_and_closed(live_server: LiveServer) -> None:
    for token in ("demo." + "Q" * 32, "not-a-token", "elsewhere." + "Q" * 32):
        async with open_socket(visitor_url(live_server, token)) as phone:
            message = await phone.recv()
            assert message["type"] == "error" and message["error"]["code"] == "unknown_ticket"
            with pytest.raises(ConnectionClosed):
                await phone.recv()


# --- a socket that never reads ------------------------------------------------------------


async def read_what_is_left(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
    """Start reading a never-reading socket at last: the bytes the server had sent it before it
    cut it off (or before 1 s of silence), then close it."""
    received = 0
    writer.transport.resume_reading()  # type: ignore[attr-defined]
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        while chunk := await asyncio.wait_for(reader.read(65536), 1):
            received += len(chunk)
    writer.close()
    return received


@contextlib.asynccontextmanager
async def never_reading_socket(server: LiveServer) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A display client that does the WebSocket handshake by hand and then never reads.

    Its receive buffer is made tiny, so the server's send buffer for it fills fast. Closed on
    the way out, also when the test fails (left open, its GC warns in some later test).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws/halls/demo/display HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    # asyncio would otherwise keep reading into the StreamReader's buffer behind our back
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    try:
        yield reader, writer
    finally:
        writer.close()


class LeanDisplay:
    """A display client that only collects bytes while events flow, and parses them
    (with ``websockets``' own sans-I/O protocol) afterwards: a hundred of these cost the
    test process almost nothing, so what is measured is the server."""

    def __init__(self, url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=2**24)
        self.url = url
        self.chunks: list[bytes] = []
        self.size = 0

    async def open(self) -> None:
        uri = parse_uri(self.url)
        self.reader, self.writer = await asyncio.open_connection(uri.host, uri.port)
        self.protocol.send_request(self.protocol.connect())
        self.writer.write(b"".join(self.protocol.data_to_send()))
        self.task = asyncio.create_task(self._read())
        # open means subscribed: the snapshot has come (a reader still in its handshake when
        # events are sent gets a later snapshot instead of them, as it should)
        deadline = time.monotonic() + 10
        while b'"snapshot"' not in b"".join(self.chunks):
            assert time.monotonic() < deadline, "no snapshot within 10 s"
            await asyncio.sleep(0.01)

    async def _read(self) -> None:
        while data := await self.reader.read(1 << 16):
            self.chunks.append(data)
            self.size += len(data)

    def messages(self) -> list[dict[str, Any]]:
        """Every text message received so far (the handshake checked on the way)."""
        data, self.chunks = b"".join(self.chunks), []
        self.protocol.receive_data(data)
        events = self.protocol.events_received()
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc
        return [json.loads(bytes(e.data)) for e in events if isinstance(e, Frame) and e.opcode == Opcode.TEXT]

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


#: A display in a process of its own, noting when each event arrives (CLOCK_MONOTONIC
#: is one clock for every process), so the test's own work does not blur the timing.
OBSERVER = """
import asyncio, json, sys, time
from websockets.asyncio.client import connect

async def main(url, count):
    arrivals = {}
    async with connect(url, compression=None, max_queue=None, proxy=None) as ws:
        print("ready", flush=True)
        while len(arrivals) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message.get("type") == "hall.notice":
                arrivals[message["seq"]] = time.monotonic()
    print(json.dumps(arrivals), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_a_socket_that_never_reads_is_dropped_and_delays_nobody(live_server: LiveServer) -> None:
    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    async with never_reading_socket(live_server) as (stuck_reader, stuck_writer):
        # 1,000 notices of ~680 bytes: past the 128 KB a socket may be behind, plus what
        # the kernel buffers on both sides of the stuck connection
        notices = 1_000
        text = "请注意：" + "今天下午系统维护，请耐心等候。" * 13  # 200 characters, ~600 bytes
        assert len(text) <= 200
        observer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OBSERVER,
            display_url(live_server),
            str(notices),
            stdout=asyncio.subprocess.PIPE,
        )
        assert observer.stdout is not None
        assert (await asyncio.wait_for(observer.stdout.readline(), 30)).strip() == b"ready"
        readers = [LeanDisplay(display_url(live_server)) for _ in range(100)]
        try:
            for reader in readers:
                await reader.open()
            sent_at: dict[int, float] = {}
            async with httpx.AsyncClient(
                base_url=live_server.url, headers={"Authorization": f"Bearer {admin}"}, trust_env=False
            ) as client:
                remaining = notices

                async def poster() -> None:
                    nonlocal remaining
                    while remaining > 0:
                        remaining -= 1
                        started = time.monotonic()
                        answer = await client.post("/api/halls/demo/notice", json={"text": text})
                        assert answer.status_code == 200, answer.text
                        sent_at[int(answer.json()["seq"])] = started

                await asyncio.gather(*(poster() for _ in range(4)))
            arrivals = {
                int(k): v for k, v in json.loads(await asyncio.wait_for(observer.stdout.readline(), 60)).items()
            }
            await observer.wait()
            # every one of the hundred got every event, in order, after its snapshot: a few
            # are parsed frame by frame, the rest checked by the seqs in their bytes (cheaper)
            deadline = time.monotonic() + 30
            for index, reader in enumerate(readers):
                if index < 5:
                    got: list[dict[str, Any]] = []
                    while len(got) < notices + 1 and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                        got += reader.messages()
                    assert got[0]["type"] == "snapshot" and got[0]["seq"] == 0
                    assert seqs(got[1:]) == list(range(1, notices + 1))
                else:
                    found: list[int] = []
                    while len(found) < notices + 2 and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                        found = [int(n) for n in re.findall(rb'"seq":(\d+)', b"".join(reader.chunks))]
                    assert found == [0, 0, *range(1, notices + 1)]  # the snapshot's seq and its state's
        finally:
            for reader in readers:
                await reader.close()
        # promptly: from just before each POST to its event on a display, while the stuck one hung on.
        # Not a speed test (bench/ measures fan-out): a send that waited for the stuck socket would
        # hold events until it was dropped (MAX_BEHIND_BYTES, or drain's 10 s), so seconds late;
        # here they come in tens of milliseconds (2 s leaves room for a loaded CI machine).
        delays = sorted(arrivals[seq] - sent_at[seq] for seq in sent_at)
        p50, p99 = delays[len(delays) // 2], delays[int(len(delays) * 0.99)]
        assert p50 < 0.5 and p99 < 2.0, (p50, p99, delays[-1])
        # the stuck socket was cut off: reading now ends early, far short of every event
        received = await read_what_is_left(stuck_reader, stuck_writer)
        assert received < notices * len(text.encode()) // 2, received
        assert "dropping a socket that is" in live_server.log_path.read_text()
        assert (await asyncio.to_thread(live_server.request, "GET", "/healthz"))[0] == 200
        # a screen that comes back with since=0 gets all of it replayed, although the replay
        # (~680 KB) is more than a socket may be behind: the replay is paced by the client
        async with open_socket(display_url(live_server, since=0)) as late:
            replayed = [await late.recv() for _ in range(notices)]
            assert seqs(replayed) == list(range(1, notices + 1))


async def test_pad_request_ids_are_scoped_to_the_session(live_server: LiveServer) -> None:
    """Clerk B's pad sending clerk A's request_id performs B's own call; A's session
    retrying the id over HTTP gets A's answer again (one namespace per session)."""
    for _ in range(2):
        await issue(live_server, ["register"])
    token_a = await asyncio.to_thread(live_server.login, "s01")
    token_b = await asyncio.to_thread(live_server.login, "s02")
    async with (
        open_socket(pad_url(live_server, "1", token_a)) as pad_a,
        open_socket(pad_url(live_server, "2", token_b)) as pad_b,
    ):
        await pad_a.recv()
        await pad_b.recv()
        await pad_a.send({"action": "call_next", "request_id": "tap-1"})
        a = await pad_a.until(lambda m: m.get("type") == "result")
        await pad_b.send({"action": "call_next", "request_id": "tap-1"})
        b = await pad_b.until(lambda m: m.get("type") == "result")
        assert a["ok"] and b["ok"], (a, b)
        assert a["ticket"]["number"] == "A001" and b["ticket"]["number"] == "A002"
        assert b["window"]["id"] == "2" and b["ticket"]["token"] != a["ticket"]["token"]
        again = await call(live_server, token_a, "1", request_id="tap-1")
        assert again == {k: a[k] for k in ("window", "ticket", "seq")}
        _status, state = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
        assert state["seq"] == b["seq"] == a["seq"] + 2, "B's open and call, and nothing more"
