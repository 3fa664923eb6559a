"""Soak: a day of the seed's hall, compressed, while workers and Redis are killed at random.

What runs (all real): ``hallq serve --workers 2`` on a free port with its embedded,
durable redis-server (append-only, ``appendfsync always``), in a fresh data folder. The
hall is the bundled demo hall (the seed article's social-security centre: windows 1–4
comprehensive, window 5 photo first). Over the day:

- ``--phones`` visitors arrive (a morning and an afternoon peak, as in ``bench/day.py``),
  each takes a ticket at the kiosk (``POST …/tickets`` with a ``request_id``, resent
  unchanged until answered, as the kiosk does) and follows it on a phone socket
  (``/ws/tickets/{token}``, reconnecting) until it is called;
- five clerks call (``call_next`` over HTTP, also with a ``request_id`` resent until
  answered) and serve each visitor for a random time;
- ``--screens`` lobby screens follow the display socket, reconnecting with ``since=`` after
  every cut; each checks that it applies every seq once, in order (a jump is a gap);
- ``/healthz`` is polled every 0.2 s;
- unless ``--no-kills``, every ``--kill-every`` seconds on average (0.5×–1.5×) a worker or
  the embedded redis-server is killed with SIGKILL (the server restarts both by itself).

Time: the day (``--day-hours``, 8) is replayed in ``--duration`` real seconds (×160 for
180 s). The engine runs on the real clock; only arrivals and service times are scaled.
After the day the killer stops, the server is given time to heal, and the results are
checked against the store:

- lost: an acknowledged ticket the store does not know, or whose ``ticket.issued`` never
  reached the screens; an acknowledged call without its ``ticket.called`` event;
- double: a number issued twice, an issue event without an acknowledged request, a ticket
  called twice (nobody is recalled or sent back in this day);
- screens: seq gaps, snapshots needed after the first, the longest time a screen was cut
  off, the longest delay from an event's ``at`` to a screen;
- RSS of the server's processes (parent, workers, redis-server, the rest) at the start,
  at the end and at the most; ``/healthz`` availability and its longest outage.

The report is printed and written to ``bench/out/soak-*.json``.

Usage: python bench/soak.py [--duration 180] [--phones 500] [--screens 20] [--kill-every 20]
                            [--no-kills] [--seed 1] [--label NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from day_model import SERVICE_MIX, arrival_fraction  # noqa: E402
from soak_checks import Screen, Tally, summary, tree_rss, verdict  # noqa: E402

# The real process tree, as the chaos tests see it (/proc): one way to find workers and Redis.
from tests.processes import EmbeddedServer, redis_child, worker_children  # noqa: E402

HALL = "demo"
WINDOWS = ("1", "2", "3", "4", "5")
CLERKS = ("s01", "s02", "s03", "s04", "s05")
OUT = Path(__file__).resolve().parent / "out"
#: How long one request may keep being resent before the soak calls it a failure.
RETRY_FOR_S = 120.0


class Soak:
    """The soak's driver: the day's visitors, clerks and screens, the health and memory probes, the killer.

    :meth:`run` plays the day, stops the killer, lets the server heal, reads the store's
    final seq, waits (30 s at most) for the screens to reach it and returns the verdict
    (``soak_checks.verdict``).
    """

    def __init__(self, server: EmbeddedServer, options: argparse.Namespace) -> None:
        self.server, self.options = server, options
        self.rng = random.Random(options.seed)
        self.tally = Tally()
        self.screens = [Screen() for _ in range(options.screens)]
        self.called: dict[str, asyncio.Event] = {}  # number -> set when a clerk called it
        self.stop = asyncio.Event()
        self.started = time.monotonic()
        self.http = httpx.AsyncClient(base_url=server.url, timeout=5, limits=httpx.Limits(max_connections=200))

    def now(self) -> float:
        return time.monotonic() - self.started

    async def resend(self, path: str, body: dict[str, Any], token: str, what: str) -> dict[str, Any] | None:
        """POST with one request_id until answered; a cut, 502 or 503 is resent after a pause."""
        body = {**body, "request_id": uuid.uuid4().hex}
        deadline = time.monotonic() + RETRY_FOR_S
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                answer = await self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code in (200, 201):
                if attempts > 1:
                    if what == "issue":
                        self.tally.issue_retries += attempts - 1
                    else:
                        self.tally.call_retries += attempts - 1
                data: dict[str, Any] = answer.json()
                data["request_id"] = body["request_id"]
                return data
            if answer is not None and answer.status_code not in (502, 503):
                self.tally.failures.append(f"{what} {body}: {answer.status_code} {answer.text[:200]}")
                return None
            await asyncio.sleep(self.rng.uniform(0.1, 0.3))
        self.tally.failures.append(f"{what} {body}: never answered in {RETRY_FOR_S:.0f} s")
        return None

    async def login(self, staff: str) -> str:
        answer = await self.http.post("/api/auth/login", json={"hall": HALL, "staff": staff, "pin": "1234"})
        answer.raise_for_status()
        return str(answer.json()["token"])

    # --- the hall's people ---

    async def visitor(self, at_s: float, services: list[str], desk: str) -> None:
        await asyncio.sleep(max(0.0, at_s - self.now()))
        answer = await self.resend(f"/api/halls/{HALL}/tickets", {"services": services}, desk, "issue")
        if answer is None:
            return
        ticket = answer["ticket"]
        self.tally.tickets[answer["request_id"]] = ticket
        called = self.called.setdefault(ticket["number"], asyncio.Event())
        await self.phone(ticket["token"], called)

    async def phone(self, token: str, called: asyncio.Event) -> None:
        """The visitor's phone page: one socket, reconnecting, until the number is called."""
        first = True
        while not called.is_set() and not self.stop.is_set():
            if not first:
                self.tally.phone_reconnects += 1
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))
            first = False
            try:
                async with websockets.connect(f"{self.server.ws_url}/ws/tickets/{token}", open_timeout=5) as ws:
                    self.tally.phones_connected += 1
                    self.tally.phones_max = max(self.tally.phones_max, self.tally.phones_connected)
                    try:
                        while not called.is_set() and not self.stop.is_set():
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(ws.recv(), 0.5)
                                self.tally.phone_frames += 1
                    finally:
                        self.tally.phones_connected -= 1
            except (OSError, TimeoutError, websockets.WebSocketException):
                continue

    async def clerk(self, window: str, staff: str, service_s: float) -> None:
        token = await self.login(staff)
        while not self.stop.is_set():
            answer = await self.resend(
                f"/api/halls/{HALL}/windows/{window}/actions", {"action": "call_next"}, token, "call"
            )
            if answer is None:
                await asyncio.sleep(1)
                continue
            if answer.get("ticket"):
                number = answer["ticket"]["number"]
                self.tally.calls[answer["request_id"]] = number
                self.called.setdefault(number, asyncio.Event()).set()
                await asyncio.sleep(self.rng.expovariate(1 / service_s))
            else:
                await asyncio.sleep(self.rng.uniform(0.2, 0.5))

    async def screen(self, record: Screen, index: int) -> None:
        """A lobby screen: applies seqs in order, reconnects with since= after every cut."""
        cut_at: float | None = None
        while not self.stop.is_set() or record.applied < self.final_seq:
            since = f"&since={record.applied}" if record.synced else ""
            try:
                url = f"{self.server.ws_url}/ws/halls/{HALL}/display?kind=lobby&screen=soak-{index}{since}"
                async with websockets.connect(url, open_timeout=5) as ws:
                    if cut_at is not None:
                        record.longest_cut_s = max(record.longest_cut_s, time.monotonic() - cut_at)
                        record.reconnects += 1
                        cut_at = None
                    while not self.stop.is_set() or record.applied < self.final_seq:
                        try:
                            message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                        except TimeoutError:
                            continue
                        record.apply(message)
            except (OSError, TimeoutError, websockets.WebSocketException):
                if cut_at is None:
                    cut_at = time.monotonic()
                await asyncio.sleep(self.rng.uniform(0.3, 1.0))

    final_seq = 1 << 62  # set when the day is over: screens stop once they reached it

    # --- the machine's side ---

    async def health(self) -> None:
        down_since: float | None = None
        while not self.stop.is_set():
            ok = False
            with contextlib.suppress(httpx.HTTPError):
                ok = (await self.http.get("/healthz", timeout=1)).status_code == 200
            self.tally.health_total += 1
            if ok:
                self.tally.health_ok += 1
                if down_since is not None:
                    self.tally.health_longest_down_s = max(
                        self.tally.health_longest_down_s, time.monotonic() - down_since
                    )
                    down_since = None
            elif down_since is None:
                down_since = time.monotonic()
            await asyncio.sleep(0.2)

    async def memory(self) -> None:
        assert self.server.process is not None
        while not self.stop.is_set():
            self.tally.rss.append({"t": round(self.now(), 1), **tree_rss(self.server.process.pid)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 10)

    async def killer(self) -> None:
        assert self.server.process is not None
        parent = self.server.process.pid
        every = self.options.kill_every
        while True:
            await asyncio.sleep(self.rng.uniform(0.5 * every, 1.5 * every))
            if self.now() > self.options.duration - 5:
                return  # no kill in the day's last seconds: the end is checked on a healed server
            target = self.rng.choice(("worker", "redis"))
            if target == "worker":
                workers = worker_children(parent)
                pid = self.rng.choice(workers) if workers else None
            else:
                pid = redis_child(parent)
            if pid is None:
                continue  # it is being restarted right now
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                self.tally.kills.append({"t": round(self.now(), 1), "target": target, "pid": pid})

    async def run(self) -> dict[str, Any]:
        options = self.options
        assert self.server.process is not None
        day_s = float(options.duration)
        desk = await self.login("desk")
        # service time: five windows serve the day's visitors in ~70 % of the day
        service_s = 0.7 * day_s * len(WINDOWS) / max(1, options.phones)
        rss_start = tree_rss(self.server.process.pid)
        services, weights = zip(*SERVICE_MIX, strict=True)
        arrivals = sorted(arrival_fraction(self.rng) * day_s for _ in range(options.phones))
        screens = [asyncio.create_task(self.screen(r, i)) for i, r in enumerate(self.screens)]
        # The day starts once every screen holds its first snapshot: a ticket issued before a
        # screen's first snapshot is in that snapshot, not an event it shows, and was counted as
        # lost (seen: D001 "issued, never shown" when the first visitor beat the screens).
        synced_by = time.monotonic() + 30
        while not all(r.synced for r in self.screens) and time.monotonic() < synced_by:
            await asyncio.sleep(0.05)
        self.started = time.monotonic()
        background = [asyncio.create_task(self.health()), asyncio.create_task(self.memory())]
        clerks = [asyncio.create_task(self.clerk(w, s, service_s)) for w, s in zip(WINDOWS, CLERKS, strict=True)]
        visitors = [
            asyncio.create_task(self.visitor(at, list(self.rng.choices(services, weights)[0]), desk)) for at in arrivals
        ]
        killer = asyncio.create_task(self.killer()) if not options.no_kills else None
        await asyncio.sleep(day_s)
        if killer is not None:
            killer.cancel()
        # every visitor has an answer to its ticket by now, or gets it once the server healed
        issuing = [v for v in visitors if not v.done()]
        self.stop.set()
        await asyncio.gather(*issuing, *clerks, return_exceptions=True)
        healed_at = time.monotonic()
        while time.monotonic() - healed_at < 60:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/healthz", timeout=1)).status_code == 200:
                    break
            await asyncio.sleep(0.2)
        heal_s = time.monotonic() - healed_at
        healthy = (await self.http.get("/healthz", timeout=5)).status_code == 200
        rss_end = tree_rss(self.server.process.pid)
        state = (await self.http.get(f"/api/halls/{HALL}/state", timeout=10)).json()
        self.final_seq = int(state["seq"])
        _, pending = await asyncio.wait(screens, timeout=30)
        for task in pending:
            task.cancel()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, *pending, return_exceptions=True)
        return verdict(
            options,
            self.tally,
            self.screens,
            self.final_seq,
            lambda token: self.server.request("GET", f"/api/tickets/{token}")[0] == 200,
            rss_start,
            rss_end,
            healthy,
            heal_s,
            len(pending),
        )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=180, help="real seconds the day is replayed in")
    parser.add_argument("--day-hours", type=float, default=8, help="hall hours replayed (8: a day)")
    parser.add_argument("--phones", type=int, default=500, help="visitors, each following its ticket on a phone")
    parser.add_argument("--screens", type=int, default=20, help="lobby screens")
    parser.add_argument("--kill-every", type=float, default=20, help="mean real seconds between kills")
    parser.add_argument("--no-kills", action="store_true", help="the baseline: the same day without kills")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--label", default="")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its server log)")
    return parser.parse_args(argv)


def soak(options: argparse.Namespace) -> dict[str, Any]:
    """Run one soak and return its result (no file written)."""
    with tempfile.TemporaryDirectory(prefix="hallq-soak-") as folder:
        data = Path(folder) / "data"
        server = EmbeddedServer(data, workers=options.workers, env={"HALLQ_MIN_CALL_INTERVAL_S": "0"})
        server.start(timeout=60)
        try:

            async def main() -> dict[str, Any]:
                run = Soak(server, options)
                try:
                    return await run.run()
                finally:
                    await run.http.aclose()

            result = asyncio.run(main())
        finally:
            server.stop()
            if options.keep:
                log = Path(tempfile.gettempdir()) / f"hallq-soak-{int(time.time())}.log"
                log.write_bytes(server.log_path.read_bytes())
                print(f"server log: {log}")
        return result


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    result = soak(options)
    OUT.mkdir(exist_ok=True)
    name = options.label or ("baseline" if options.no_kills else "kills")
    path = OUT / f"soak-{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(summary(result))
    print(f"written: {path}")
    return 0 if result["lost"] == 0 and result["double"] == 0 and result["screens"]["gaps"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
