"""The simulated day's witnesses: the lobby page in headless Chromium, and a display socket recording every event.

:data:`LOBBY_HOOK` wraps the page's ``HallSocket`` so that every call event it handles (live
or replayed from a snapshot) is recorded in ``window.__simCalls`` with whether the "now
calling" box (or the recent list) showed it. :func:`open_lobby` opens ``/display/demo`` with
autoplay allowed and audio not muted; :func:`lobby_quiet` waits until its announcer has
nothing playing or queued. :func:`record_events` keeps every event of the hall from a display
socket, reconnecting with ``since=`` (a gap it was not replayed is an error).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets
from day_model import HALL, Hall

CHROMIUM = "/usr/bin/chromium"

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
