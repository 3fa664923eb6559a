"""Call → the last of N visitors' phones following their tickets in one hall, and Redis time per call.

Two ways of keeping phones current, in the same run, against one ``hallq serve`` each:

- ``moves``: phones open ``/ws/tickets/{token}?follow=moves`` and get the hall's shared event
  frame (one pre-encoded write per phone); each computes its own place (server/place.py).
  Measured: call → ``ticket.called`` frame on the last phone.
- ``displays``: the baseline phones should cost no more than: N lobby display sockets.
- ``old``: the default socket: after each event the server re-reads every followed ticket in
  one script (people ahead + ETA for each) and sends each phone its own message. Measured:
  call → the last phone's personal ``ticket`` message.

Every phone follows a ticket behind the ones called, so each call moves every phone by one.
Redis time per call is the EVAL/EVALSHA time of ``INFO commandstats`` over the measured calls
(the call itself plus what the phones cost), divided by the calls. The phones live in a separate
process of lean raw-socket clients (bench_fanout.py's), so that what is measured is the server.

    .venv/bin/python bench/bench_phones.py --phones 500,1000,2000 --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Http, percentile, raise_file_limit, running
from lean_clients import SEQ, LeanSocket
from redis import Redis

SERVICES = ("register", "transfer", "pension", "photo")


class PhoneBoard:
    """What the phones saw: their hellos, then per call when the last phone heard of it."""

    def __init__(self, phones: int, mode: str) -> None:
        self.phones = phones
        self.mode = mode
        self.hellos = 0
        self.lost = 0
        self.counts: dict[int, int] = {}
        self.personal = 0
        self.ready = asyncio.Event()

    def message(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"snapshot"') and self.mode == "displays":
            self.hellos += 1
            if self.hellos == self.phones:
                self.ready.set()
            return
        if payload.startswith(b'{"type":"ticket"'):
            if self.hellos < self.phones:
                self.hellos += 1
                if self.hellos == self.phones:
                    self.ready.set()
                return
            if self.mode == "old":
                # one personal message per phone per call: the round is done at the last one
                self.personal += 1
                if self.personal % self.phones == 0:
                    sys.stdout.write(f"got {self.personal // self.phones} {now:.6f}\n")
                    sys.stdout.flush()
            return
        if self.mode in ("moves", "displays") and b'"ticket.called"' in payload:
            match = SEQ.search(payload)
            if match is None:
                return
            seq = int(match.group(1))
            count = self.counts.get(seq, 0) + 1
            self.counts[seq] = count
            if count == self.phones:
                sys.stdout.write(f"got {seq} {now:.6f}\n")
                sys.stdout.flush()


async def run_phones(port: int, tokens_file: str, mode: str) -> None:
    tokens = json.loads(Path(tokens_file).read_text())
    raise_file_limit(len(tokens) + 256)
    board = PhoneBoard(len(tokens), mode)
    loop = asyncio.get_running_loop()
    suffix = "?follow=moves" if mode == "moves" else ""
    paths = [f"/ws/tickets/{t}{suffix}" if mode != "displays" else "/ws/halls/demo/display" for t in tokens]
    clients = []
    for start in range(0, len(tokens), 100):
        batch = await asyncio.gather(
            *(
                loop.create_connection(
                    lambda p=path: LeanSocket(board, "127.0.0.1", port, p),  # type: ignore[misc]
                    "127.0.0.1",
                    port,
                )
                for path in paths[start : start + 100]
            )
        )
        clients += [protocol for _transport, protocol in batch]
    try:
        await asyncio.wait_for(board.ready.wait(), 120)
    except TimeoutError:
        raise RuntimeError(f"{board.hellos} of {len(tokens)} phones got their ticket ({board.lost} lost)") from None
    sys.stdout.write(f"ready {len(clients)}\n")
    sys.stdout.flush()
    await loop.run_in_executor(None, sys.stdin.read)
    for client in clients:
        if client.transport is not None:
            client.transport.close()


def eval_usec(redis: Redis) -> float:
    """Microseconds Redis spent in scripts so far."""
    stats: dict[str, Any] = redis.info("commandstats")  # type: ignore[assignment]
    return float(sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_eval")))


def measure(mode: str, phones: int, calls: int) -> dict[str, float]:
    import subprocess
    import tempfile

    with running() as server:
        assert server.redis is not None
        redis = Redis.from_url(server.redis.url)
        http = Http(server)
        desk, clerk = http.login("desk"), http.login("s01")
        tokens = []
        for i in range(calls + 1 + phones):
            status, body = http.call("POST", "/api/halls/demo/tickets", {"services": [SERVICES[i % 4]]}, token=desk)
            assert status == 201, body
            if i > calls:
                tokens.append(body["ticket"]["token"])
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(tokens, f)
        process = subprocess.Popen(
            [sys.executable, __file__, "--phones-for", str(server.port), "--tokens", f.name, "--mode", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None and process.stdin is not None
        try:
            line = process.stdout.readline().strip()
            assert line == f"ready {phones}", line
            http.close()
            http = Http(server)  # the keep-alive connection idled out while the phones connected
            status, body = http.call("POST", "/api/halls/demo/windows/1/actions", {"action": "call_next"}, clerk)
            assert status == 200, body
            process.stdout.readline()  # the warm-up call reached every phone
            last: list[float] = []
            answers: list[float] = []
            before = eval_usec(redis)
            for _ in range(calls):
                time.sleep(0.03)
                http.close()  # a fresh connection per call: the old path's calls outlast keep-alive
                http = Http(server)
                started = time.monotonic()
                status, body = http.call("POST", "/api/halls/demo/windows/1/actions", {"action": "call_next"}, clerk)
                answered = time.monotonic()
                assert status == 200 and body["ticket"] is not None, body
                got = process.stdout.readline().split()
                assert got and got[0] == "got", got
                last.append((float(got[2]) - started) * 1000)
                answers.append((answered - started) * 1000)
            time.sleep(0.1)  # a debounced refresh still running is part of the cost
            redis_ms = (eval_usec(redis) - before) / 1000 / calls
            return {
                "calls": len(last),
                "p50": percentile(last, 50),
                "p99": percentile(last, 99),
                "max": max(last),
                "mean": statistics.fmean(last),
                "answer_p50": percentile(answers, 50),
                "redis_ms": redis_ms,
            }
        finally:
            process.stdin.close()
            process.wait(30)
            os.unlink(f.name)
            http.close()
            redis.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phones", default="500,1000,2000")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--modes", default="moves,displays,old")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--phones-for", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phones_for:
        asyncio.run(run_phones(args.phones_for, args.tokens, args.mode))
        return 0
    counts = [int(n) for n in args.phones.split(",")]
    raise_file_limit(max(counts) * 2 + 512)
    results: dict[str, dict[str, float]] = {}
    print(f"\ncall → the last of N phones following their tickets, one server process (ms; {args.calls} calls)")
    print(f"{'phones':>6} {'mode':<6} {'p50':>8} {'p99':>8} {'max':>8} {'HTTP answer p50':>16} {'Redis ms/call':>14}")
    for phones in counts:
        for mode in args.modes.split(","):
            row = measure(mode, phones, args.calls)
            results[f"{phones}:{mode}"] = row
            print(
                f"{phones:>6} {mode:<6} {row['p50']:>8.1f} {row['p99']:>8.1f} {row['max']:>8.1f} "
                f"{row['answer_p50']:>16.1f} {row['redis_ms']:>14.2f}",
                flush=True,
            )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
