"""Lean display clients: thousands of WebSocket sockets in one process, so the server is what is measured.

:class:`LeanSocket` is a raw asyncio protocol: the upgrade by hand, unmasked server frames
parsed in place, pings answered; each text message goes to its ``board`` (a :class:`Listener`),
stamped with CLOCK_MONOTONIC at receipt (one clock per machine, the driver's too).

Run as a process (``python bench/lean_clients.py --clients-for PORT --sockets N``, started by
:class:`Clients`), it connects ``--sockets`` displays to ``--path``, ``--batch`` at once, each
batch once the one before has its snapshots, and speaks on stdout: ``ready N`` once every
socket has its snapshot; ``got SEQ LAST FIRST`` when the last socket has received an event
containing ``--marker`` (with when the last and the first socket had it); ``lost N`` once its
stdin is closed, when it closes every socket and ends.

Shared by bench_fanout, bench_memory and bench_city (bench_phones and bench_city reuse
:class:`LeanSocket` with boards of their own).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import raise_file_limit

SEQ = re.compile(rb'"seq":(\d+)')


class Listener(Protocol):
    """Where a lean socket reports its text messages (and that it lost its connection)."""

    lost: int

    def message(self, payload: bytes, now: float) -> None: ...


class LeanSocket(asyncio.Protocol):
    """A display client: handshake by hand, unmasked server frames parsed in place, pings answered."""

    def __init__(self, board: Listener, host: str, port: int, path: str) -> None:
        self.board = board
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.board.lost += 1

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buffer[:200]))
            del buffer[: end + 4]
            self.upgraded = True
        while len(buffer) >= 2:
            opcode, size, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + size:
                return
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            if opcode == 0x1:
                self.board.message(payload, now)
            elif opcode == 0x9 and self.transport is not None:  # ping → pong (masked, zero key)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


class Board:
    """What the clients saw: snapshots, and per call seq how many sockets got it and when the last did."""

    def __init__(self, sockets: int, marker: bytes) -> None:
        self.sockets = sockets
        self.marker = marker
        self.snapshots = 0
        self.lost = 0
        self.counts: dict[int, int] = {}
        self.first: dict[int, float] = {}
        self.ready = asyncio.Event()

    def message(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"snapshot"'):
            self.snapshots += 1
            if self.snapshots == self.sockets:
                self.ready.set()
            return
        if self.marker not in payload:
            return
        match = SEQ.search(payload)
        if match is None:
            return
        seq = int(match.group(1))
        count = self.counts.get(seq, 0) + 1
        self.counts[seq] = count
        if count == 1:
            self.first[seq] = now
        if count == self.sockets:
            # the last socket has it: tell the driver when, and when the first one had it
            sys.stdout.write(f"got {seq} {now:.6f} {self.first.pop(seq):.6f}\n")
            sys.stdout.flush()


async def run_clients(port: int, sockets: int, marker: str, path: str, batch_size: int = 100) -> None:
    """Connect ``sockets`` displays, ``batch_size`` at once, each batch only once the one before
    has its snapshots (a hall's screens coming back together, not all in the same millisecond)."""
    raise_file_limit(sockets + 256)
    board = Board(sockets, marker.encode())
    loop = asyncio.get_running_loop()
    clients: list[LeanSocket] = []
    for start in range(0, sockets, batch_size):
        batch = await asyncio.gather(
            *(
                loop.create_connection(lambda: LeanSocket(board, "127.0.0.1", port, path), "127.0.0.1", port)
                for _ in range(start, min(sockets, start + batch_size))
            )
        )
        clients += [protocol for _transport, protocol in batch]
        deadline = loop.time() + 60
        while board.snapshots + board.lost < len(clients) and loop.time() < deadline:
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(board.ready.wait(), 60)
    except TimeoutError:
        raise RuntimeError(f"{board.snapshots} of {sockets} sockets got a snapshot ({board.lost} lost)") from None
    sys.stdout.write(f"ready {len(clients)}\n")
    sys.stdout.flush()
    # run until the driver closes our stdin
    await loop.run_in_executor(None, sys.stdin.read)
    sys.stdout.write(f"lost {board.lost}\n")
    for client in clients:
        if client.transport is not None:
            client.transport.close()


class Listening(Protocol):
    """A server the clients can reach: hallq's or the baseline's."""

    port: int


class Clients:
    """The client process, driven over its stdin/stdout."""

    def __init__(
        self,
        server: Listening,
        sockets: int,
        marker: str = '"ticket.called"',
        path: str = "/ws/halls/demo/display",
        batch: int = 100,
    ) -> None:
        command = [
            sys.executable,
            __file__,
            "--clients-for",
            str(server.port),
            "--sockets",
            str(sockets),
            "--marker",
            marker,
            "--path",
            path,
            "--batch",
            str(batch),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process ended ({self.process.wait()})")
        return line.strip()

    def wait_ready(self) -> int:
        line = self.read()
        assert line.startswith("ready"), line
        return int(line.split()[1])

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients-for", type=int, required=True, help="the server's port on 127.0.0.1")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--marker", default='"ticket.called"')
    parser.add_argument("--path", default="/ws/halls/demo/display")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args(argv)
    asyncio.run(run_clients(args.clients_for, args.sockets, args.marker, args.path, args.batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
