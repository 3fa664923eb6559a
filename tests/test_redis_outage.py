"""Redis stopped and started again under a live server with sockets open.

While Redis is away, HTTP answers 503 (``redis_unavailable``), every socket is told
``{"type":"status","redis":"down"}`` and nothing else breaks; when it is back the
sockets hear ``"up"`` and the events made next arrive with the seq continuing,
nothing missed, without anybody reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.embedded import EmbeddedRedis, free_port
from tests.live import LiveServer
from tests.processes import EmbeddedServer, health, redis_child, state_of, wait_for
from tests.test_api import assert_error
from tests.test_sockets import display_url, is_event, open_socket, pad_url, visitor_url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A durable redis-server of this test's own, so it can be stopped and started."""
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port(), durable=True)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def server(own_redis: EmbeddedRedis, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(own_redis.url, tmp_path)
    live.start()
    yield live
    live.stop()


def status_of(message: dict[str, Any]) -> str | None:
    return message.get("redis") if message.get("type") == "status" else None


async def wait_healthy(server: LiveServer, healthy: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = await asyncio.to_thread(server.request, "GET", "/healthz")
        if (status == 200) == healthy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz never became {'200' if healthy else '503'}")


async def test_sockets_are_told_and_catch_up_when_redis_returns(server: LiveServer, own_redis: EmbeddedRedis) -> None:
    clerk = await asyncio.to_thread(server.login, "s01")
    await asyncio.to_thread(server.issue, ["register"])
    mine = (await asyncio.to_thread(server.issue, ["register"]))["ticket"]
    async with contextlib.AsyncExitStack() as stack:
        display = await stack.enter_async_context(open_socket(display_url(server)))
        pad = await stack.enter_async_context(open_socket(pad_url(server, "1", clerk)))
        phone = await stack.enter_async_context(open_socket(visitor_url(server, mine["token"])))
        assert (await display.recv())["seq"] == 2
        assert (await pad.recv())["type"] == "window_state"
        assert (await phone.recv())["ahead"] == 1
        await asyncio.to_thread(server.act, clerk, "1", "call_next")
        assert [m["seq"] for m in (await display.recv(), await display.recv())] == [3, 4]
        assert (await phone.recv())["ahead"] == 0

        # --- Redis goes away ---------------------------------------------------------
        own_redis.stop()
        for peer in (display, pad, phone):
            await peer.until(lambda m: status_of(m) == "down", timeout=10)
        assert (await asyncio.to_thread(server.request, "GET", "/healthz"))[0] == 503
        for method, path, body in (
            ("GET", "/api/halls/demo/state", None),
            ("POST", "/api/halls/demo/tickets", {"services": ["register"]}),
            ("GET", f"/api/tickets/{mine['token']}", None),
            ("POST", "/api/auth/login", {"hall": "demo", "staff": "s02", "pin": "1234"}),
        ):
            assert_error(await asyncio.to_thread(server.request, method, path, body), 503, "redis_unavailable")
        assert_error(await asyncio.to_thread(server.act, clerk, "1", "recall"), 503, "redis_unavailable")
        # a pad's action is answered, and the pad stays
        await pad.send({"action": "recall", "request_id": "during-outage"})
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is False and result["error"]["code"] == "redis_unavailable"
        # a screen that connects now hears why it gets nothing, and is asked to come back
        async with open_socket(display_url(server)) as newcomer:
            assert status_of(await newcomer.recv()) == "down"
        # the pages themselves are still served (they need no Redis)
        assert (await asyncio.to_thread(server.request, "GET", "/api/halls/demo"))[0] == 200

        # --- Redis is back (its append-only file kept everything) ---------------------
        own_redis.start()
        for peer in (display, pad, phone):
            await peer.until(lambda m: status_of(m) == "up", timeout=10)
        await wait_healthy(server, True)
        await asyncio.to_thread(server.issue, ["photo"])
        status, called = await asyncio.to_thread(server.act, clerk, "1", "call_next")
        assert status == 200 and called["ticket"]["number"] == "A002", called
        after = [await display.recv() for _ in range(3)]
        assert [(m["seq"], m["type"]) for m in after] == [
            (5, "ticket.issued"),
            (6, "ticket.completed"),
            (7, "ticket.called"),
        ]
        pad_events = await pad.collect(lambda m: is_event(m) and m["seq"] == 7)
        assert [m["seq"] for m in pad_events if is_event(m)] == [5, 6, 7]
        # a refresh of the still-waiting ticket may come first: the photo ticket's issue is an
        # event too, and its refresh may run before the call (the ETA in it can have moved)
        update = await phone.until(lambda m: m.get("type") == "ticket" and m["ticket"]["status"] != "waiting")
        assert update["ticket"]["status"] == "called" and update["ticket"]["window"] == "1"
        await pad.send({"action": "start", "request_id": "after-outage"})
        assert (await pad.until(lambda m: m.get("type") == "result"))["ok"] is True
        assert (await display.recv())["seq"] == 8


async def test_a_server_started_while_redis_is_briefly_away_recovers(
    server: LiveServer, own_redis: EmbeddedRedis
) -> None:
    """A restart of Redis between events: the hub's blocking read resumes at the right seq."""
    for _ in range(3):
        await asyncio.to_thread(server.issue, ["register"])
    async with open_socket(display_url(server)) as display:
        assert (await display.recv())["seq"] == 3
        own_redis.stop()
        own_redis.start()
        await wait_healthy(server, True)
        await asyncio.to_thread(server.issue, ["register"])
        messages = await display.collect(lambda m: is_event(m), timeout=10)
        assert [m["seq"] for m in messages if is_event(m)] == [4]
        assert all(m.get("type") in ("status", "ticket.issued") for m in messages)


# --- the embedded Redis is supervised ------------------------------------------------------


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """``hallq serve`` with its own embedded, supervised Redis (no REDIS_URL)."""
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


async def test_a_killed_embedded_redis_is_reaped_restarted_and_loses_nothing(
    embedded_server: EmbeddedServer,
) -> None:
    server = embedded_server
    assert server.process is not None
    issued = [await asyncio.to_thread(server.issue, ["register"]) for _ in range(5)]
    async with open_socket(display_url(server)) as display:
        assert (await display.recv())["seq"] == 5
        first = redis_child(server.process.pid)
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await display.until(lambda m: status_of(m) == "down", timeout=10)
        # back by itself, and the screen is told
        await display.until(lambda m: status_of(m) == "up", timeout=20)
        await wait_healthy(server, True)
        assert state_of(first) is None, "the killed redis-server must be reaped, not left a zombie"
        second = redis_child(server.process.pid)
        assert second is not None and second != first
        # every acknowledged ticket is there (the append-only file was replayed)
        for answer in issued:
            status, found = await asyncio.to_thread(server.request, "GET", f"/api/tickets/{answer['ticket']['token']}")
            assert status == 200 and found["ticket"]["number"] == answer["ticket"]["number"]
        status, state = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == 5 and state["seq"] == 5
        # and the hall goes on where it was, on the same screen, without a reconnect
        assert (await asyncio.to_thread(server.issue, ["register"]))["ticket"]["number"] == "A006"
        assert (await display.until(is_event))["seq"] == 6
    assert "starting it again" in server.log_text()


async def test_start_up_waits_for_redis_and_answers_503_meanwhile(tmp_path: Path) -> None:
    """A server (or a worker) that starts while Redis is away serves 503 until Redis is back,
    however long that takes, instead of giving up and stopping."""
    redis = EmbeddedRedis(tmp_path / "redis", port=free_port(), durable=True)
    server = EmbeddedServer(tmp_path, redis_url=redis.url, secret=None)
    process = server.launch()
    try:
        await asyncio.to_thread(wait_for, lambda: health(server) == 503, 15, "/healthz 503 without Redis")
        status, body = await asyncio.to_thread(server.request, "GET", "/healthz")
        assert body == {"status": "redis_unavailable"}
        assert_error(
            await asyncio.to_thread(server.request, "POST", "/api/halls/demo/tickets", {"services": ["register"]}),
            503,
            "redis_unavailable",
        )
        # the pages need no Redis
        assert (await asyncio.to_thread(server.request, "GET", "/display/demo"))[0] == 200
        async with open_socket(display_url(server)) as display:
            assert status_of(await display.recv()) == "down"
        assert process.poll() is None
        redis.start()
        await wait_healthy(server, True, timeout=15)
        answer = await asyncio.to_thread(server.issue, ["register"], id_number="110101199001011234")
        assert answer["ticket"]["number"] == "A001"
        # the ID number was hashed with the key kept in Redis: a second ticket is a duplicate
        status, body = await asyncio.to_thread(
            server.request,
            "POST",
            "/api/halls/demo/tickets",
            {"services": ["register"], "id_number": "110101199001011234"},
        )
        assert status == 409, body
    finally:
        server.stop()
        redis.stop()


# --- a store that goes back in time -------------------------------------------------------


async def test_a_store_that_went_back_in_time_resnapshots_every_screen(live_server: LiveServer) -> None:
    """FLUSHALL, a non-persistent Redis restarted empty or a restore of an older copy: the
    hub notices the seq went down, every socket gets a fresh snapshot and then the new
    events, and /healthz says so."""
    import redis as sync_redis

    clerk = await asyncio.to_thread(live_server.login, "s01")
    for _ in range(4):
        await asyncio.to_thread(live_server.issue, ["register"])
    async with contextlib.AsyncExitStack() as stack:
        display = await stack.enter_async_context(open_socket(display_url(live_server)))
        pad = await stack.enter_async_context(open_socket(pad_url(live_server, "1", clerk)))
        assert (await display.recv())["seq"] == 4
        assert (await pad.recv())["type"] == "window_state"
        client = sync_redis.Redis.from_url(live_server.redis_url)
        client.flushdb()
        client.close()
        clerk = await asyncio.to_thread(live_server.login, "s01")  # the sessions went too
        snapshot = await display.until(lambda m: m.get("type") == "snapshot", timeout=10)
        assert snapshot["seq"] == 0 and snapshot["state"]["waiting"].get("register", 0) == 0
        first = (await asyncio.to_thread(live_server.issue, ["register"]))["ticket"]
        assert first["number"] == "A001"
        event = await display.until(is_event)
        assert event["type"] == "ticket.issued" and event["ticket"]["number"] == "A001"
        await pad.until(lambda m: m.get("type") == "snapshot", timeout=5)
        status, health_body = await asyncio.to_thread(live_server.request, "GET", "/healthz")
        assert status == 200
        reset = health_body["store_reset"]["demo"]
        assert reset["from"] == 4 and reset["to"] == 0 and reset["at"] > 0
    assert "went back in time" in live_server.log_path.read_text()
