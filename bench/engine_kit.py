"""The engine bench's instruments: counted round trips, the server's own counts, the fixed clock, the floors.

- :class:`CountingRedis`: a client that counts the commands it sends (on one connection
  without pipelining, one command is one round trip); :func:`one_connection` makes one;
- :func:`commandstats`: calls and microseconds per command as the server counts them
  (``INFO commandstats``, read on a second connection);
- :class:`Clock`: a fixed hall time (:data:`MORNING`, a Wednesday 10:00 in Asia/Shanghai:
  the hall is open) that the bench moves on by whole days between batches;
- :func:`ticket_mix`: mostly one service, some combined visits, about one in ten priority;
- :class:`Result` and :data:`HEADER`: one row of the printed Markdown table (actions/s, round
  trips and EVALSHA per action, µs in Redis, p50 and p99);
- :func:`baseline` (PING) and :func:`baseline_evalsha` (a script that only returns 1): the
  floors of one round trip and of one script round trip; :func:`baseline_fsync`: the disk's
  own floor under the durable mode (one append and ``fdatasync`` at a time, in the data folder).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from redis.asyncio import Redis

SERVICES = ("register", "transfer", "pension", "photo")
# A Wednesday, 10:00 in Asia/Shanghai: the hall is open; a fixed clock keeps the business day
# from rolling over in the middle of a run.
MORNING = 1_764_122_400.0
#: connections in the parallel pattern (not the issue's measure: the hall's capacity with many pads)
PARALLEL = 10


class CountingRedis(Redis):
    """A client that counts the commands it sends (each a round trip on one connection)."""

    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@dataclass
class Result:
    mode: str
    pattern: str
    actions: int
    seconds: float
    client_round_trips: int
    server_evalsha: int
    server_other: int
    latencies_ms: list[float]
    server_usec_per_action: float
    inner_commands_per_action: float

    @property
    def per_second(self) -> float:
        return self.actions / self.seconds

    def row(self) -> str:
        lat = sorted(self.latencies_ms)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        return (
            f"| {self.mode} | {self.pattern} | {self.actions} | {self.per_second:,.0f} | "
            f"{self.client_round_trips / self.actions:.2f} | {self.server_evalsha / self.actions:.2f} | "
            f"{self.server_other} | {self.inner_commands_per_action:.0f} | {self.server_usec_per_action:.0f} | "
            f"{p50:.2f} | {p99:.2f} |"
        )


HEADER = (
    "| mode | pattern | actions | actions/s | round trips/action (client) | EVALSHA/action (server) "
    "| EVAL/SCRIPT (server) | commands inside the script/action | µs in Redis/action | p50 ms | p99 ms |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


async def commandstats(admin: Redis) -> dict[str, tuple[int, int]]:
    """Calls and microseconds per command, as the server counts them."""
    info: dict[str, Any] = await admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for name, v in info.items()}


def ticket_mix(rng: random.Random) -> tuple[list[str], bool]:
    """Mostly one service, some combined visits, about one in ten priority."""
    count = 1 if rng.random() < 0.85 else 2
    return rng.sample(SERVICES, count), rng.random() < 0.1


class Clock:
    """A fixed hall time that the bench moves on by whole days between batches."""

    def __init__(self) -> None:
        self.now = MORNING

    def __call__(self) -> float:
        return self.now


def one_connection(url: str) -> CountingRedis:
    return cast(CountingRedis, CountingRedis.from_url(url, decode_responses=True, max_connections=1))


async def baseline(url: str, mode: str, count: int) -> Result:
    """PING on the same kind of connection: the cost of one empty round trip, for scale."""
    client = cast(CountingRedis, CountingRedis.from_url(url, decode_responses=True, max_connections=1))
    try:
        await client.ping()
        client.round_trips = 0
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            start = time.perf_counter()
            await client.ping()
            latencies.append((time.perf_counter() - start) * 1000)
        seconds = time.perf_counter() - started
        return Result(mode, "baseline: PING", count, seconds, client.round_trips, 0, 0, latencies, 0.0, 0.0)
    finally:
        await client.aclose()


async def baseline_evalsha(url: str, mode: str, count: int) -> Result:
    """A script that only returns 1, called by EVALSHA with an action's kind of payload (one
    key, a JSON argument): the floor for one script round trip, which no action can beat."""
    client = cast(CountingRedis, CountingRedis.from_url(url, decode_responses=True, max_connections=1))
    admin = Redis.from_url(url, decode_responses=True)
    try:
        trivial = client.register_script("return 1")
        payload = '{"now": 1764122400000, "hour": "10", "hall": "demo", "retention": 10000, "day": "2025-11-26"}'
        await trivial(keys=["hallq:{demo}:seq"], args=[payload])  # loads it (NOSCRIPT, SCRIPT LOAD)
        client.round_trips = 0
        before = await commandstats(admin)
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            start = time.perf_counter()
            await trivial(keys=["hallq:{demo}:seq"], args=[payload])
            latencies.append((time.perf_counter() - start) * 1000)
        seconds = time.perf_counter() - started
        after = await commandstats(admin)
        calls = after["evalsha"][0] - before["evalsha"][0]
        usec = (after["evalsha"][1] - before["evalsha"][1]) / max(1, calls)
        return Result(
            mode, "baseline: trivial EVALSHA", count, seconds, client.round_trips, calls, 0, latencies, usec, 0.0
        )
    finally:
        await client.aclose()
        await admin.aclose()


#: Bytes per append of :func:`baseline_fsync`: what one steady action adds to the append-only
#: file on average (the script's effects, replicated command by command: an ``issue`` 1.9 KB, a
#: ``call_next`` 3.5 KB on the demo hall, measured with ``INFO persistence``).
AOF_RECORD_BYTES = 2_700


def baseline_fsync(folder: Path, mode: str, count: int) -> Result:
    """What the disk under ``folder`` allows for the durable mode: ``count`` appends of
    :data:`AOF_RECORD_BYTES`, each followed by ``fdatasync`` before the next, as redis-server
    does with ``appendfsync always`` when one connection sends one action at a time (one flush
    per turn of its event loop). No action on one connection can be durable faster."""
    path = folder / "fsync-probe"
    record = b"x" * AOF_RECORD_BYTES
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, record)
        os.fdatasync(fd)
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, record)
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - start) * 1000)
        seconds = time.perf_counter() - started
    finally:
        os.close(fd)
        path.unlink()
    return Result(mode, "baseline: the disk, append + fdatasync", count, seconds, 0, 0, 0, latencies, 0.0, 0.0)
