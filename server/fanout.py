"""Writing one event to many sockets cheaply and fairly.

An event is encoded once per process into a WebSocket text frame (bytes), and
that frame is written straight to every connection's transport: no task, no
queue and no await per socket. The transport's write buffer is each socket's
bounded queue: a socket whose buffer is above :data:`MAX_BEHIND_BYTES` is behind,
and is dropped (it reconnects with ``since=SEQ`` and resyncs) so that it never
delays the others.

The direct path needs uvicorn's sans-I/O websockets protocol (our server), reached
through the raw ``send`` that :class:`KeepRawSend` keeps in the scope (starlette
wraps ``send`` in closures before the endpoint sees it). Under any other ASGI
server (e.g. starlette's TestClient) :class:`QueuedOutlet` does the same job with a
bounded queue and one sender task per socket.

``HALLQ_FANOUT=naive`` switches to :class:`NaiveOutlet` (one ``send_text`` task per
socket per event): the baseline of ``bench/bench_fanout.py``, never for production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

from server.edge import CLOSE_CODES

log = logging.getLogger("hallq.fanout")

#: A socket with this much unsent data is behind; it is dropped rather than waited for
#: (it reconnects with since= and resyncs). A screen never needs more at once: live events
#: are a few KB a second and replays are paced in half this much (events.catch_up), so
#: this bounds what a client that stopped reading can make the server hold.
MAX_BEHIND_BYTES = 128 * 1024
#: The same bound for the queued path, in messages.
MAX_QUEUED = 256
#: The kernel's send buffer of a socket. Linux would otherwise grow it to ~4 MB
#: (tcp_wmem), so a stuck client would hold megabytes before we even saw it behind;
#: 64 KB (128 KB as the kernel counts) still carries hundreds of events per round trip.
KERNEL_SEND_BUFFER = 64 * 1024
#: Where :class:`KeepRawSend` keeps the server's own ``send`` in the scope.
RAW_SEND = "hallq.raw_send"


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2) for ``payload``,
    framed by python-websockets (unmasked: the server's direction)."""
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


class Outlet(Protocol):
    """Where a subscriber's frames go."""

    def offer(self, frame: bytes, text: str) -> bool:
        """Send without waiting; False when the socket is gone or was dropped for being behind."""

    def offer_batch(self, frames: bytes, texts: list[str]) -> bool:
        """Offer several messages at once: ``frames`` is their frames joined, ``texts`` their texts."""

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait until most of what was offered has gone out; False when it never does."""

    def drop(self) -> None:
        """End the connection now (the client reconnects with ``since=`` and resyncs)."""

    def close(self) -> None:
        """Stop sending (the socket has ended)."""


async def _wait_until(ready: Callable[[], bool], alive: Callable[[], bool], timeout: float) -> bool:
    """Poll until ``ready()`` (True), the socket dies or ``timeout`` passes (False): pacing for replays."""
    deadline = asyncio.get_running_loop().time() + timeout
    while alive():
        if ready():
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.005)
    return False


class DirectOutlet:
    """Writes pre-encoded frames straight to a uvicorn websocket connection's transport."""

    __slots__ = ("alive", "protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.WriteTransport = protocol.transport
        self.alive = True
        if getattr(protocol, "handshake_complete", False):
            # uvicorn keeps the handshake's request and response (websockets' Request and
            # Response, their Headers: ~3.4 KB) for the connection's whole life, though it reads
            # them only until the handshake is complete, which it is once the endpoint has
            # accepted (outlets are made after that). Let them go; the scope keeps its headers.
            for name in ("request", "response"):
                if hasattr(protocol, name):
                    setattr(protocol, name, None)
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)

    def offer(self, frame: bytes, text: str) -> bool:
        if not self.alive or self.protocol.close_sent or self.transport.is_closing():
            self.alive = False
            return False
        if self.transport.get_write_buffer_size() > MAX_BEHIND_BYTES:
            log.warning("dropping a socket that is %d bytes behind", self.transport.get_write_buffer_size())
            self.drop()
            return False
        self.transport.write(frame)
        return True

    def offer_batch(self, frames: bytes, texts: list[str]) -> bool:
        return self.offer(frames, "")

    async def drain(self, timeout: float = 10.0) -> bool:
        return await _wait_until(
            lambda: self.transport.get_write_buffer_size() <= MAX_BEHIND_BYTES // 4,
            lambda: self.alive and not self.transport.is_closing(),
            timeout,
        )

    def drop(self) -> None:
        self.alive = False
        self.transport.abort()

    def close(self) -> None:
        self.alive = False


class QueuedOutlet:
    """A bounded queue and a sender task for servers without a reachable transport."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED)
        self.alive = True
        self.task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                text = await self.queue.get()
                await self.websocket.send_text(text)
        except Exception:  # noqa: BLE001 — any failure to send means the socket is gone; the endpoint cleans up
            self.alive = False

    def offer(self, frame: bytes, text: str) -> bool:
        if not self.alive:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("dropping a socket that is %d messages behind", self.queue.qsize())
            self.drop()
            return False
        return True

    def offer_batch(self, frames: bytes, texts: list[str]) -> bool:
        return all(self.offer(b"", text) for text in texts)

    async def drain(self, timeout: float = 10.0) -> bool:
        return await _wait_until(lambda: self.queue.qsize() <= MAX_QUEUED // 4, lambda: self.alive, timeout)

    def drop(self) -> None:
        self.close()
        self.closing = asyncio.ensure_future(close_quietly(self.websocket, CLOSE_CODES["try_again"], "too far behind"))

    def close(self) -> None:
        self.alive = False
        self.task.cancel()


class NaiveOutlet:
    """The benchmark's baseline: one ``send_text`` task per socket per event, unbounded."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.alive = True
        self.tasks: set[asyncio.Task[None]] = set()

    def offer(self, frame: bytes, text: str) -> bool:
        if not self.alive:
            return False
        task = asyncio.ensure_future(self._send(text))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def offer_batch(self, frames: bytes, texts: list[str]) -> bool:
        return all(self.offer(b"", text) for text in texts)

    async def _send(self, text: str) -> None:
        try:
            await self.websocket.send_text(text)
        except Exception:  # noqa: BLE001 — any failure to send means the socket is gone; the endpoint cleans up
            self.alive = False

    async def drain(self, timeout: float = 10.0) -> bool:
        return self.alive

    def drop(self) -> None:
        self.alive = False
        self.closing = asyncio.ensure_future(close_quietly(self.websocket, CLOSE_CODES["try_again"], "too far behind"))

    def close(self) -> None:
        self.alive = False


class KeepRawSend:
    """ASGI middleware keeping the server's own ``send`` in a websocket's scope.

    Starlette hands endpoints a ``send`` wrapped in closures (exception handling), so
    the uvicorn protocol behind it, and its transport, are reachable only from here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function handing on the app's awaitable: no frame of ours per idle socket.
        if scope["type"] == "websocket":
            scope[RAW_SEND] = send
        return self.app(scope, receive, send)


def outlet_for(websocket: WebSocket) -> Outlet:
    """The fastest outlet this server allows for ``websocket``."""
    outlet: Outlet
    if os.environ.get("HALLQ_FANOUT") == "naive":
        outlet = NaiveOutlet(websocket)
    else:
        send = websocket.scope.get(RAW_SEND, websocket._send)
        protocol = getattr(send, "__self__", None)  # uvicorn's protocol object
        if protocol is not None and hasattr(protocol, "transport") and hasattr(protocol, "close_sent"):
            outlet = DirectOutlet(protocol)
        else:
            outlet = QueuedOutlet(websocket)
    _announce(outlet, type(getattr(websocket.scope.get(RAW_SEND), "__self__", None)).__name__)
    return outlet


#: The outlet class this process announced in its log (once, at its first socket).
announced: str | None = None


def _announce(outlet: Outlet, protocol: str) -> None:
    """Say once per process which outlet the fan-out uses: the direct path is ~4x cheaper per socket."""
    global announced
    name = type(outlet).__name__
    if announced == name:
        return
    announced = name
    if isinstance(outlet, DirectOutlet):
        log.info("fan-out outlet: direct (frames written to %s's transport)", protocol)
    else:
        log.warning(
            "fan-out outlet: %s, not direct (server protocol %s): each socket costs ~4x more; "
            "check that uvicorn is within the version range hallq declares",
            name,
            protocol,
        )


async def close_quietly(websocket: WebSocket, code: int = CLOSE_CODES["normal"], reason: str = "") -> None:
    """Close a socket that may already be gone."""
    with contextlib.suppress(Exception):
        await websocket.close(code, reason)
