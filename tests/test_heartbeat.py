"""Every socket gets an app-level ping, so a listen-only client can notice a half-open link."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from server.embedded import EmbeddedRedis
from tests.live import LiveServer, fresh_database


async def test_display_and_visitor_sockets_get_pings(
    redis_server: EmbeddedRedis, live_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLQ_HEARTBEAT_S", "0.3")
    server = LiveServer(fresh_database(redis_server), live_data)
    server.start()
    try:
        token = server.issue()["ticket"]["token"]
        async with (
            websockets.connect(f"{server.ws_url}/ws/halls/demo/display") as display,
            websockets.connect(f"{server.ws_url}/ws/tickets/{token}") as visitor,
        ):
            for socket in (display, visitor):
                kinds = []
                while "ping" not in kinds:
                    kinds.append(json.loads(await asyncio.wait_for(socket.recv(), 3))["type"])
                assert kinds[0] in ("snapshot", "ticket")  # the ping never comes before the state
    finally:
        server.stop()


@pytest.mark.parametrize(("heartbeat_s", "reconnects"), [("0.2", False), ("600", True)])
def test_a_silent_display_socket_reconnects_by_itself(
    redis_server: EmbeddedRedis,
    live_data: Path,
    monkeypatch: pytest.MonkeyPatch,
    browser: Any,
    heartbeat_s: str,
    reconnects: bool,
) -> None:
    """HallSocket reopens a socket that has been silent too long, and only then: pings keep it."""
    monkeypatch.setenv("HALLQ_HEARTBEAT_S", heartbeat_s)
    server = LiveServer(fresh_database(redis_server), live_data)
    server.start()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{server.url}/display/demo?sound=0")
        page.evaluate("window.probe = new HallSocket({url: '/ws/halls/demo/display', silenceMs: 800}).start()")
        page.wait_for_timeout(2500)
        connections = page.evaluate("window.probe.connections")
        assert (connections >= 2) is reconnects, connections
    finally:
        context.close()
        server.stop()
