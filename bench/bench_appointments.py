"""Appointments (预约): booking throughput and check-in latency on the demo hall, each against
a baseline measured in the same run: plain ticket issuing (``Engine.issue``).

Drives :class:`server.queue.booking.Booking` on an embedded redis-server (the hallq default;
``--mode durable`` runs it with ``appendfsync always`` as ``hallq serve`` does):

* ``issue`` (baseline): N walk-in tickets, one at a time on one connection; the queue grows to N.
* ``book``: N bookings, one at a time, spread over the demo's slots, services and days (four
  places each), so none is refused.
* ``check_in``: N appointments booked into the slot under way (the demo hall with
  ``per_slot`` raised so that they fit), then checked in one at a time: the queue grows to
  N as in the baseline, so the two latencies compare like for like.
* ``book_parallel``: N bookings from 10 connections at once (throughput the hall sees when
  many phones book together).

Usage: python -m bench.bench_appointments [--n 2000] [--mode memory|durable]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from server.config import demo_text, parse_hall
from server.embedded import EmbeddedRedis
from server.queue.booking import Booking
from server.queue.engine import Engine

MORNING = 1_764_122_400.0  # Wednesday 2025-11-26, 10:00 in Asia/Shanghai
TODAY = "2025-11-26"
SERVICES = ("register", "transfer", "pension", "photo")


def placements(n: int) -> list[tuple[str, str, str]]:
    """(service, date, start) for n bookings: 4 per (service, slot), over the coming days."""
    out: list[tuple[str, str, str]] = []
    day = 1
    while len(out) < n:
        date = f"2025-11-{26 + day:02d}" if 26 + day <= 30 else f"2025-12-{26 + day - 30:02d}"
        for minute in range(0, 24 * 60, 30):
            for service in SERVICES:
                for _ in range(4):
                    out.append((service, date, f"{minute // 60:02d}:{minute % 60:02d}"))
        day += 1
    return out[:n]


async def timed(n: int, step: Callable[[int], Awaitable[Any]]) -> tuple[float, list[float]]:
    """Run step(0..n-1) one after another: (seconds in all, each latency in ms)."""
    latencies = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        await step(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    return time.perf_counter() - start, latencies


def row(name: str, n: int, seconds: float, latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"| {name} | {n} | {n / seconds:,.0f} | {statistics.median(latencies):.3f} | {cuts[98]:.3f} |"


async def bench(url: str, n: int) -> list[str]:
    redis = Redis.from_url(url, decode_responses=True)
    rows = []
    demo = parse_hall(demo_text())
    roomy = parse_hall(demo_text().replace("per_slot = 4", "per_slot = 1000"))
    try:
        # baseline: plain ticket issuing
        await redis.flushall()
        engine = Engine(redis, demo, secret=b"bench", clock=lambda: MORNING)
        await engine.issue(["register"])  # scripts loaded, day set
        await redis.flushall()
        seconds, lat = await timed(n, lambda i: engine.issue([SERVICES[i % 4]]))
        rows.append(row("issue (baseline)", n, seconds, lat))

        # booking, one at a time
        await redis.flushall()
        booking = Booking(Engine(redis, demo, secret=b"bench", clock=lambda: MORNING))
        where = placements(n)
        seconds, lat = await timed(n, lambda i: booking.book([where[i][0]], where[i][1], where[i][2]))
        rows.append(row("book", n, seconds, lat))

        # check-in: n bookings in the slot under way, then n check-ins (the queue grows to n)
        await redis.flushall()
        booking = Booking(Engine(redis, roomy, secret=b"bench", clock=lambda: MORNING))
        codes = [(await booking.book([SERVICES[i % 4]], TODAY, "10:00"))["appointment"]["code"] for i in range(n)]
        seconds, lat = await timed(n, lambda i: booking.check_in(code=codes[i]))
        rows.append(row("check_in", n, seconds, lat))

        # booking from 10 connections at once
        await redis.flushall()
        clients = [Redis.from_url(url, decode_responses=True) for _ in range(10)]
        bookings = [Booking(Engine(c, demo, secret=b"bench", clock=lambda: MORNING)) for c in clients]
        where = placements(n)

        async def worker(k: int) -> list[float]:
            out = []
            for i in range(k, n, 10):
                t0 = time.perf_counter()
                await bookings[k].book([where[i][0]], where[i][1], where[i][2])
                out.append((time.perf_counter() - t0) * 1000)
            return out

        start = time.perf_counter()
        parts = await asyncio.gather(*(worker(k) for k in range(10)))
        rows.append(row("book, 10 connections", n, time.perf_counter() - start, [x for p in parts for x in p]))
        for c in clients:
            await c.aclose()
    finally:
        await redis.aclose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="actions per measure")
    parser.add_argument("--mode", choices=("memory", "durable"), default="memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hallq-bench-") as folder:
        server = EmbeddedRedis(Path(folder), durable=args.mode == "durable")
        server.start()
        try:
            rows = asyncio.run(bench(server.url, args.n))
        finally:
            server.stop()
    print(f"mode {args.mode}, load average {os.getloadavg()[0]:.2f}")
    print("| measure | actions | per second | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for line in rows:
        print(line)


if __name__ == "__main__":
    main()
