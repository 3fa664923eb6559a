"""The trackers: visitors' phones and windows' pads kept current after each hall event.

Each tracker listens to its hall's :class:`~server.events.HallHub`, re-reads what its
sockets show in one script call (debounced) and sends a socket a message only when it
changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from server import tasks
from server.events import HallHub, Subscriber, encode

# the hub's logger, as before the trackers had a module of their own
log = logging.getLogger("hallq.events")


class Debounced:
    """Runs an async job soon after it is poked, never twice at once, again if poked meanwhile."""

    def __init__(self, job: Callable[[], Awaitable[None]], delay: float = 0.02) -> None:
        self.job = job
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def poke(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self._again = False
            await asyncio.sleep(self.delay)
            try:
                await self.job()
            except (RedisError, OSError) as exc:
                log.warning("refresh skipped, redis unreachable: %s", exc)
            except Exception:
                log.exception("refresh failed")
            if not self._again:
                return

    async def stop(self) -> None:
        await tasks.stop(self._task)


class VisitorTracker:
    """Keeps every connected visitor's phone current: status, people ahead, ETA.

    After hall events it re-reads all connected tickets in one script call and
    sends each phone its message only when it changed.
    """

    def __init__(self, hub: HallHub) -> None:
        self.hub = hub
        self.by_token: dict[str, set[Subscriber]] = {}
        self.last_sent: dict[str, str] = {}
        self.refresh = Debounced(self._refresh)
        hub.listeners.append(self._on_event)
        hub.on_reset.append(self._on_reset)

    def _on_reset(self) -> None:
        self.last_sent.clear()
        if self.by_token:
            self.refresh.poke()

    def add(self, token: str, subscriber: Subscriber) -> None:
        self.by_token.setdefault(token, set()).add(subscriber)

    def remove(self, token: str, subscriber: Subscriber) -> None:
        subscribers = self.by_token.get(token)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.by_token[token]
                self.last_sent.pop(token, None)
        subscriber.outlet.close()

    def send_to(self, token: str, message: dict[str, Any]) -> None:
        frame, text = encode(message)
        self.last_sent[token] = text
        for subscriber in list(self.by_token.get(token, ())):
            if not subscriber.outlet.offer(frame, text):
                self.remove(token, subscriber)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in ("status", "ping"):
            frame, text = encode(event)
            for subscribers in self.by_token.values():
                for subscriber in subscribers:
                    subscriber.outlet.offer(frame, text)
            return
        if self.by_token:
            self.refresh.poke()

    async def _refresh(self) -> None:
        tokens = list(self.by_token)
        if not tokens:
            return
        for item in await self.hub.engine.tickets(tokens):
            token = item["ticket"]["token"]
            message = {"type": "ticket", **item}
            message.pop("seq", None)
            _frame, text = encode(message)
            if self.last_sent.get(token) != text:
                self.send_to(token, message)


class PadTracker:
    """Sends each window's pads a fresh ``window_state`` after the hall changes."""

    def __init__(self, hub: HallHub) -> None:
        self.hub = hub
        self.by_window: dict[str, set[Subscriber]] = {}
        self.last_sent: dict[str, str] = {}
        self.refresh = Debounced(self._refresh)
        hub.listeners.append(self._on_event)
        hub.on_reset.append(self._on_reset)

    def _on_reset(self) -> None:
        self.last_sent.clear()
        if self.by_window:
            self.refresh.poke()

    def add(self, subscriber: Subscriber) -> None:
        assert subscriber.window is not None
        self.by_window.setdefault(subscriber.window, set()).add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        if subscriber.window in self.by_window:
            self.by_window[subscriber.window].discard(subscriber)
            if not self.by_window[subscriber.window]:
                del self.by_window[subscriber.window]
                self.last_sent.pop(subscriber.window, None)

    def _on_event(self, event: dict[str, Any]) -> None:
        if self.by_window and "seq" in event:
            self.refresh.poke()

    async def state_message(self, window: str) -> dict[str, Any]:
        return {"type": "window_state", **await self.hub.engine.window_state(window)}

    async def _refresh(self) -> None:
        for window in list(self.by_window):
            message = await self.state_message(window)
            comparable = json.dumps({k: v for k, v in message.items() if k != "seq"}, sort_keys=True)
            if self.last_sent.get(window) == comparable:
                continue
            self.last_sent[window] = comparable
            for subscriber in list(self.by_window.get(window, ())):
                subscriber.send(message)
