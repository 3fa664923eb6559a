"""Open pads follow staff changes: a pad whose session ended, or whose window its clerk may no
longer serve, is closed at once with the close code of why.

A manager's staff change (a PIN reset, a disable, the clerk's ``windows``) is written to the
staff overlay, reloaded and announced as ``hall.config`` in the hall's event stream, which
every worker's hub reads. Each open pad socket listens for it: once its own worker serves
that config (its reload follows the event, so the check waits for the hash to match, at most
:data:`RELOAD_WAIT_S`), the pad's session is looked up again as for an action
(:meth:`server.auth.Sessions.lookup`, :func:`server.actions.check_window`). A refusal is sent
as the contract's ``{"type": "error", …}`` frame and the socket is closed with its close code
(``not_logged_in`` 4401, ``window_not_allowed`` 4403; both final: the pad stops reconnecting).
A clerk sent away from a window also leaves it when nothing is in hand there
(:func:`still_allowed`), so the one window a clerk may hold is free for one of theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from server.actions import caller_id, check_window, perform
from server.auth import CLERKS, require
from server.edge import close_code
from server.events import Subscriber
from server.fanout import close_quietly
from server.hall_model import config_hash
from server.queue.errors import Refusal
from server.runtime import HallRuntime, Runtime
from server.staff_bodies import WindowAction

log = logging.getLogger("hallq.pad_watch")

#: How long a pad's check waits for its worker to read the hall file a ``hall.config`` names.
RELOAD_WAIT_S = 5.0
_STEP_S = 0.05


async def still_allowed(runtime: Runtime, hall: HallRuntime, token: str | None, window: str) -> Refusal | None:
    """Why the pad of ``token`` at ``window`` may no longer stay open, or None. A clerk who may
    no longer serve the window leaves it (action ``close``, audited as theirs) when nothing is
    in hand there, so that they can open one of their own windows; with a ticket in hand the
    window stays theirs until they finish it, or the manager closes it."""
    session = None
    try:
        session = require(await runtime.sessions.lookup(token), hall.hall.id, CLERKS)
        check_window(session, window)
    except Refusal as refusal:
        if session is not None and refusal.code == "window_not_allowed":
            with contextlib.suppress(Refusal):
                await perform(hall, session, window, WindowAction(action="close"), caller_id(token, ""))
        return refusal
    return None


async def recheck(
    runtime: Runtime, hall: HallRuntime, token: str | None, pad: Subscriber, websocket: WebSocket, wanted: str
) -> None:
    """After ``hall.config`` with hash ``wanted``: close the pad if its session or window is refused."""
    window = pad.window or ""
    waited = 0.0
    while config_hash(hall.hall) != wanted and waited < RELOAD_WAIT_S:
        await asyncio.sleep(_STEP_S)
        waited += _STEP_S
    try:
        refusal = await still_allowed(runtime, hall, token, window)
    except RedisError:
        return  # the next action re-checks; a store that is away closes nothing
    if refusal is None:
        return
    log.info("pad at window %s of hall %s closed: %s", window, hall.hall.id, refusal.code)
    pad.send({"type": "error", **refusal.body()})  # through its outlet, in order with its frames
    await close_quietly(websocket, close_code(refusal.code), refusal.code)


def watcher(
    runtime: Runtime, hall: HallRuntime, token: str | None, pad: Subscriber, websocket: WebSocket
) -> Callable[[dict[str, Any]], None]:
    """A hub listener for one pad socket: on ``hall.config``, :func:`recheck` it in a task."""
    tasks: set[asyncio.Task[None]] = set()

    def listener(event: dict[str, Any]) -> None:
        if event.get("type") != "hall.config":
            return
        task = asyncio.get_running_loop().create_task(
            recheck(runtime, hall, token, pad, websocket, str(event.get("hash")))
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return listener
