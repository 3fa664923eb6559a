"""Bounds on connections, so nobody on the hall's network can use up the server.

* :class:`GuardedHttp` (uvicorn's httptools protocol, bounded): a connection must send a
  request's complete headers within :data:`HEADER_TIMEOUT_S` of opening (or of starting
  the next request), else it is closed (idle and slowloris connections held 20,000
  descriptors before); one client address holds at most :data:`MAX_CONNECTIONS_PER_ADDRESS`
  HTTP connections at once in this process. Idle keep-alive between requests is
  uvicorn's ``timeout_keep_alive``.
* :data:`SOCKETS` counts WebSockets per (kind, client address): a hall's NAT may put
  hundreds of phones behind one address, so each kind has its own cap
  (:data:`SOCKET_CAPS`) and a flood of one kind never takes the places of another: pads
  (staff) and displays always get in while phones are many.

The machine's own address (127.0.0.1, ::1) is not capped: local tools and benchmarks use
it, and so does a same-host proxy that does not pass the client's address on (configure
it to send ``X-Forwarded-For``, which uvicorn trusts from 127.0.0.1, so caps apply per client).

Every bound is per process and set by environment variables (``HALLQ_HEADER_TIMEOUT_S``,
``HALLQ_MAX_CONNECTIONS_PER_ADDRESS``, ``HALLQ_MAX_SOCKETS_PER_ADDRESS`` as
``display=100,pad=50,visitor=1000``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
from collections import Counter
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("hallq.limits")

HEADER_TIMEOUT_S = float(os.environ.get("HALLQ_HEADER_TIMEOUT_S", "5"))
MAX_CONNECTIONS_PER_ADDRESS = int(os.environ.get("HALLQ_MAX_CONNECTIONS_PER_ADDRESS", "1024"))
DEFAULT_SOCKET_CAPS = {"display": 100, "pad": 50, "visitor": 1000}


def parse_caps(text: str, defaults: dict[str, int] = DEFAULT_SOCKET_CAPS) -> dict[str, int]:
    """``"display=10,visitor=500"`` over the defaults; malformed parts are ignored."""
    caps = dict(defaults)
    for part in text.split(","):
        kind, _, value = part.partition("=")
        if kind.strip() in caps and value.strip().isdigit():
            caps[kind.strip()] = int(value.strip())
    return caps


SOCKET_CAPS = parse_caps(os.environ.get("HALLQ_MAX_SOCKETS_PER_ADDRESS", ""))


class Budget:
    """How many of something each key (an address, a (kind, address) pair) holds now."""

    def __init__(self) -> None:
        self.held: Counter[Any] = Counter()

    def take(self, key: Any, cap: int) -> bool:
        """Count one more for ``key``; False (nothing counted) when it already holds ``cap``."""
        if self.held[key] >= cap:
            return False
        self.held[key] += 1
        return True

    def give_back(self, key: Any) -> None:
        self.held[key] -= 1
        if self.held[key] <= 0:
            del self.held[key]


CONNECTIONS = Budget()
SOCKETS = Budget()
#: The machine itself: local tools, benchmarks, and a proxy on this host that does not pass
#: the client's address on (behind it every client would share one address and one cap).
UNCAPPED = frozenset({"127.0.0.1", "::1"})


def socket_cap(kind: str, address: str = "") -> int:
    return 1 << 30 if address in UNCAPPED else SOCKET_CAPS.get(kind, 100)


def connection_cap(address: str) -> int:
    return 1 << 30 if address in UNCAPPED else MAX_CONNECTIONS_PER_ADDRESS


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP protocol with a deadline for headers and a cap per client address."""

    _counted: str | None = None
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if not CONNECTIONS.take(address, connection_cap(address)):
            log.warning("refusing a connection: %s already holds %d", address, MAX_CONNECTIONS_PER_ADDRESS)
            transport.abort()
            return
        self._counted = address
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        # the connection becomes a WebSocket, counted per kind by the socket endpoints
        self._disarm()
        self._release()
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        if self._counted is not None:
            CONNECTIONS.give_back(self._counted)
            self._counted = None


def raise_descriptor_limit() -> None:
    """Use every file descriptor the system allows us (the soft limit is often 1,024)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover - a container may forbid it
        log.warning("cannot raise the descriptor limit: %s", exc)
