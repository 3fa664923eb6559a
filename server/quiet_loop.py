"""uvicorn's supervising loop, woken once a second instead of ten times.

uvicorn's ``Server.main_loop`` sleeps 0.1 s between ticks, only to refresh the ``Date``
header once a second and to notice a shutdown request within 0.1 s. Each wakeup of an idle
event loop costs ~1.3 ms of CPU on the 2-core machines we measure on, so those ten wakeups a
second were 1.3 % of a core per worker, a hall with nothing to do: the largest single
share of an idle ``hallq serve`` (5.4 % of a core in all).

:func:`install` (called by the app factory, in every uvicorn worker) makes each worker's loop
tick once a second, as the header needs, and wake at once when uvicorn's signal handler
asks it to shut down, so stopping a server is no slower than before. Like
``reload.forward_sighup_to_workers`` this replaces a method of uvicorn's class, so
pyproject pins uvicorn's range and ``tests/test_quiet_loop.py`` checks both behaviours
against the installed uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from types import FrameType
from typing import Any

from server.lease import woken

#: Seconds between two ticks: uvicorn refreshes the Date header on every tenth of its own.
TICK_S = 1.0


async def main_loop(server: Any) -> None:
    """uvicorn's ``Server.main_loop``: tick each :data:`TICK_S` until ``on_tick`` says stop."""
    wake = asyncio.Event()
    server._hallq_wake = (asyncio.get_running_loop(), wake)
    hear_signals_through(server)
    counter = 0
    should_exit = await server.on_tick(counter)
    while not should_exit:
        # on_tick refreshes the header when counter % 10 == 0: each tick is one of its seconds
        counter = (counter + 10) % 864_000
        await woken(wake, TICK_S)
        should_exit = await server.on_tick(counter)


def hear_signals_through(server: Any) -> None:
    """Make SIGINT and SIGTERM, if uvicorn's ``capture_signals`` gave them to ``server``, reach
    its waking ``handle_exit``: a worker installs this module only when it loads the app, after
    uvicorn registered the ``handle_exit`` of before (uvicorn restores the handlers it saved
    when the server stops, as before)."""
    if threading.current_thread() is not threading.main_thread():
        return  # uvicorn installs no handlers outside the main thread either
    waking = server.handle_exit
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if getattr(handler, "__self__", None) is server and handler != waking:
            signal.signal(signum, waking)


def install() -> bool:
    """Replace uvicorn's ``Server.main_loop`` in this process and the workers it forks; False
    (and uvicorn left as it is) when the installed uvicorn has not the methods this relies on."""
    from uvicorn.server import Server

    if not all(hasattr(Server, name) for name in ("main_loop", "on_tick", "handle_exit")):
        return False
    if getattr(Server.main_loop, "__module__", "") == __name__:
        return True
    handle_exit = Server.handle_exit

    def handle_exit_and_wake(self: Any, sig: int, frame: FrameType | None) -> None:
        handle_exit(self, sig, frame)
        waking = getattr(self, "_hallq_wake", None)
        if waking is not None:
            loop, wake = waking
            with contextlib.suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wake.set)

    Server.main_loop = main_loop  # type: ignore[method-assign,assignment]
    Server.handle_exit = handle_exit_and_wake  # type: ignore[method-assign]
    return True
