"""The WebSockets of CONTRACT.md: lobby/window displays, clerk pads, visitors' phones.

Every socket joins its hall's hub *before* reading what it missed, so nothing
falls between the catch-up and the live events (see :mod:`server.events`).
Frames from clients are bounded by the server's ``ws_max_size``; a malformed one
gets an error answer, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from redis.exceptions import RedisError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from server import pad_watch
from server.actions import caller_id, check_window, perform
from server.auth import CLERKS, require
from server.bodies import checked, parse_json, valid_text
from server.edge import CLOSE_CODES, close_code
from server.events import Subscriber, encode
from server.fanout import close_quietly, outlet_for
from server.limits import SOCKETS, socket_cap
from server.queue.errors import Refusal
from server.queue.ids import hall_of_token
from server.runtime import HallRuntime, Runtime, runtime_of
from server.screens import now_ms, screen_of
from server.staff_bodies import PadAuth, WindowAction

log = logging.getLogger("hallq.sockets")

#: Largest frame a pad may send us (an action is ~200 bytes).
MAX_CLIENT_FRAME = 8 * 1024
#: How long a pad that did not bring a token has to send its ``{"type": "auth"}`` message.
AUTH_TIMEOUT_S = 10.0


async def refuse(websocket: WebSocket, code: str, message: str, accepted: bool = False) -> None:
    """Accept (unless ``accepted`` already), say why in the contract's error form, and close
    with the close code of ``code`` (:func:`server.edge.close_code`)."""
    if not accepted:
        await websocket.accept()
    await websocket.send_text(json.dumps({"type": "error", "error": {"code": code, "message": message}}))
    await close_quietly(websocket, close_code(code), code)


async def wait_for_close(websocket: WebSocket) -> None:
    """Read and ignore what a read-only client sends, until it goes."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def display_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    hall = runtime.halls.get(websocket.path_params["hall"])
    if hall is None:
        await refuse(websocket, "unknown_hall", "there is no such hall")
        return
    since_text = websocket.query_params.get("since")
    if since_text and not (since_text.isascii() and since_text.isdigit() and len(since_text) <= 18):
        # e.g. "²" is a digit to str.isdigit() but no number to int()
        await refuse(websocket, "bad_since", "since must be the seq number of the last event applied")
        return
    since = int(since_text) if since_text else None
    await websocket.accept()
    client = websocket.client.host if websocket.client else "unknown"
    screen = screen_of(websocket.query_params, client, hall.hall, now_ms())
    if screen is not None:
        with contextlib.suppress(RedisError):  # the registry is for people; the screen comes first
            await hall.screens.connect(screen)
    try:
        await follow(websocket, hall, Subscriber("display", outlet_for(websocket)), since)
    finally:
        if screen is not None:
            with contextlib.suppress(RedisError):
                await hall.screens.disconnect(screen)


async def follow(websocket: WebSocket, hall: HallRuntime, subscriber: Subscriber, since: int | None) -> None:
    """Catch ``subscriber`` up, keep it live until the client leaves."""
    hall.hub.add(subscriber)
    try:
        if not hall.hub.redis_up:
            subscriber.send({"type": "status", "redis": "down"})
        if not await hall.hub.catch_up(subscriber, since):
            subscriber.outlet.drop()
            return
        await wait_for_close(websocket)
    except RedisError as exc:
        # Tell the client and let it reconnect (with since=) once Redis is back.
        log.warning("redis unavailable while catching a %s up: %r", subscriber.kind, exc)
        subscriber.send({"type": "status", "redis": "down"})
        await close_quietly(websocket, CLOSE_CODES["try_again"], "redis unavailable")
    finally:
        hall.hub.remove(subscriber)


async def pad_socket(websocket: WebSocket) -> None:
    runtime = runtime_of(websocket)
    hall = runtime.halls.get(websocket.path_params["hall"])
    window = websocket.path_params["window"]
    if hall is None or hall.hall.window(window) is None:
        await refuse(websocket, "unknown_window", "there is no such hall or window")
        return
    token = websocket.query_params.get("token")  # old pads only: a token in a URL reaches proxy logs
    # ?auth=message: the pad sends its own login first, whatever session cookie the browser holds
    # (a manager logged in on the same browser must not become the pad's clerk)
    if token is None and websocket.query_params.get("auth") != "message":
        token = websocket.cookies.get("hallq_session")
        if token is not None and not same_origin(websocket):
            await refuse(websocket, "bad_origin", "cookie logins are accepted from this site only")
            return
    accepted = token is None
    if accepted:
        # No token in the URL or a cookie: the first message brings it ({"type": "auth", "token": …}).
        await websocket.accept()
        token = await first_message_token(websocket)
    try:
        check_window(require(await runtime.sessions.lookup(token), hall.hall.id, CLERKS), window)
    except Refusal as refusal:
        await refuse(websocket, refusal.code, refusal.message, accepted)
        return
    if not accepted:
        await websocket.accept()
    subscriber = Subscriber("pad", outlet_for(websocket), window=window)
    # a staff change (PIN reset, disable, the clerk's windows) closes this pad when it refuses it
    watch = pad_watch.watcher(runtime, hall, token, subscriber, websocket)
    hall.hub.listeners.append(watch)
    hall.hub.add(subscriber)
    hall.pads.add(subscriber)
    try:
        state = await hall.pads.state_message(window)
        subscriber.send(state)
        subscriber.last_seq = int(state["seq"])
        subscriber.go_live()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            client = websocket.client.host if websocket.client else ""
            answer = await pad_action(runtime, hall, token or "", window, message.get("text"), client)
            subscriber.send(answer)
            if answer.get("ok"):
                subscriber.send(await hall.pads.state_message(window))
    except RedisError:
        subscriber.send({"type": "status", "redis": "down"})
        await close_quietly(websocket, CLOSE_CODES["try_again"], "redis unavailable")
    except WebSocketDisconnect:
        return
    finally:
        hall.hub.listeners.remove(watch)
        hall.pads.remove(subscriber)
        hall.hub.remove(subscriber)


async def first_message_token(websocket: WebSocket) -> str | None:
    """The token of a pad's first message ``{"type": "auth", "token": …}``; None when it sends anything else."""
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            message = await websocket.receive()
    except TimeoutError:
        return None
    text = message.get("text")
    if not isinstance(text, str) or len(text) > MAX_CLIENT_FRAME:
        return None
    try:
        return checked(PadAuth, parse_json(text)).token
    except Refusal:
        return None


async def pad_action(
    runtime: Runtime, hall: HallRuntime, token: str, window: str, text: Any, client: str = ""
) -> dict[str, Any]:
    """Run one action a pad sent; always answer a ``result`` (ok or the error)."""
    request_id = None
    try:
        if not isinstance(text, str) or len(text) > MAX_CLIENT_FRAME:
            raise Refusal("bad_frame", "send one JSON text frame of at most 8 KB per action")
        body = parse_json(text)  # 400-like refusals for bad syntax or nesting too deep
        if isinstance(body, dict):
            # echoed in the answer only when it can be: a lone surrogate cannot be sent back
            request_id = body.get("request_id") if valid_text(body.get("request_id")) else None
            body.pop("type", None)
        action = checked(WindowAction, body)
        # Re-checked per action: a logout or an expired session stops the pad at once.
        session = require(await runtime.sessions.lookup(token), hall.hall.id, CLERKS)
        # the same caller as this session's HTTP requests: one request_id namespace per session
        answer = await perform(hall, session, window, action, caller_id(token, ""), client=client)
        return {"type": "result", "request_id": request_id, "ok": True, **answer}
    except Refusal as refusal:
        return {"type": "result", "request_id": request_id, "ok": False, **refusal.body()}
    except RedisError:
        # Answered like HTTP's 503, and the pad stays: it may retry with the same request_id.
        unavailable = Refusal("redis_unavailable", "the queue store is unreachable; try again shortly")
        return {"type": "result", "request_id": request_id, "ok": False, **unavailable.body()}


def same_origin(websocket: WebSocket) -> bool:
    """Whether the socket's Origin header names this server (cookie-authenticated sockets)."""
    origin = websocket.headers.get("origin")
    host = websocket.headers.get("host")
    return bool(origin and host and urlsplit(origin).netloc == host)


async def visitor_socket(websocket: WebSocket) -> None:
    """A visitor's phone. By default the server sends it a personal ``ticket`` message after
    each change (people ahead, ETA). With ``?follow=moves`` it gets its ticket with its
    ``place`` once, then the hall's shared event frames, and keeps its place itself
    (:mod:`server.place`): one shared write per phone per event, nothing per phone in Redis."""
    runtime = runtime_of(websocket)
    token = websocket.path_params["token"]
    hall_id = hall_of_token(token)
    hall = runtime.halls.get(hall_id or "")
    if hall is None:
        await refuse(websocket, "unknown_ticket", "no such ticket")
        return
    if websocket.query_params.get("follow") == "moves":
        await follow_moves(websocket, hall, token)
        return
    try:
        found = await hall.engine.ticket(token)
    except RedisError:
        await refuse(websocket, "redis_unavailable", "the queue is unreachable; retrying")
        return
    if found is None:
        await refuse(websocket, "unknown_ticket", "no such ticket")
        return
    await websocket.accept()
    subscriber = Subscriber("visitor", outlet_for(websocket))
    hall.visitors.add(token, subscriber)
    try:
        found.pop("seq", None)
        found.pop("place", None)
        frame, text = encode({"type": "ticket", **found})
        subscriber.outlet.offer(frame, text)
        await wait_for_close(websocket)
    finally:
        hall.visitors.remove(token, subscriber)


async def follow_moves(websocket: WebSocket, hall: HallRuntime, token: str) -> None:
    """``?follow=moves``: the ticket (with ``seq`` and ``place``), then every hall event's shared
    frame after that seq, as displays get them (phones last)."""
    await websocket.accept()
    subscriber = Subscriber("phone", outlet_for(websocket))
    hall.hub.add(subscriber)  # before the read: nothing falls between it and the live frames
    try:
        try:
            found = await hall.engine.ticket(token)
        except RedisError:
            await refuse(websocket, "redis_unavailable", "the queue is unreachable; retrying", accepted=True)
            return
        if found is None:
            await refuse(websocket, "unknown_ticket", "no such ticket", accepted=True)
            return
        subscriber.send({"type": "ticket", **found})
        subscriber.last_seq = int(found.get("seq") or 0)
        if not subscriber.go_live():
            return
        await wait_for_close(websocket)
    finally:
        hall.hub.remove(subscriber)


def bounded(kind: str, endpoint: Callable[[WebSocket], Awaitable[None]]) -> Callable[[WebSocket], Awaitable[None]]:
    """``endpoint`` with at most :func:`server.limits.socket_cap` sockets of ``kind`` per client
    address in this process; past it the socket is refused with ``too_many_sockets`` (4429)."""

    async def guarded(websocket: WebSocket) -> None:
        address = websocket.client.host if websocket.client else ""
        key = (kind, address)
        if not SOCKETS.take(key, socket_cap(kind, address)):
            message = f"too many {kind} connections from this address; close some first"
            await refuse(websocket, "too_many_sockets", message)
            return
        try:
            await endpoint(websocket)
        finally:
            SOCKETS.give_back(key)

    return guarded


routes = [
    WebSocketRoute("/ws/halls/{hall}/display", bounded("display", display_socket)),
    WebSocketRoute("/ws/halls/{hall}/windows/{window}", bounded("pad", pad_socket)),
    WebSocketRoute("/ws/tickets/{token}", bounded("visitor", visitor_socket)),
]
