"""The screen registry: lobby and window screens name themselves; the manager sees every
worker's screens, when each was last seen, and which lobby screen went dark."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import pytest
import redis as sync_redis

from server.config import load_demo
from server.screens import KEEP_S, listing, screen_of
from tests.live import LiveServer
from tests.test_sockets import display_url, open_socket

# --- pure parts ------------------------------------------------------------------------


def test_what_a_display_socket_says_it_is() -> None:
    hall = load_demo()
    assert screen_of({}, "10.0.0.5", hall, 1) is None, "the manager's live board is not a screen"
    lobby = screen_of({"kind": "lobby", "screen": "entrance"}, "10.0.0.5", hall, 1)
    assert lobby is not None and (lobby.kind, lobby.window, lobby.name, lobby.key) == (
        "lobby",
        None,
        "entrance",
        "entrance",
    )
    window = screen_of({"kind": "window", "window": "3"}, "10.0.0.6", hall, 1)
    assert window is not None and window.window == "3" and window.key == "window:3@10.0.0.6"
    odd = screen_of({"kind": "window", "window": "99", "screen": "<b>x</b>\n"}, "10.0.0.7", hall, 1)
    assert odd is not None and odd.window is None and odd.name == "bxb" and "<" not in odd.name
    named_only = screen_of({"screen": "hall-2"}, "10.0.0.8", hall, 1)
    assert named_only is not None and named_only.kind == "lobby"


def test_a_screen_whose_worker_stopped_refreshing_it_is_gone_and_old_ones_are_forgotten() -> None:
    now = 10_000_000
    records = {
        "fresh": json.dumps(
            {
                "kind": "lobby",
                "window": None,
                "name": "fresh",
                "address": "a",
                "connected_at": 1,
                "last_seen": now - 5_000,
                "conn": "x",
                "connected": True,
            }
        ),
        "stale": json.dumps(
            {
                "kind": "lobby",
                "window": None,
                "name": "stale",
                "address": "b",
                "connected_at": 1,
                "last_seen": now - 60_000,
                "conn": "y",
                "connected": True,
            }
        ),
        "ancient": json.dumps(
            {
                "kind": "window",
                "window": "1",
                "name": "",
                "address": "c",
                "connected_at": 1,
                "last_seen": now - KEEP_S * 1000 - 1,
                "conn": "z",
                "connected": False,
            }
        ),
        "junk": "{",
    }
    screens, forget = listing(records, now, heartbeat_s=15)
    assert [(s["name"], s["connected"]) for s in screens] == [("fresh", True), ("stale", False)]
    assert "conn" not in screens[0]
    assert sorted(forget) == ["ancient", "junk"]


# --- a live server ----------------------------------------------------------------------


def screens(server: LiveServer, token: str) -> list[dict[str, Any]]:
    status, body = server.request("GET", "/api/halls/demo/screens", None, token)
    assert status == 200, body
    return list(body)


async def test_every_workers_screens_are_listed_and_refreshed(
    live_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLQ_HEARTBEAT_S", "1")
    server: LiveServer = live_server_factory(workers=2)
    admin = await asyncio.to_thread(server.login, "admin", "admin1234")
    clerk = await asyncio.to_thread(server.login, "s01")
    status, body = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/screens")
    assert status == 401 and body["error"]["code"] == "not_logged_in"
    status, body = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/screens", None, clerk)
    assert status == 403 and body["error"]["code"] == "forbidden"

    base = display_url(server)
    names = [f"lobby-{i}" for i in range(6)]
    async with contextlib.AsyncExitStack() as stack:
        for name in names:  # six connections: spread over both workers
            peer = await stack.enter_async_context(open_socket(f"{base}?kind=lobby&screen={name}"))
            await peer.recv()
        window = await stack.enter_async_context(open_socket(f"{base}?kind=window&window=3&screen=above-3"))
        await window.recv()
        board = await stack.enter_async_context(open_socket(base))  # the manager's board: not a screen
        await board.recv()
        listed = await asyncio.to_thread(screens, server, admin)
        assert [s["name"] for s in listed] == [*names, "above-3"]
        assert all(s["connected"] and s["address"] == "127.0.0.1" for s in listed)
        assert listed[-1]["kind"] == "window" and listed[-1]["window"] == "3"
        assert set(listed[0]) >= {"kind", "window", "name", "address", "connected_at", "last_seen"}
        first_seen = {s["name"]: s["last_seen"] for s in listed}
        # app-level pings (HALLQ_HEARTBEAT_S above): every worker refreshes its own
        deadline = time.monotonic() + 5
        while True:
            refreshed = await asyncio.to_thread(screens, server, admin)
            if all(s["last_seen"] > first_seen[s["name"]] for s in refreshed) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert all(s["last_seen"] > first_seen[s["name"]] for s in refreshed), refreshed
    deadline = time.monotonic() + 5
    while True:
        gone = await asyncio.to_thread(screens, server, admin)
        if not any(s["connected"] for s in gone) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert [s["name"] for s in gone] == [*names, "above-3"], "a screen that went away stays listed"
    assert not any(s["connected"] for s in gone)


@pytest.mark.usefixtures("browser")
def test_a_lobby_remembers_its_name_and_the_manager_sees_a_dark_one(live_server: LiveServer, page: Any) -> None:
    admin = live_server.login("admin", "admin1234")
    page.goto(f"{live_server.url}/display/demo?screen=entrance&sound=0")
    page.wait_for_function("document.documentElement.getAttribute('data-seq') !== null")
    deadline = time.monotonic() + 10
    while not any(s["name"] == "entrance" for s in screens(live_server, admin)):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # started again without ?screen=: the browser remembers the name
    page.goto(f"{live_server.url}/display/demo/windows/2?sound=0")
    page.goto(f"{live_server.url}/display/demo?sound=0")
    page.wait_for_function("document.documentElement.getAttribute('data-seq') !== null")
    page.wait_for_timeout(300)
    listed = screens(live_server, admin)
    assert [s["name"] for s in listed if s["kind"] == "lobby"] == ["entrance"]
    assert [s["window"] for s in listed if s["kind"] == "window"] == ["2"]

    # a lobby screen that has been dark for two minutes (as a worker would have left it)
    client = sync_redis.Redis.from_url(live_server.redis_url, decode_responses=True)
    now = int(time.time() * 1000)
    client.hset(
        "hallq:{demo}:screens",
        "stairs",
        json.dumps(
            {
                "kind": "lobby",
                "window": None,
                "name": "stairs",
                "address": "10.1.2.3",
                "connected_at": now - 600_000,
                "last_seen": now - 120_000,
                "conn": "old",
                "connected": False,
            }
        ),
    )
    client.close()
    manager = page.context.new_page()
    manager.goto(f"{live_server.url}/admin/demo")
    manager.fill("#login-pin", "admin1234")
    manager.click("#login-submit")
    manager.wait_for_selector("#screens-table tr[data-screen='stairs']")
    warning = manager.locator("#screens-warning")
    assert warning.is_visible() and "stairs" in warning.inner_text()
    assert "entrance" not in warning.inner_text()
    row = manager.locator("#screens-table tr[data-screen='entrance']")
    assert row.get_attribute("data-connected") == "1"
    assert "秒前" in row.inner_text() or "s ago" in row.inner_text()
