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
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving
from day_clerks import Pad, clerk
from day_lobby import lobby_quiet, open_lobby, record_events
from day_model import HALL, WINDOWS, Day, Hall, plan_day
from day_report import headline, report
from day_visitors import desk_consultations, login, visitor_day

OUT = Path(__file__).resolve().parent / "out"


# --- the day -----------------------------------------------------------------------------


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
