"""Writing one event to many sockets cheaply and fairly.

An event is encoded once per process into a WebSocket text frame (bytes), and
that frame is written straight to every connection's transport: no task, no
queue and no await per socket. The transport's write buffer is each socket's
bounded queue: a socket whose buffer is above :data:`MAX_BEHIND_BYTES` is behind,
and is dropped (it reconnects with ``since=SEQ`` and resyncs) so that it never
delays the others.

The direct path needs uvicorn's sans-I/O websockets protocol (our server). Under
any other ASGI server (e.g. starlette's TestClient) :class:`QueuedOutlet` does the
same job with a bounded queue and one sender task per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any, Protocol

from starlette.websockets import WebSocket

log = logging.getLogger("hallq.fanout")

#: A socket with this much unsent data is behind; it is dropped rather than waited for.
MAX_BEHIND_BYTES = 512 * 1024
#: The same bound for the queued path, in messages.
MAX_QUEUED = 256


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 §5.2) for ``payload``."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


class Outlet(Protocol):
    """Where a subscriber's frames go."""

    def offer(self, frame: bytes, text: str) -> bool:
        """Send without waiting; False when the socket is gone or was dropped for being behind."""

    def close(self) -> None:
        """Stop sending (the socket has ended)."""


class DirectOutlet:
    """Writes pre-encoded frames straight to a uvicorn websocket connection's transport."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport: asyncio.WriteTransport = protocol.transport
        self.alive = True

    def offer(self, frame: bytes, text: str) -> bool:
        if not self.alive or self.protocol.close_sent or self.transport.is_closing():
            self.alive = False
            return False
        if self.transport.get_write_buffer_size() > MAX_BEHIND_BYTES:
            log.warning("dropping a socket that is %d bytes behind", self.transport.get_write_buffer_size())
            self.alive = False
            self.transport.abort()
            return False
        self.transport.write(frame)
        return True

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
        except Exception:  # the socket ended; the endpoint notices and cleans up
            self.alive = False

    def offer(self, frame: bytes, text: str) -> bool:
        if not self.alive:
            return False
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("dropping a socket that is %d messages behind", self.queue.qsize())
            self.close()
            return False
        return True

    def close(self) -> None:
        self.alive = False
        self.task.cancel()


def outlet_for(websocket: WebSocket) -> Outlet:
    """The fastest outlet this server allows for ``websocket``."""
    protocol = getattr(websocket._send, "__self__", None)  # uvicorn's protocol object
    if protocol is not None and hasattr(protocol, "transport") and hasattr(protocol, "close_sent"):
        return DirectOutlet(protocol)
    return QueuedOutlet(websocket)


async def close_quietly(websocket: WebSocket, code: int = 1000, reason: str = "") -> None:
    """Close a socket that may already be gone."""
    with contextlib.suppress(Exception):
        await websocket.close(code, reason)
