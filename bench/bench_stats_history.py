"""Does a year of history slow the queue down? Action latency with 0 and with 300 days.

Statistics are counters in one hash per business day, counted from each day's events
(``Engine.count_stats``, off the actions' path), so an action's cost should not depend on
how many days lie behind it. This
benchmark measures issue + call_next latency on an empty hall, then drives the demo hall
through 300 simulated days (issue, call, complete, some ratings, through the real engine
with a simulated clock), and measures again on day 301 — in the same process, against the
same redis-server. It also times the 366-day report the manager's page asks for.

Run: python -m bench.bench_stats_history [--days 300] [--per-day 40] [--samples 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from redis.asyncio import Redis

from server import stats
from server.config import load_demo
from server.embedded import EmbeddedRedis, free_port
from server.queue.engine import Engine

START = 1_735_700_400.0  # 2025-01-01 11:00 Asia/Shanghai


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


async def measure(engine: Engine, clock: Clock, samples: int) -> list[float]:
    """Latency (ms) of issue and call_next pairs, one action at a time."""
    clerk = engine.hall.staff_member("s01")
    assert clerk is not None
    services = ("register", "transfer", "pension", "photo")
    timings: list[float] = []
    for i in range(samples // 2):
        clock.now += 1
        began = time.perf_counter()
        await engine.issue([services[i % 4]])
        timings.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        await engine.act("1", "call_next", clerk)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def simulate_days(engine: Engine, clock: Clock, days: int, per_day: int) -> None:
    hall = engine.hall
    clerks = [hall.staff_member(f"s0{i}") for i in range(1, 6)]
    services = ("register", "transfer", "pension", "photo")
    for day in range(days):
        clock.now = START + (day + 1) * 86400
        tokens = [(await engine.issue([services[(day + i) % 4]]))["ticket"]["token"] for i in range(per_day)]
        for i in range(per_day):
            clock.now += 90
            clerk = clerks[i % 5]
            assert clerk is not None
            await engine.act(str(i % 5 + 1), "call_next", clerk)
        for window, clerk in enumerate(clerks, start=1):
            assert clerk is not None
            clock.now += 60
            await engine.act(str(window), "complete", clerk)
            await engine.act(str(window), "close", clerk)
        for i, token in enumerate(tokens[: per_day // 3]):
            await engine.rate(5 - i % 3, token=token)  # every ticket is done by now


def summary(label: str, timings: list[float]) -> tuple[str, float, float, float]:
    timings = sorted(timings)
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    return label, p50, p99, statistics.fmean(timings)


async def main(days: int, per_day: int, samples: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="hallq-bench-"))
    server = EmbeddedRedis(folder, port=free_port(), durable=False)
    server.start()
    try:
        redis = Redis.from_url(server.url, decode_responses=True)
        clock = Clock()
        engine = Engine(redis, load_demo(), secret=b"bench", clock=clock, min_call_interval_s=0)
        empty = await measure(engine, clock, samples)
        began = time.perf_counter()
        await simulate_days(engine, clock, days, per_day)
        simulated_s = time.perf_counter() - began
        clock.now = START + (days + 2) * 86400
        full = await measure(engine, clock, samples)
        info = await redis.info("memory")
        today = date(2025, 1, 1) + timedelta(days=days + 2)
        keys = stats.day_keys("demo", today - timedelta(days=365), today)
        began = time.perf_counter()
        await engine.count_stats()  # as GET /stats does: the last events counted first
        async with redis.pipeline(transaction=False) as pipe:
            for _day, key in keys:
                pipe.hgetall(key)
            hashes = await pipe.execute()
        fetched_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        report = stats.report(
            {day: h for (day, _k), h in zip(keys, hashes, strict=True)},
            by="window",
            date_from=today - timedelta(days=365),
            date_to=today,
        )
        report_ms = (time.perf_counter() - began) * 1000
        served = sum(g["served"] for g in report["groups"])
        rows = [summary("empty hall", empty), summary(f"after {days} days", full)]
        memory = info["used_memory_human"]
        print(f"simulated {days} days x {per_day} tickets in {simulated_s:.1f} s; redis used {memory}")
        print("| history | p50 ms | p99 ms | mean ms |")
        print("|---|---|---|---|")
        for label, p50, p99, mean in rows:
            print(f"| {label} | {p50:.3f} | {p99:.3f} | {mean:.3f} |")
        ratio = rows[1][1] / rows[0][1]
        print(f"ratio of p50 (after / empty): {ratio:.2f}")
        print(f"366-day report by window: fetch {fetched_ms:.1f} ms + figures {report_ms:.1f} ms, {served} served")
        await redis.aclose()
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=300)
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--samples", type=int, default=2000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.days, arguments.per_day, arguments.samples))
