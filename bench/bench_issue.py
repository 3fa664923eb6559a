"""Tickets issued per second over HTTP by 50 concurrent clients on one ``hallq serve`` process.

Each client is one keep-alive HTTP/1.1 connection (a lean hand-written client, so
the measurement is the server's), sending ``POST /api/halls/demo/tickets`` with a
desk token (staff are exempt from rate limits) one after another. Throughput is
tickets answered 201 per second of wall time; latency is per request, from its
write to its whole answer. The demo hall numbers tickets A001–A999 per service a
day, so a run issues at most 3,996 tickets: ``--tickets`` (default 3,800) after a
warm-up of 100. Redis is hallq's default (embedded, append-only, fsync always);
``--volatile`` runs a Redis without persistence instead, to show what fsync costs.

    .venv/bin/python bench/bench_issue.py --clients 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Http, percentile, raise_file_limit, running

from server.embedded import EmbeddedRedis, free_port

SERVICES = ("register", "transfer", "pension", "photo")


class Connection:
    """One keep-alive HTTP/1.1 connection sending issue requests."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.requests = [
            (
                f"POST /api/halls/demo/tickets HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
            for body in (json.dumps({"services": [s]}).encode() for s in SERVICES)
        ]

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def issue(self, index: int) -> int:
        """Send one issue request; answer its status."""
        self.writer.write(self.requests[index % len(self.requests)])
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def run(port: int, token: str, clients: int, tickets: int, warmup: int) -> dict[str, float]:
    connections = [Connection(port, token) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    counter = iter(range(warmup + tickets))
    latencies: list[float] = []
    finished: list[float] = []
    statuses: dict[int, int] = {}
    started_at = 0.0

    async def client(connection: Connection) -> None:
        nonlocal started_at
        for index in counter:
            if index == warmup:
                started_at = time.monotonic()
            sent = time.monotonic()
            status = await connection.issue(index)
            if index >= warmup:
                finished.append(time.monotonic())
                latencies.append((finished[-1] - sent) * 1000)
                statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(client(c) for c in connections))
    elapsed = time.monotonic() - started_at
    await asyncio.gather(*(c.close() for c in connections))
    if set(statuses) != {201}:
        raise RuntimeError(f"not every ticket was issued: {statuses}")
    quarter = len(finished) // 4
    return {
        "tickets": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        # the queue grows during the run (nobody is served): rates at its start and its end
        "first_quarter": quarter / (finished[quarter - 1] - started_at),
        "last_quarter": quarter / (finished[-1] - finished[-quarter - 1]),
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "p99": percentile(latencies, 99),
        "max": max(latencies),
    }


def one_round(clients: int, tickets: int, warmup: int, volatile: bool) -> dict[str, float]:
    redis = None
    if volatile:
        redis = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="hallq-bench-redis-")), port=free_port(), durable=False)
        redis.start()
    try:
        with running(redis_url=redis.url if redis else None) as server:
            http = Http(server)
            token = http.login("desk")
            http.close()
            return asyncio.run(run(server.port, token, clients, tickets, warmup))
    finally:
        if redis is not None:
            redis.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=3_800, help="measured tickets per round (at most 3,896)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--volatile", action="store_true", help="Redis without persistence instead of hallq's default")
    args = parser.parse_args()
    warmup = 100
    if args.tickets + warmup > 999 * len(SERVICES):
        parser.error("the demo hall has 999 numbers per service a day")
    raise_file_limit(args.clients * 4 + 512)
    rows = [one_round(args.clients, args.tickets, warmup, args.volatile) for _ in range(args.rounds)]
    redis = "volatile Redis" if args.volatile else "embedded Redis, AOF fsync always"
    print(f"\ntickets issued over HTTP, {args.clients} concurrent keep-alive clients, one process ({redis})")
    print(
        f"{'round':>5} {'tickets':>8} {'seconds':>8} {'per second':>11} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'1st quarter/s':>14} {'last quarter/s':>15}"
    )
    for i, row in enumerate(rows, start=1):
        print(
            f"{i:>5} {row['tickets']:>8.0f} {row['seconds']:>8.2f} {row['per_second']:>11.0f} {row['p50']:>7.1f} "
            f"{row['p90']:>7.1f} {row['p99']:>7.1f} {row['max']:>7.1f} {row['first_quarter']:>14.0f}"
            f" {row['last_quarter']:>15.0f}"
        )
    best = max(rows, key=lambda r: r["per_second"])
    print(f"best round: {best['per_second']:.0f} tickets/s (target ≥ 1,000/s), p99 {best['p99']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
