"""The pad's connection to the server: JSON over HTTP (hall, login, logout) and :class:`Pad`, one
window's pad socket ``/ws/halls/{hall}/windows/{window}`` (the token in its first message, never in
the URL) kept open by python-websockets' reconnecting ``connect()``.

Exactly once. Every action carries a ``request_id``. When the connection drops before the answer
arrives (or the answer is late), the pad reconnects and sends the same message again; the server
performs an action once per request_id and answers a repeat with the first answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from caller.padlogic import LABELS, STATUS_LABELS, error_message
from server.edge import final_close_codes

#: Socket close codes meaning "not logged in / not allowed / no such window": retrying will not
#: help. The server's own table (server/edge.py), which the pad page reads too.
AUTH_CLOSE_CODES = final_close_codes()

# Handshake answers that mean "this session may not have this pad": retrying cannot help.
REFUSED_STATUSES = (401, 403, 404)
DROP_PAUSE_S = 0.5


def pad_reconnect_delays() -> Generator[float]:
    """Back-off between failed connection attempts: 0.5, 1, 2, 4, then 5 s."""
    delay = 0.5
    while True:
        yield delay
        delay = min(delay * 2, 5.0)


def retry_unless_refused(exc: Exception) -> Exception | None:
    """websockets' ``process_exception``: retry network failures and any other handshake
    answer (a restarting server or proxy), give up on a refused session."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code in REFUSED_STATUSES:
        return exc
    if isinstance(exc, (OSError, InvalidHandshake, TimeoutError)):
        return None
    return exc


ANSWER_TIMEOUT_S = 8.0


class PadError(Exception):
    """A problem that ends the pad (bad login, unknown window): printed, exit status 1."""


def http_json(method: str, url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    """One JSON request with the standard library; answers (status, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None


@dataclass
class Pad:
    """One window's pad: the socket, the unanswered action, the window as last seen."""

    server: str
    hall_id: str
    window: str
    token: str
    out: TextIO
    hall: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    pending: dict[str, Any] | None = None
    sent_at: float = 0.0
    answer: asyncio.Future[dict[str, Any]] | None = None
    ws: ClientConnection | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    first_state: asyncio.Event = field(default_factory=asyncio.Event)
    fatal: str | None = None
    stopping: bool = False
    last_line: str = ""

    @property
    def ws_url(self) -> str:
        base = urllib.parse.urlsplit(self.server)
        scheme = "wss" if base.scheme == "https" else "ws"
        path = f"/ws/halls/{urllib.parse.quote(self.hall_id)}/windows/{urllib.parse.quote(self.window)}"
        # no token here: it goes in the first message, as URLs end up in proxy logs
        return f"{scheme}://{base.netloc}{path}"

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    # -- connection --

    async def run_connection(self) -> None:
        """Keep the pad socket open until stopped; after each (re)connect resend what is pending.

        websockets' reconnecting ``connect()`` retries network failures and 5xx answers with
        back-off (0.5 s doubling to 5 s: a clerk should not wait long once the server is back);
        a refusal of the session (401/403/404 or an auth close code) ends it for good.
        """
        connector = connect(
            self.ws_url,
            open_timeout=5,
            close_timeout=1,
            reconnect_delays=pad_reconnect_delays,
            process_exception=retry_unless_refused,
        )
        try:
            async for ws in connector:
                try:
                    await self.serve(ws)
                except ConnectionClosed:
                    pass  # a drop: reconnect below
                finally:
                    self.ws = None
                    self.connected.clear()
                if ws.close_code in AUTH_CLOSE_CODES:
                    self.fatal = f"the server closed the pad ({ws.close_reason or ws.close_code}); log in again"
                if self.fatal or self.stopping:
                    break
                self.say("! 连接中断，正在重连… connection lost, reconnecting…")
                # websockets reconnects at once after a connection that worked; a server that
                # accepts and drops again at once must not be hammered.
                await asyncio.sleep(DROP_PAUSE_S)
        except InvalidStatus as exc:  # what retry_unless_refused did not retry
            self.fatal = f"the server refused the pad socket ({exc.response.status_code})"
        if self.fatal:
            self.say(f"! {self.fatal}")
            if self.answer is not None and not self.answer.done():
                self.answer.set_exception(PadError(self.fatal))

    async def serve(self, ws: ClientConnection) -> None:
        """Authenticate, resend the unanswered action (same request_id), read until the socket closes."""
        await ws.send(json.dumps({"type": "auth", "token": self.token}))
        self.ws = ws
        self.connected.set()
        if self.pending is not None:  # unanswered before the drop: same request_id
            self.sent_at = asyncio.get_running_loop().time()
            await ws.send(json.dumps(self.pending))
        watchdog = asyncio.create_task(self._watchdog(ws))
        try:
            async for frame in ws:
                self.on_frame(json.loads(frame))
        finally:
            watchdog.cancel()

    async def _watchdog(self, ws: ClientConnection) -> None:
        """Close a connection that leaves an action unanswered: the reconnect resends it."""
        while True:
            await asyncio.sleep(1)
            if self.pending and asyncio.get_running_loop().time() - self.sent_at > ANSWER_TIMEOUT_S:
                await ws.close(4000, "no answer")
                return

    def on_frame(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "window_state":
            self.state = msg
            self.first_state.set()
            self.show_state()
        elif kind == "result":
            if self.pending and msg.get("request_id") == self.pending["request_id"]:
                self.pending = None
                if self.answer is not None and not self.answer.done():
                    self.answer.set_result(msg)
        elif kind == "status":
            if msg.get("redis") == "down":
                self.say("! 服务器存储暂不可用 server storage unavailable")
        elif kind == "error":
            err = msg.get("error") or {}
            self.fatal = str(err.get("message") or err.get("code"))

    def show_state(self) -> None:
        """Print the window's line when it changed: status, ticket, waiting, served today."""
        if not self.state:
            return
        w = self.state.get("window") or {}
        ticket = w.get("ticket")
        waiting = self.state.get("waiting") or {}
        current = "—"
        if ticket:
            names = "、".join(self.service_name(s) for s in ticket.get("services", []))
            current = f"{ticket['number']} {names} ({ticket.get('status')})"
        counts = ", ".join(f"{self.service_name(s)} {n}" for s, n in waiting.items())
        line = (
            f"[{self.window}] {STATUS_LABELS.get(w.get('status', ''), w.get('status'))} | "
            f"当前 now: {current} | 等候 waiting {self.state.get('queue_total', sum(waiting.values()))} ({counts}) | "
            f"今日已办 served {self.state.get('served_today', 0)}"
        )
        if line != self.last_line:
            self.last_line = line
            self.say(line)

    def service_name(self, service_id: str) -> str:
        for s in self.hall.get("services", []):
            if s["id"] == service_id:
                return str(s["name"].get("zh") or service_id)
        return service_id

    # -- actions --

    async def act(self, action: str, **extra: str) -> dict[str, Any] | None:
        """Send one action and wait for its answer, resending over reconnects; None if busy."""
        if self.pending is not None:
            self.say("… 处理中，忽略 busy, ignored")
            return None
        loop = asyncio.get_running_loop()
        self.pending = {"action": action, "request_id": str(uuid.uuid4()), **extra}
        self.answer = loop.create_future()
        self.sent_at = loop.time()
        if self.ws is not None:
            # If this send is lost with the connection, run_connection resends after reconnecting.
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(json.dumps(self.pending))
        result = await self.answer
        self.report(action, result)
        return result

    def report(self, action: str, result: dict[str, Any]) -> None:
        label = LABELS.get(action, action)
        if result.get("ok"):
            ticket = result.get("ticket") or {}
            number = ticket.get("number") if isinstance(ticket, dict) else None
            if action == "call_next" and not number:
                self.say(f"✓ {label}: 没有等候的号 nobody is waiting")
            else:
                self.say(f"✓ {label}{': ' + number if number else ''}")
        else:
            self.say(f"✗ {label}: {error_message(result)}")
