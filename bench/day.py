"""A simulated day of the demo hall, driven through the real system, with the lobby listening.

What runs (all real): ``hallq serve`` on a free port with its embedded redis-server (or
``--url`` of a running one), the HTTP API for kiosks and the desk, one WebSocket per
visitor's phone (``/ws/tickets/{token}``), one pad socket per clerk
(``/ws/halls/demo/windows/{w}``, first-message auth, ``?token=`` for older servers), a
display socket recording every event, and the lobby page ``/display/demo`` in Debian's
headless Chromium (autoplay allowed, audio not muted) whose announcer logs every
``play()`` (``window.hallqPlaybackLog``).

The hall (the seed article's social-security centre, the bundled demo hall): windows 1–4
comprehensive, window 5 photo first with the rest as fallback; ~30 visitors a window a
day, a desk that issues tickets, looks them up and cancels them; a morning and an
afternoon peak. Clerks double-tap 叫号, mark no-shows after the allowed delay, recall,
transfer (sometimes to a closed window, or their own), suspend and resume a visitor who
fetches a document, pause for lunch; window 5 opens late and window 4 closes early.
Visitors walk to the window their phone names, ignore a call now and then (or never
come), give up and cancel, try a second ticket, and rate twice.

Time: the engine runs on the real clock, so the day is compressed into ``--minutes``:
arrivals, handling, lunch, patience and document trips are scaled by
``minutes / (8 h)``; what the engine enforces in seconds stays real (the no-show delay,
the minimum interval between calls) and so do walking and tapping.

Refusals are part of the day: a second tap within the call interval (409 ``just_called``),
a transfer to a closed window (409 ``window_not_open`` — the clerk picks an open one), a
no-show marked too early, a second rating. Every refusal is counted by code.

The report (``bench/day_report.py``) is printed and written to ``bench/out/day-*.json``.

Usage: python bench/day.py [--minutes 8] [--visitors 150] [--seed 1] [--url URL] [--label NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving
from day_report import headline, report

HALL = "demo"
WINDOWS = ("1", "2", "3", "4", "5")
CHROMIUM = "/usr/bin/chromium"
HALL_DAY_S = 8 * 3600  # 08:30–16:30 of a hall day
OUT = Path(__file__).resolve().parent / "out"

#: What visitors come for (the seed: registration, transfers, pensions, photos; some take one
#: ticket for two services, like the HR manager of the article).
SERVICE_MIX = [
    (["register"], 0.33),
    (["transfer"], 0.22),
    (["pension"], 0.17),
    (["photo"], 0.22),
    (["register", "transfer"], 0.06),
]
#: Visitor behaviours, as shares of the day's visitors (each at least one when there are ≥ 10).
KINDS = [
    ("leaver", 0.05),  # gives up and cancels (phone, or at the desk) while waiting
    ("noshow_once", 0.06),  # misses the first call (outside, on the phone), comes to the next
    ("never_comes", 0.03),  # never comes: requeued, then closed as no-show
    ("document", 0.04),  # the clerk suspends them; they fetch a document and come back
    ("duplicate", 0.03),  # tries a second ticket with the same ID number: refused
]

# The lobby, instrumented by the simulator (not by the page): every call event the page handled,
# and whether its "now calling" box showed that call right after.
LOBBY_HOOK = """(() => {
  window.__simCalls = [];
  let Real;
  const record = (evt, how) => {
    const box = document.getElementById('now');
    const number = evt.ticket && evt.ticket.number;
    const inRecent = [...document.querySelectorAll('#recent li')].some(
      li => li.dataset.number === number && li.dataset.window === String(evt.window));
    window.__simCalls.push({seq: evt.seq, type: evt.type, number: number, window: String(evt.window),
      at: evt.at, received: Date.now(), how: how,
      shown: !!box && ((box.getAttribute('data-number') === number
                         && box.getAttribute('data-window') === String(evt.window)) || inRecent)});
  };
  const isCall = e => e && (e.type === 'ticket.called' || e.type === 'ticket.recalled');
  Object.defineProperty(window, 'HallSocket', {configurable: true, get() { return Real; }, set(Socket) {
    Real = function (options) {
      const wrapped = Object.assign({}, options);
      let last = 0;
      if (options.onEvent) wrapped.onEvent = function (evt) {
        const result = options.onEvent.apply(this, arguments);
        if (isCall(evt) && evt.seq > last) { record(evt, 'event'); }
        if (evt && evt.seq > last) last = evt.seq;
        return result;
      };
      if (options.onSnapshot) wrapped.onSnapshot = function (snap) {
        const result = options.onSnapshot.apply(this, arguments);
        const recent = ((snap && (snap.recent || (snap.state && snap.state.recent))) || []).slice().reverse();
        if (last) recent.filter(e => isCall(e) && e.seq > last).forEach(e => record(e, 'snapshot'));
        if (snap && snap.seq) last = Math.max(last, snap.seq);
        return result;
      };
      return new Socket(wrapped);
    };
    Real.prototype = Socket.prototype;
    Object.keys(Socket).forEach(k => { Real[k] = Socket[k]; });
  }});
})();"""


# --- the model's parameters -------------------------------------------------------------


@dataclass
class Day:
    """The compressed clock: day fraction ↔ real seconds since the start."""

    minutes: float
    start: float = field(default_factory=time.monotonic)

    @property
    def length_s(self) -> float:
        return self.minutes * 60

    @property
    def scale(self) -> float:
        """Real seconds per hall second."""
        return self.length_s / HALL_DAY_S

    def hall_minutes(self, minutes: float) -> float:
        """Real seconds for ``minutes`` of hall time."""
        return minutes * 60 * self.scale

    def fraction(self) -> float:
        return (time.monotonic() - self.start) / self.length_s

    async def until(self, fraction: float) -> None:
        delay = self.start + fraction * self.length_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def arrival_fraction(rng: random.Random) -> float:
    """When in the day a visitor comes: a morning peak, an afternoon peak, a trickle between."""
    roll = rng.random()
    if roll < 0.45:
        value = rng.gauss(0.16, 0.07)
    elif roll < 0.8:
        value = rng.gauss(0.64, 0.07)
    else:
        value = rng.uniform(0.0, 0.88)
    return min(0.88, max(0.0, value))


def pick_services(rng: random.Random) -> list[str]:
    roll = rng.random() * sum(w for _, w in SERVICE_MIX)
    for services, weight in SERVICE_MIX:
        roll -= weight
        if roll <= 0:
            return list(services)
    return list(SERVICE_MIX[0][0])


def assign_kinds(count: int, rng: random.Random) -> list[str]:
    kinds = []
    for kind, share in KINDS:
        if kind == "never_comes" and count < 20:
            continue  # three calls 15 s apart each: a short day cannot wait for them
        kinds += [kind] * max(1 if count >= 10 else 0, round(share * count))
    kinds += ["normal"] * max(0, count - len(kinds))
    rng.shuffle(kinds)
    return kinds[:count]


def id_number(rng: random.Random) -> str:
    return "4401" + "".join(rng.choice("0123456789") for _ in range(13)) + rng.choice("0123456789X")


# --- the hall as the simulator sees it --------------------------------------------------


@dataclass
class Visitor:
    vid: int
    arrive: float
    services: list[str]
    priority: bool
    via: str
    kind: str
    id_number: str | None
    rates: int
    address: str
    token: str | None = None
    number: str | None = None
    phone: list[dict[str, Any]] = field(default_factory=list)
    started: bool = False
    arrivals: int = 0
    turned_away: int = 0
    ignored: int = 0
    suspended_at: str | None = None
    final_status: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def public(self) -> dict[str, Any]:
        return {
            "vid": self.vid,
            "kind": self.kind,
            "via": self.via,
            "services": self.services,
            "priority": self.priority,
            "token": self.token,
            "number": self.number,
            "started": self.started,
            "arrivals": self.arrivals,
            "turned_away": self.turned_away,
            "final_status": self.final_status,
            "phone": [
                {
                    "ticket": {
                        "status": (f.get("ticket") or {}).get("status"),
                        "window": (f.get("ticket") or {}).get("window"),
                    },
                    "ahead": f.get("ahead"),
                    "t": f.get("t"),
                }
                for f in self.phone
            ],
        }


@dataclass
class Window:
    wid: str
    clerk: str
    arrivals: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    returns: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    open: bool = False
    paused: bool = False
    calls: int = 0
    served: int = 0


class Hall:
    """Shared by the simulated people: who is where, what was refused."""

    def __init__(self, base: str, day: Day, rng: random.Random) -> None:
        self.base = base
        self.ws_base = "ws" + base[4:]
        self.day = day
        self.rng = rng
        self.windows = {w: Window(w, f"s0{w}") for w in WINDOWS}
        self.by_number: dict[str, Visitor] = {}
        self.refusals: Counter[str] = Counter()
        self.errors: list[str] = []
        self.refusal_log: list[dict[str, Any]] = []
        self.transfers_made = 0
        self.stop = asyncio.Event()
        self.clients: dict[str, httpx.AsyncClient] = {}

    def client(self, address: str) -> httpx.AsyncClient:
        """One HTTP client per device: each device has its own loopback address (rate limits are per address)."""
        if address not in self.clients:
            transport = httpx.AsyncHTTPTransport(local_address=address, retries=0)
            self.clients[address] = httpx.AsyncClient(base_url=self.base, transport=transport, timeout=15)
        return self.clients[address]

    async def request(
        self, address: str, method: str, path: str, what: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            answer = await self.client(address).request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            self.errors.append(f"{what}: {exc!r}")
            return 0, None
        try:
            data = answer.json()
        except ValueError:
            data = answer.text
        if answer.status_code >= 400:
            code = data.get("error", {}).get("code") if isinstance(data, dict) else None
            self.refusals[f"{what}:{answer.status_code} {code}"] += 1
        return answer.status_code, data

    def refused(self, who: str, action: str, answer: dict[str, Any], fields: dict[str, Any]) -> None:
        error = answer.get("error") or {}
        self.refusals[f"{action}:{error.get('code')}"] += 1
        self.refusal_log.append(
            {
                "t": round(time.monotonic() - self.day.start, 2),
                "who": who,
                "action": action,
                "fields": fields,
                "code": error.get("code"),
                "message": error.get("message"),
            }
        )

    def open_windows(self) -> list[str]:
        return [w.wid for w in self.windows.values() if w.open and not w.paused]


# --- clerks ------------------------------------------------------------------------------


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


# --- visitors ----------------------------------------------------------------------------


async def visitor_day(hall: Hall, visitor: Visitor, desk_token: str, kiosks: list[str]) -> None:
    """Arrive, take a ticket, follow it on the phone, walk to the window called, rate."""
    rng = random.Random(visitor.vid * 7919 + 1)
    await hall.day.until(visitor.arrive)
    body: dict[str, Any] = {
        "services": visitor.services,
        "priority": visitor.priority,
        "lang": "zh",
        "request_id": uuid.uuid4().hex[:16],
    }
    if visitor.id_number:
        body["id_number"] = visitor.id_number
    status, answer = 0, None
    for attempt in range(6):
        if visitor.via == "desk":
            status, answer = await hall.request(
                "127.0.0.1", "POST", f"/api/halls/{HALL}/tickets", "issue_desk", body, token=desk_token
            )
        else:
            kiosk = kiosks[(visitor.vid + attempt) % len(kiosks)]
            status, answer = await hall.request(kiosk, "POST", f"/api/halls/{HALL}/tickets", "issue_kiosk", body)
        if status != 429:
            break
        await asyncio.sleep(2)
    if status != 201 or not isinstance(answer, dict):
        visitor.done.set()
        return
    visitor.token = answer["ticket"]["token"]
    visitor.number = answer["ticket"]["number"]
    hall.by_number[visitor.number] = visitor
    if visitor.kind == "duplicate":  # a second ticket for the same service: refused
        kiosk = kiosks[visitor.vid % len(kiosks)]
        await hall.request(
            kiosk, "POST", f"/api/halls/{HALL}/tickets", "issue_kiosk", {**body, "request_id": uuid.uuid4().hex[:16]}
        )
    follower = asyncio.create_task(follow_phone(hall, visitor, rng))
    patience = asyncio.create_task(give_up(hall, visitor, rng, desk_token)) if visitor.kind == "leaver" else None
    await visitor.done.wait()
    follower.cancel()
    if patience:
        patience.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    if visitor.final_status == "done" and visitor.rates:
        for _ in range(visitor.rates):  # the second rating is refused (一次一评)
            await hall.request(
                visitor.address,
                "POST",
                f"/api/tickets/{visitor.token}/rating",
                "rate",
                {"score": rng.choice([5, 5, 5, 4, 4, 3, 1])},
            )


async def give_up(hall: Hall, visitor: Visitor, rng: random.Random, desk_token: str) -> None:
    await asyncio.sleep(hall.day.hall_minutes(rng.uniform(5, 25)))
    if visitor.final_status is None and not visitor.started:
        if rng.random() < 0.5:
            await hall.request(visitor.address, "DELETE", f"/api/tickets/{visitor.token}", "cancel_phone")
        else:
            await hall.request("127.0.0.1", "DELETE", f"/api/tickets/{visitor.token}", "cancel_desk", token=desk_token)


async def follow_phone(hall: Hall, visitor: Visitor, rng: random.Random) -> None:  # noqa: C901 — a simulated phone: one branch per frame it can get
    """The visitor's phone page: one socket, reconnecting; every frame is recorded."""
    url = f"{hall.ws_base}/ws/tickets/{visitor.token}"
    last_call: tuple[str, Any] | None = None
    walking: asyncio.Task[None] | None = None
    last_window = "1"
    fetching = False
    trips: set[asyncio.Task[None]] = set()
    while not visitor.done.is_set():
        try:
            async with websockets.connect(url, local_addr=(visitor.address, 0), max_size=2**22) as phone:
                async for raw in phone:
                    frame = json.loads(raw)
                    if frame.get("type") != "ticket":
                        continue
                    frame["t"] = time.time()
                    visitor.phone.append(frame)
                    ticket = frame.get("ticket") or {}
                    status = ticket.get("status")
                    if ticket.get("window"):
                        last_window = str(ticket["window"])
                    if status != "suspended":
                        fetching = False
                    if status == "called":
                        call = (str(ticket.get("window")), ticket.get("called_at"))
                        if call != last_call:
                            last_call = call
                            if visitor.kind in ("noshow_once", "never_comes") and (
                                visitor.kind == "never_comes" or visitor.ignored == 0
                            ):
                                visitor.ignored += 1
                                continue
                            if walking is None or walking.done():
                                walking = asyncio.create_task(walk(hall, visitor, rng))
                    elif status == "suspended" and not fetching:
                        fetching = True  # leaves for the document at once (the clerk's answer may come later)
                        trips.add(asyncio.create_task(fetch_document(hall, visitor, rng, last_window)))
                    elif status in ("done", "no_show", "cancelled", "expired"):
                        visitor.final_status = status
                        visitor.done.set()
                        return
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(0.5)


async def walk(hall: Hall, visitor: Visitor, rng: random.Random) -> None:
    """To the window the phone names now (it may have changed on the way)."""
    await asyncio.sleep(rng.uniform(0.5, 2.5))
    ticket = (visitor.phone[-1].get("ticket") or {}) if visitor.phone else {}
    if ticket.get("status") == "called" and ticket.get("window"):
        visitor.arrivals += 1
        hall.windows[str(ticket["window"])].arrivals.put_nowait(str(visitor.number))
    elif ticket.get("status") == "done":
        visitor.arrivals += 1
        visitor.turned_away += 1


async def fetch_document(hall: Hall, visitor: Visitor, rng: random.Random, window: str) -> None:
    await asyncio.sleep(max(2.0, hall.day.hall_minutes(rng.uniform(8, 20))))
    target = visitor.suspended_at or window
    if target not in hall.open_windows():
        target = (hall.open_windows() or ["1"])[0]
    hall.windows[target].returns.put_nowait(str(visitor.number))


# --- the lobby and the event recorder -----------------------------------------------------


async def record_events(hall: Hall, events: list[dict[str, Any]], ready: asyncio.Event) -> None:
    """Every event of the hall, from a display socket (reconnecting with since=)."""
    seq = 0
    while True:
        url = f"{hall.ws_base}/ws/halls/{HALL}/display" + (f"?since={seq}" if seq else "")
        try:
            async with websockets.connect(url, max_size=2**24) as display:
                async for raw in display:
                    frame = json.loads(raw)
                    if frame.get("type") == "snapshot":
                        if seq and frame["seq"] > seq:
                            hall.errors.append(f"event recorder: events {seq + 1}..{frame['seq']} not replayed")
                        seq = max(seq, int(frame["seq"]))
                        ready.set()
                    elif isinstance(frame.get("seq"), int) and frame["seq"] > seq:
                        seq = frame["seq"]
                        events.append(frame)
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(0.5)


async def open_lobby(playwright: Any, base: str) -> tuple[Any, Any, list[str]]:
    browser = await playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
        ignore_default_args=["--mute-audio"],
    )
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    await page.add_init_script(LOBBY_HOOK)
    await page.goto(f"{base}/display/{HALL}")
    await page.wait_for_selector("html[data-seq]", state="attached", timeout=20_000)
    return browser, page, page_errors


async def lobby_quiet(page: Any, limit_s: float) -> None:
    """Until the announcer has nothing playing or queued (or ``limit_s`` passed)."""
    deadline = time.monotonic() + limit_s
    idle_since = None
    clips = -1
    while time.monotonic() < deadline:
        busy, count = await page.evaluate(
            "(() => { const a = window.hallqAnnouncer; const n = (window.hallqPlaybackLog || []).length;"
            " if (!a) return [false, n]; const q = a.queue;"
            " const waiting = Array.isArray(q) ? q.length : (q && q.calls ? q.calls().length : 0);"
            " return [!!a.current || waiting > 0, n]; })()"
        )
        if busy or count != clips:
            idle_since, clips = None, count
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > 3:
            return
        await asyncio.sleep(0.5)


# --- the day -----------------------------------------------------------------------------


def plan_day(rng: random.Random, visitors: int, minutes: float) -> tuple[list[Visitor], dict[str, dict[str, Any]]]:
    kinds = assign_kinds(visitors, rng)
    desk_share = min(0.4, 50 / max(visitors, 1) * 0.8)  # ~40 of the ~100 consultations end in a ticket
    people = []
    for vid in range(visitors):
        people.append(
            Visitor(
                vid=vid,
                arrive=arrival_fraction(rng),
                services=pick_services(rng),
                priority=rng.random() < 0.1,
                via="desk" if rng.random() < desk_share else "kiosk",
                kind=kinds[vid],
                id_number=id_number(rng) if (rng.random() < 0.6 or kinds[vid] == "duplicate") else None,
                rates=(2 if rng.random() < 0.3 else 1) if rng.random() < 0.45 else 0,
                address=f"127.0.{2 + vid // 250}.{1 + vid % 250}",
            )
        )
    # The desk's first ticket and a duplicate come early, so even a short day has them.
    people.sort(key=lambda v: v.arrive)
    plans: dict[str, dict[str, Any]] = {
        "1": {"lunch": (0.40, 0.48)},
        "2": {"lunch": (0.40, 0.48)},
        "3": {"lunch": (0.48, 0.56)},
        "4": {"close_at": 0.72},  # called away for the afternoon: closes early
        "5": {"open_at": 0.12, "lunch": (0.48, 0.56)},  # the photo window opens late
    }
    return people, plans


async def desk_consultations(hall: Hall, desk_token: str, count: int, rng: random.Random) -> None:
    """The consultation desk's other work: looking visitors' tickets up by number."""
    for _ in range(count):
        await hall.day.until(arrival_fraction(rng))
        if hall.by_number:
            number = rng.choice(sorted(hall.by_number))
            await hall.request(
                "127.0.0.1", "GET", f"/api/halls/{HALL}/tickets?number={number}", "desk_lookup", token=desk_token
            )


async def login(hall: Hall, staff: str, pin: str = "1234") -> str:
    status, body = await hall.request(
        "127.0.0.1", "POST", "/api/auth/login", "login", {"hall": HALL, "staff": staff, "pin": pin}
    )
    if status != 200:
        raise RuntimeError(f"login {staff}: {status} {body}")
    return str(body["token"])


async def simulate(base: str, minutes: float, visitors: int, seed: int, drain_s: float) -> dict[str, Any]:  # noqa: C901 — a simulated day: one branch per thing that happens, kept together to read as a script
    from playwright.async_api import async_playwright

    rng = random.Random(seed)
    people, plans = plan_day(rng, visitors, minutes)
    phases: dict[str, float] = {}
    began = time.monotonic()
    async with async_playwright() as playwright:
        browser, lobby, lobby_errors = await open_lobby(playwright, base)
        hall = Hall(base, Day(minutes), rng)
        events: list[dict[str, Any]] = []
        recorder_ready = asyncio.Event()
        recorder = asyncio.create_task(record_events(hall, events, recorder_ready))
        await asyncio.wait_for(recorder_ready.wait(), 10)
        _, config = await hall.request("127.0.0.1", "GET", f"/api/halls/{HALL}", "config")
        desk_token = await login(hall, "desk")
        pads = {}
        for wid in WINDOWS:
            pads[wid] = Pad(hall, wid, await login(hall, f"s0{wid}"))
            await pads[wid].connect()
        hall.day = Day(minutes)  # the day starts now that everyone is in place
        phases["setup_s"] = round(time.monotonic() - began, 1)
        no_show_s = 15.0
        kiosks = ["127.0.1.1", "127.0.1.2"]
        people_tasks = [asyncio.create_task(visitor_day(hall, v, desk_token, kiosks)) for v in people]
        clerk_tasks = [asyncio.create_task(clerk(hall, hall.windows[w], pads[w], plans[w], no_show_s)) for w in WINDOWS]
        desk = asyncio.create_task(
            desk_consultations(hall, desk_token, max(1, visitors * 60 // 150), random.Random(seed + 1))
        )
        # The day, then 延时服务 until everybody is through or nothing moves any more.
        await hall.day.until(1.0)
        last_progress, last_done = time.monotonic(), -1
        while True:
            finished = sum(1 for v in people if v.done.is_set())
            if finished == len(people):
                break
            if finished != last_done:
                last_progress, last_done = time.monotonic(), finished
            if time.monotonic() - last_progress > drain_s:
                break
            await asyncio.sleep(0.5)
        day_real_s = time.monotonic() - hall.day.start
        hall.stop.set()
        for task in clerk_tasks:  # whatever a clerk is waiting for now, the day is over
            task.cancel()
        await asyncio.gather(*clerk_tasks, return_exceptions=True)
        desk.cancel()
        for visitor in people:
            visitor.done.set()
        await asyncio.gather(*people_tasks, return_exceptions=True)
        for visitor in people:  # the truth at the end of the day, as the desk sees it
            if visitor.token:
                status, body = await hall.request(
                    "127.0.0.1", "GET", f"/api/tickets/{visitor.token}", "final", token=desk_token
                )
                if status == 200:
                    visitor.final_status = body["ticket"]["status"]
        phases["day_and_drain_s"] = round(time.monotonic() - hall.day.start, 1)
        quiet_from = time.monotonic()
        quiet_wall_ms = time.time() * 1000
        await lobby_quiet(lobby, 120)
        phases["lobby_tail_s"] = round(time.monotonic() - quiet_from, 1)
        lobby_calls = await lobby.evaluate("window.__simCalls || []")
        played = await lobby.evaluate("window.hallqPlaybackLog || []")
        skipped = await lobby.evaluate("window.hallqSkippedCalls || []")
        ends = [c.get("ended_at") or c.get("started_at") or 0 for c in played]
        phases["speech_after_day_s"] = round((max(ends, default=quiet_wall_ms) - quiet_wall_ms) / 1000, 1)
        page_errors = list(lobby_errors)
        for pad in pads.values():
            await pad.close()
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        await browser.close()
        for client in hall.clients.values():
            await client.aclose()
    rules = (config or {}).get("rules") or {}
    no_show_rules = rules.get("no_show") or {}
    move_back = int(no_show_rules.get("places_back") or no_show_rules.get("move_back") or 3)
    meta = {
        "minutes": minutes,
        "visitors": visitors,
        "seed": seed,
        "day_real_s": round(day_real_s, 1),
        "scale_real_s_per_hall_min": round(hall.day.hall_minutes(1), 3),
        "phases": phases,
        "pad_auth": sorted({p.auth for p in pads.values()}),
        "transfers_attempted": hall.transfers_made,
        "errors": hall.errors[:20],
        "page_errors": page_errors[:20],
        "events": len(events),
        "kinds": dict(Counter(v.kind for v in people)),
        "calls_per_window": {w: hall.windows[w].calls for w in WINDOWS},
        "visitors_turned_away": sum(v.turned_away for v in people),
    }
    meta["refusal_log"] = hall.refusal_log
    meta["trace"] = [
        [e["seq"], e["type"], (e.get("ticket") or {}).get("number"), e.get("window"), e["at"]] for e in events
    ]
    result = report(
        events=events,
        visitors=[v.public() for v in people],
        lobby_calls=lobby_calls,
        played=played,
        skipped=skipped,
        refusals=dict(hall.refusals),
        move_back=move_back,
        scale=hall.day.scale,
        meta=meta,
    )
    return result


# --- the server ----------------------------------------------------------------------------


@contextmanager
def hallq_server(data: Path) -> Iterator[str]:
    """A real ``hallq serve`` with its own embedded redis-server in ``data``: the hall as deployed,
    with the hall file's double-tap guard (never a bench's override)."""
    env = {"HALLQ_MIN_CALL_INTERVAL_S": None, "HALLQ_SECRET": os.environ.get("HALLQ_SECRET", "day-sim-secret")}
    with serving.hallq_server(data, env=env) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="real minutes the hall day is compressed into")
    parser.add_argument("--visitors", type=int, default=150, help="tickets the day brings (~30 a window)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running hallq serve (an empty demo hall); default: start one")
    parser.add_argument(
        "--drain", type=float, default=45.0, help="after the day, stop when no visitor finished for this many seconds"
    )
    parser.add_argument("--label", default="", help="name for the JSON file in bench/out/")
    parser.add_argument("--out", help="write the JSON report here instead of bench/out/")
    args = parser.parse_args(argv)

    def run(url: str) -> dict[str, Any]:
        return asyncio.run(simulate(url, args.minutes, args.visitors, args.seed, args.drain))

    if args.url:
        result = run(args.url)
    else:
        with tempfile.TemporaryDirectory(prefix="hallq-day-") as data, hallq_server(Path(data)) as url:
            result = run(url)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).resolve().parent
    ).stdout.strip()
    result["meta"]["commit"] = commit
    result["meta"]["label"] = args.label
    result["meta"]["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = Path(args.out) if args.out else OUT / f"day-{args.label or commit}-{args.minutes:g}m-{args.visitors}v.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    print(headline(result))
    print(f"report: {out}")
    return 0 if result["lost"] == 0 and result["calls"]["unheard"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
