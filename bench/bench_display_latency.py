"""How long from a clerk's "call next" to the number on the lobby wall screen?

Starts a real ``hallq serve`` (embedded redis-server, durable, as deployed) unless
``--server URL`` names a running one, opens the lobby page ``/display/demo`` in Debian's
headless Chromium, and makes ``--calls`` calls over HTTP, one at a time, rotating over
windows 1–5 (tickets are issued beforehand by the desk user, so the queue never runs dry).

For each call:

* t0 — the client's clock (``time.time()``) just before the HTTP ``call_next`` request;
* t_dom — in the page, a MutationObserver on the "now calling" panel records
  ``performance.timeOrigin + performance.now()`` when that number is first in the DOM;
* t_frame — the start of the next animation frame after that (when it is painted);
* for the breakdown, when the call's WebSocket frame reached the page (a wrapper the bench
  installs around ``WebSocket``) and when the HTTP answer reached the client.

Both clocks are this machine's wall clock, so ``t_dom - t0`` is the end-to-end latency:
HTTP request, Lua script in Redis, stream read by the hub, WebSocket frame, JSON parse and
DOM update. The next call is made once the number is seen (plus ``--gap`` seconds).
With ``--sound`` the lobby also speaks (preloading the WAVs makes the speech worker
synthesize them while calls go on: the realistic load); without it the page is ``?sound=0``.

Usage: python bench/bench_display_latency.py [--calls 60] [--sound/--no-sound] [--server URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving

CHROMIUM = "/usr/bin/chromium"
HALL = "demo"
WINDOWS = ("1", "2", "3", "4", "5")
SERVICES = ("register", "transfer", "pension", "photo")

# Bench-only instrumentation (not in the page): when each call's frame reaches the page.
FRAME_CLOCK = """(() => {
  window.__arrived = {};
  const Native = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener('message', (msg) => {
      const at = performance.timeOrigin + performance.now();
      const m = /"type":"ticket\\.called".*?"number":"([A-Z]\\d+)"/.exec(msg.data);
      if (m && !(m[1] in window.__arrived)) window.__arrived[m[1]] = at;
    });
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
})();"""

# Records when each number first appears in the "now calling" panel, and the next frame.
OBSERVER = """() => {
  window.__seen = {};
  window.__frame = {};
  const now = () => performance.timeOrigin + performance.now();
  const panel = document.getElementById('now');
  new MutationObserver(() => {
    const n = document.getElementById('now-number').textContent;
    if (n && !(n in window.__seen)) {
      window.__seen[n] = now();
      requestAnimationFrame(() => { window.__frame[n] = now(); });
    }
  }).observe(panel, {subtree: true, childList: true, characterData: true, attributes: true});
}"""


@contextmanager
def hallq_server(data: Path) -> Iterator[str]:
    """A real ``hallq serve`` with its own embedded Redis, calling at machine speed (no double-tap guard)."""
    with serving.hallq_server(data, env={"HALLQ_MIN_CALL_INTERVAL_S": "0"}, timeout=30) as url:
        yield url


def login(http: httpx.Client, staff: str, pin: str = "1234") -> str:
    answer = http.post("/api/auth/login", json={"hall": HALL, "staff": staff, "pin": pin})
    answer.raise_for_status()
    return str(answer.json()["token"])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def measure(url: str, calls: int, sound: bool, gap: float) -> dict[str, Any]:
    http = httpx.Client(base_url=url, timeout=10)
    desk = login(http, "desk")
    for i in range(calls + len(WINDOWS)):
        answer = http.post(
            f"/api/halls/{HALL}/tickets",
            json={"services": [SERVICES[i % 4]], "lang": "zh"},
            headers={"Authorization": f"Bearer {desk}"},
        )
        answer.raise_for_status()
    clerks = {w: login(http, f"s0{w}") for w in WINDOWS}

    latencies: list[float] = []
    frames: list[float] = []
    http_rtts: list[float] = []
    arrivals: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            ignore_default_args=["--mute-audio"],
        )
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.add_init_script(FRAME_CLOCK)
        page.goto(f"{url}/display/{HALL}" + ("" if sound else "?sound=0"))
        page.wait_for_selector("html[data-seq]", state="attached", timeout=10_000)
        page.evaluate(OBSERVER)
        for i in range(calls):
            window = WINDOWS[i % len(WINDOWS)]
            t0 = time.time() * 1000
            answer = http.post(
                f"/api/halls/{HALL}/windows/{window}/actions",
                json={"action": "call_next"},
                headers={"Authorization": f"Bearer {clerks[window]}"},
            )
            http_rtts.append(time.time() * 1000 - t0)
            answer.raise_for_status()
            number = answer.json()["ticket"]["number"]
            page.wait_for_function("n => n in window.__frame", arg=number, timeout=10_000)
            seen, frame, arrived = page.evaluate(
                "n => [window.__seen[n], window.__frame[n], window.__arrived[n]]", number
            )
            latencies.append(seen - t0)
            frames.append(frame - t0)
            arrivals.append(arrived - t0)
            time.sleep(gap)
        browser.close()

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50": round(percentile(values, 0.5), 1),
            "p95": round(percentile(values, 0.95), 1),
            "max": round(max(values), 1),
            "mean": round(statistics.fmean(values), 1),
        }

    return {
        "calls": calls,
        "sound": sound,
        "dom_ms": summary(latencies),
        "frame_ms": summary(frames),
        "http_ms": summary(http_rtts),
        "socket_ms": summary(arrivals),
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=60)
    parser.add_argument(
        "--sound",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let the lobby speak the calls (default) or open it with ?sound=0",
    )
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between calls")
    parser.add_argument("--server", help="URL of a running hallq serve with the demo hall (fresh day!)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")

    if args.server:
        result = measure(args.server.rstrip("/"), args.calls, args.sound, args.gap)
    else:
        with tempfile.TemporaryDirectory(prefix="hallq-bench-") as tmp, hallq_server(Path(tmp)) as url:
            result = measure(url, args.calls, args.sound, args.gap)

    if args.json:
        print(json.dumps(result))
        return
    print(
        f"call over HTTP -> number on the lobby page, {result['calls']} calls, "
        f"sound {'on' if result['sound'] else 'off'} ({result['cpus']} CPUs, "
        f"load average {result['load_1min']} at the end: other work on the machine shows in the tail)"
    )
    for key, label in (
        ("dom_ms", "in the DOM"),
        ("frame_ms", "next frame"),
        ("socket_ms", "frame in page"),
        ("http_ms", "HTTP answer"),
    ):
        s = result[key]
        print(
            f"  {label:13} p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms  max {s['max']:7.1f} ms  "
            f"mean {s['mean']:7.1f} ms"
        )
    verdict = "OK" if result["dom_ms"]["p95"] <= 100 else "OVER TARGET"
    print(f"  target p95 <= 100 ms: {verdict}")


if __name__ == "__main__":
    main()
