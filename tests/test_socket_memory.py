"""What an idle socket keeps: none of our middleware frames, no handshake leftovers (see
docs/benchmarks.md, memory per display socket)."""

from __future__ import annotations

import asyncio
from typing import Any

from server.browser import BrowserGuard
from server.events import Subscriber
from server.fanout import DirectOutlet, KeepRawSend
from server.metrics import HttpMetrics


class FakeTransport:
    def get_extra_info(self, name: str) -> None:
        return None


class FakeProtocol:
    def __init__(self, complete: bool) -> None:
        self.transport = FakeTransport()
        self.handshake_complete = complete
        self.close_sent = False
        self.request: object = object()
        self.response: object = object()


def test_an_accepted_outlet_lets_the_handshake_go_and_has_no_dict() -> None:
    protocol = FakeProtocol(complete=True)
    outlet = DirectOutlet(protocol)
    assert protocol.request is None and protocol.response is None
    assert not hasattr(outlet, "__dict__")
    before = FakeProtocol(complete=False)  # not accepted yet: uvicorn still needs them
    DirectOutlet(before)
    assert before.request is not None and before.response is not None


def test_subscribers_have_slots() -> None:
    assert not hasattr(Subscriber("display", DirectOutlet(FakeProtocol(True))), "__dict__")


def test_middlewares_keep_no_frame_of_their_own_for_a_websocket() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope)

    async def nothing() -> Any:
        return {}

    async def ignore(message: Any) -> None:
        return None

    for middleware in (HttpMetrics(app), BrowserGuard(app), KeepRawSend(app)):
        awaitable = middleware({"type": "websocket"}, nothing, ignore)
        # the app's own coroutine, handed on: no frame of the middleware's stays suspended
        assert awaitable.cr_code is app.__code__
        asyncio.run(awaitable)
    assert len(seen) == 3
