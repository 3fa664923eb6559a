"""The simulated day's clerks: a pad socket per window and what a clerk does with it all day.

:class:`Pad` speaks the clerk's pad socket (first-message auth, ``?token=`` for older servers;
actions as frames answered by ``request_id``; refusals counted on the hall). :func:`clerk`
is one window's day: open (late for window 5), call (a double tap now and then: the second
``call_next`` 150–400 ms after the first), wait for the visitor (a recall, a no-show marked
after the allowed delay, again if refused as too early), serve for a scaled 5–14 hall
minutes (3–8 for photos), then suspend a visitor who must fetch a document, transfer (to a
window or a service; sometimes to a closed window or its own, then to an open one) or
complete; resume returning visitors before calling anyone new; pause for lunch; close early.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from typing import Any

import websockets
from day_model import HALL, WINDOWS, Hall, Window


class Pad:
    """A clerk's pad socket: actions as frames, answers matched by request_id."""

    def __init__(self, hall: Hall, window: str, token: str) -> None:
        self.hall = hall
        self.window = window
        self.token = token
        self.socket: Any = None
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None
        self.auth = "first-message"

    async def connect(self) -> None:
        url = f"{self.hall.ws_base}/ws/halls/{HALL}/windows/{self.window}"
        socket_ = await websockets.connect(url, max_size=2**22)
        try:
            await socket_.send(json.dumps({"type": "auth", "token": self.token}))
            first = await self._first_state(socket_)
        except websockets.ConnectionClosed:
            first = None
        if first is None:  # a server without first-message auth: the old ?token= form
            await socket_.close()
            self.auth = "query"
            socket_ = await websockets.connect(f"{url}?token={self.token}", max_size=2**22)
            if await self._first_state(socket_) is None:
                raise RuntimeError(f"pad {self.window}: not accepted")
        self.socket = socket_
        self.reader = asyncio.create_task(self._read())

    async def _first_state(self, socket_: Any) -> dict[str, Any] | None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            frame = json.loads(await asyncio.wait_for(socket_.recv(), timeout=5))
            if frame.get("type") == "window_state":
                return dict(frame)
            if frame.get("type") == "error":
                return None
        return None

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.socket:
                frame = json.loads(raw)
                if frame.get("type") == "result":
                    future = self.waiting.pop(str(frame.get("request_id")), None)
                    if future is not None and not future.done():
                        future.set_result(frame)

    async def send(self, action: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        request_id = uuid.uuid4().hex[:16]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.socket.send(json.dumps({"action": action, "request_id": request_id, **fields}))
        return future

    async def act(self, action: str, **fields: Any) -> dict[str, Any]:
        """One tap: the answer frame (``ok`` true or false); refusals are counted by code."""
        try:
            answer = await asyncio.wait_for(await self.send(action, **fields), timeout=15)
        except (TimeoutError, websockets.ConnectionClosed) as exc:
            self.hall.errors.append(f"pad {self.window} {action}: {exc!r}")
            return {"ok": False, "error": {"code": "no_answer"}}
        if not answer.get("ok"):
            self.hall.refused(f"pad {self.window}", action, answer, fields)
        return answer

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        if self.reader is not None:
            await self.reader


async def clerk(hall: Hall, window: Window, pad: Pad, plan: dict[str, Any], no_show_s: float) -> None:  # noqa: C901 — a simulated clerk: one branch per thing a clerk does, kept together to read as a script
    """One window's day: open, call, wait for the visitor, serve, and the day's accidents."""
    rng = random.Random(hall.rng.random())
    day = hall.day
    await day.until(plan.get("open_at", 0.0))
    answer = await pad.act("open")
    window.open = bool(answer.get("ok"))
    lunch = plan.get("lunch")
    close_at = plan.get("close_at")
    taps = 0
    in_hand: str | None = None

    async def finish() -> None:
        nonlocal in_hand
        if in_hand:
            await pad.act("complete")
            in_hand = None

    while not hall.stop.is_set():
        fraction = day.fraction()
        if close_at is not None and fraction >= close_at:
            await finish()
            answer = await pad.act("close")
            window.open = False
            return
        if lunch and fraction >= lunch[0]:  # late for lunch when busy: it still happens
            await finish()
            if (await pad.act("pause")).get("ok"):
                window.paused = True
            await day.until(lunch[1])
            if (await pad.act("unpause")).get("ok"):
                window.paused = False
            lunch = None
            continue
        # A visitor who fetched a document is back: resume them before calling anyone new.
        if not window.returns.empty():
            number = window.returns.get_nowait()
            answer = await pad.act("resume", ticket=number)
            if answer.get("ok"):
                in_hand = number
                visitor = hall.by_number.get(number)
                if visitor:
                    visitor.started = True
                await serve(hall, window, pad, rng, number, resumed=True)
                in_hand = await after_service(hall, window, pad, rng, number)
            continue
        taps += 1
        double = rng.random() < 0.1 or (window.wid == "1" and taps == 2)
        first = await pad.send("call_next")
        if double:  # the second tap of a double tap, 150–400 ms later
            await asyncio.sleep(rng.uniform(0.15, 0.4))
            second = await pad.send("call_next")
            answers = [await wait_answer(hall, pad, "call_next", f) for f in (first, second)]
        else:
            answers = [await wait_answer(hall, pad, "call_next", first)]
        called = [a["ticket"]["number"] for a in answers if a.get("ok") and a.get("ticket")]
        accepted = [a for a in answers if a.get("ok")]
        if accepted:
            in_hand = None  # call_next finished the ticket in hand
        window.calls += len(called)
        # The pad shows what the last accepted tap answered (a second tap may have closed the first call).
        shown = (accepted[-1].get("ticket") or {}).get("number") if accepted else None
        if not shown:
            retry = next((a for a in answers if (a.get("error") or {}).get("code") == "just_called"), None)
            await asyncio.sleep(1.0 if retry else rng.uniform(0.4, 0.9))
            continue
        number = str(shown)
        in_hand = number
        arrived = await wait_for_visitor(hall, window, pad, rng, number, no_show_s)
        if not arrived:
            in_hand = None
            continue
        await serve(hall, window, pad, rng, number, resumed=False)
        in_hand = await after_service(hall, window, pad, rng, number)


async def wait_answer(hall: Hall, pad: Pad, action: str, future: asyncio.Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        answer = await asyncio.wait_for(future, timeout=15)
    except TimeoutError:
        hall.errors.append(f"pad {pad.window} {action}: no answer")
        return {"ok": False, "error": {"code": "no_answer"}}
    if not answer.get("ok"):
        hall.refused(f"pad {pad.window}", action, answer, {})
    return answer


async def wait_for_visitor(
    hall: Hall, window: Window, pad: Pad, rng: random.Random, number: str, no_show_s: float
) -> bool:
    """Until the called visitor stands at the window (start), or the no-show delay has passed."""
    called_at = time.monotonic()
    recalled = False
    while True:
        left = called_at + no_show_s + 0.3 - time.monotonic()
        if not recalled and time.monotonic() - called_at > 6 and rng.random() < 0.5:
            recalled = True
            await pad.act("recall")
            continue
        try:
            arrived = await asyncio.wait_for(window.arrivals.get(), timeout=max(0.05, min(left, 3.0)))
        except TimeoutError:
            if time.monotonic() - called_at < no_show_s + 0.3:
                continue
            answer = await pad.act("no_show")
            if answer.get("ok"):
                return False
            code = (answer.get("error") or {}).get("code")
            if code == "too_early":
                await asyncio.sleep(1.0)
                continue
            return False  # nothing called any more (e.g. taken elsewhere): move on
        if arrived != number:
            visitor = hall.by_number.get(arrived)
            if visitor:
                visitor.turned_away += 1  # "your number is not the one I called"
            continue
        answer = await pad.act("start")
        if answer.get("ok"):
            visitor = hall.by_number.get(number)
            if visitor:
                visitor.started = True
            return True
        return False


async def serve(hall: Hall, window: Window, pad: Pad, rng: random.Random, number: str, resumed: bool) -> None:
    minutes = rng.uniform(3, 8) if number.startswith("D") else rng.uniform(5, 14)
    await asyncio.sleep(max(0.6, hall.day.hall_minutes(minutes)))


async def after_service(hall: Hall, window: Window, pad: Pad, rng: random.Random, number: str) -> str | None:
    """Suspend, transfer, complete — or leave it to the next 叫号 (which finishes it). Returns what stays in hand."""
    visitor = hall.by_number.get(number)
    if visitor and visitor.kind == "document" and visitor.suspended_at is None:
        answer = await pad.act("suspend")
        if answer.get("ok"):
            visitor.suspended_at = window.wid
            return None
    window.served += 1
    # Window 2's first visitor of the day is sent on (so even a short day has a transfer).
    if rng.random() < 0.08 or (window.wid == "2" and window.served == 1):
        await transfer(hall, window, pad, rng)
        return None
    if rng.random() < 0.5:
        await pad.act("complete")
        return None
    return number


async def transfer(hall: Hall, window: Window, pad: Pad, rng: random.Random) -> None:
    """To another window or service; the first of the day, and some others, go to a closed window or back here."""
    hall.transfers_made += 1
    others = [w for w in WINDOWS if w != window.wid]
    closed = [w for w in others if not hall.windows[w].open or hall.windows[w].paused]
    roll = rng.random()
    if closed and (hall.transfers_made == 1 or roll < 0.45):
        target = rng.choice(closed)  # a window with nobody there (not open yet, at lunch, gone home)
    elif roll < 0.55:
        target = window.wid  # a slip: its own window
    elif roll < 0.75:
        answer = await pad.act("transfer", service=rng.choice(["register", "transfer", "pension"]))
        if answer.get("ok"):
            return
        target = rng.choice(others)
    else:
        target = rng.choice(others)
    for _ in range(4):
        answer = await pad.act("transfer", to_window=target)
        if answer.get("ok"):
            return
        # Refused (closed, paused, this window): the clerk picks an open one.
        choices = [w for w in hall.open_windows() if w != window.wid]
        if not choices:
            break
        target = rng.choice(choices)
    await pad.act("complete")
