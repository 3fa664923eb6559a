"""uvicorn's loop ticks once a second, keeps the Date header fresh and still stops at once
(server/quiet_loop.py), against the installed uvicorn: a real ``uvicorn.Server`` on a port."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import uvicorn

from server import quiet_loop
from server.embedded import free_port

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
#: uvicorn's own, as imported before any test installs the waking one
original_handle_exit = uvicorn.Server.handle_exit


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


class Running:
    """A uvicorn server in a thread of its own, with its ticks counted."""

    def __init__(self) -> None:
        self.port = free_port()
        config = uvicorn.Config(hello, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", ws="none")
        self.server = uvicorn.Server(config)
        self.ticks = 0
        on_tick = self.server.on_tick

        async def counted(counter: int) -> bool:
            self.ticks += 1
            return await on_tick(counter)

        self.server.on_tick = counted  # type: ignore[method-assign]
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def start(self) -> Running:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def date(self) -> float:
        with NO_PROXY.open(f"http://127.0.0.1:{self.port}/", timeout=5) as answer:
            return parsedate_to_datetime(answer.headers["date"]).timestamp()


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from uvicorn.server import Server

    monkeypatch.setattr(Server, "main_loop", Server.main_loop)
    monkeypatch.setattr(Server, "handle_exit", Server.handle_exit)
    assert quiet_loop.install(), "the installed uvicorn lacks main_loop, on_tick or handle_exit"
    yield


def test_an_idle_server_ticks_once_a_second_and_its_date_header_keeps_up(quiet: None) -> None:
    running = Running().start()
    try:
        first = running.date()
        ticks_before = running.ticks
        time.sleep(3.5)
        ticks = running.ticks - ticks_before
        later = running.date()
    finally:
        running.server.handle_exit(signal.SIGTERM, None)
        running.thread.join(10)
    # uvicorn's own loop ticks 10 times a second (35 here); ours about once a second
    assert 1 <= ticks <= 6, ticks
    assert later - first >= 2, (first, later)


def test_a_shutdown_request_wakes_the_loop_at_once(quiet: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quiet_loop, "TICK_S", 60.0)  # the next tick is a minute away
    running = Running().start()
    time.sleep(0.3)
    asked = time.monotonic()
    running.server.handle_exit(signal.SIGTERM, None)
    running.thread.join(20)
    assert not running.thread.is_alive()
    # without the wake it would wait for the tick, a minute away
    assert time.monotonic() - asked < 15


def test_installing_twice_changes_nothing(quiet: None) -> None:
    from uvicorn.server import Server

    loop, exit_handler = Server.main_loop, Server.handle_exit
    assert quiet_loop.install()
    assert (Server.main_loop, Server.handle_exit) == (loop, exit_handler)


def test_a_worker_that_installs_late_hears_the_signals_through_the_waking_handler(quiet: None) -> None:
    """uvicorn's workers load the app (which installs this) after ``capture_signals`` gave
    SIGINT and SIGTERM to the ``handle_exit`` of before: the loop takes them over."""
    from uvicorn.server import Server

    server = Running().server
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        old = original_handle_exit.__get__(server)
        for signum in before:
            signal.signal(signum, old)
        quiet_loop.hear_signals_through(server)
        for signum in before:
            handler = signal.getsignal(signum)
            assert handler == server.handle_exit and getattr(handler, "__func__", None) is Server.handle_exit
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_handlers_that_are_not_the_servers_are_left_alone(quiet: None) -> None:
    server = Running().server
    before = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        quiet_loop.hear_signals_through(server)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, before)
