"""Several ``hallq serve`` processes on one Redis act as one server.

An action sent to one process reaches the display, pad and visitor sockets held by
another, in order and with the same seqs; ``--workers 2`` shares one port the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.live import LiveServer
from tests.test_sockets import display_url, is_event, open_socket, pad_url, visitor_url


async def test_an_action_on_one_process_reaches_sockets_on_the_other(live_server_factory: Any) -> None:
    first: LiveServer = live_server_factory()
    second: LiveServer = live_server_factory(redis_url=first.redis_url)
    clerk = await asyncio.to_thread(first.login, "s01")
    mine = (await asyncio.to_thread(first.issue, ["register"]))["ticket"]
    await asyncio.to_thread(first.issue, ["photo"])
    async with contextlib.AsyncExitStack() as stack:
        display_b = await stack.enter_async_context(open_socket(display_url(second)))
        display_a = await stack.enter_async_context(open_socket(display_url(first)))
        # the clerk's pad is on the other process from the one the clerk's HTTP calls go to
        pad_b = await stack.enter_async_context(open_socket(pad_url(second, "1", clerk)))
        phone_b = await stack.enter_async_context(open_socket(visitor_url(second, mine["token"])))
        assert (await display_b.recv())["seq"] == 2
        assert (await display_a.recv())["seq"] == 2
        assert (await pad_b.recv())["type"] == "window_state"
        assert (await phone_b.recv())["ticket"]["status"] == "waiting"

        status, called = await asyncio.to_thread(first.act, clerk, "1", "call_next")
        assert status == 200 and called["ticket"]["number"] == "A001"
        called_phone = await phone_b.recv()
        assert called_phone["ticket"]["status"] == "called" and called_phone["ticket"]["window"] == "1"
        await asyncio.to_thread(first.issue, ["pension"])
        status, started = await asyncio.to_thread(first.act, clerk, "1", "start")
        assert status == 200

        on_b = [await display_b.recv() for _ in range(4)]
        on_a = [await display_a.recv() for _ in range(4)]
        assert [(m["seq"], m["type"]) for m in on_b] == [
            (3, "window.opened"),
            (4, "ticket.called"),
            (5, "ticket.issued"),
            (6, "ticket.started"),
        ]
        assert on_b == on_a, "both processes must send the very same events"
        assert on_b[1]["announce"]["zh"]["text"] == "请A001号到1号窗口办理"
        assert called["seq"] == 4 and started["seq"] == 6

        pad_events = await pad_b.collect(lambda m: m.get("seq") == 6 and is_event(m))
        assert [m["seq"] for m in pad_events if is_event(m)] == [3, 4, 5, 6]
        state = await pad_b.until(lambda m: m.get("type") == "window_state" and m["window"]["status"] == "serving")
        assert state["window"]["ticket"]["number"] == "A001" and state["window"]["ticket"]["token"] == mine["token"]

        serving_phone = await phone_b.recv()
        assert serving_phone["ticket"]["status"] == "serving" and serving_phone["ticket"]["number"] == "A001"

        # and the other way round: the pad on the second process acts, the first one's display sees it
        await pad_b.send({"action": "complete", "request_id": "b-1"})
        result = await pad_b.until(lambda m: m.get("type") == "result")
        assert result["ok"] is True and result["seq"] == 7
        completed = await display_a.recv()
        assert (completed["seq"], completed["type"]) == (7, "ticket.completed")
        assert (await display_b.recv()) == completed


async def test_workers_share_one_port(live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory(workers=2)
    clerk = await asyncio.to_thread(server.login, "s02")
    async with contextlib.AsyncExitStack() as stack:
        # several sockets, so that (very likely) both workers hold some: the kernel hands
        # each accept to whichever worker is waiting
        displays = [await stack.enter_async_context(open_socket(display_url(server))) for _ in range(8)]
        for display in displays:
            assert (await display.recv())["type"] == "snapshot"
        for _ in range(3):
            await asyncio.to_thread(server.issue, ["register"])
        await asyncio.to_thread(server.act, clerk, "2", "call_next")
        for display in displays:
            got = [await display.recv() for _ in range(5)]
            assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
            assert got[-1]["type"] == "ticket.called"
