"""Call → event on the last of 1,000 display sockets of one ``hallq serve`` process.

For each of ``--calls`` calls, the time from just before the clerk's HTTP
``call_next`` to the moment the *last* of ``--sockets`` display sockets has received
that call's ``ticket.called`` event. Run twice in one go: with hallq's fan-out
(one pre-encoded frame written straight to every connection) and with the naive
baseline (``HALLQ_FANOUT=naive``: one ``send_text`` task per socket per event).

The display clients live in one separate process and are lean on purpose (raw
asyncio sockets, a few lines of frame parsing; they answer pings), so that what is
measured is the server. Both processes read CLOCK_MONOTONIC, one clock per machine.
Everything runs on 127.0.0.1 and stops by itself.

    .venv/bin/python bench/bench_fanout.py --sockets 1000 --calls 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Http, free_port, percentile, raise_file_limit, running
from lean_clients import Clients, run_clients

from server.embedded import EmbeddedRedis

# --- the measurement ----------------------------------------------------------------------------


@dataclass
class Timings:
    """Per call (ms): to the last socket; the HTTP answer; to the first socket."""

    last: list[float] = field(default_factory=list)
    answer: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)


def measure_pubsub(sockets: int, calls: int) -> Timings:
    """The same measurement on the baseline stack: Redis pub/sub + python-websockets ``broadcast()``.

    Its "call" is an HTTP GET that INCRs a seq and PUBLISHes (see ``pubsub_baseline.py``) on the
    same embedded, fsync-always Redis hallq gets; the displays are the same lean clients.
    """
    from pubsub_baseline import PubsubServer

    data = Path(tempfile.mkdtemp(prefix="hallq-bench-pubsub-"))
    store = EmbeddedRedis(data / "redis", durable=True)
    store.start()
    server = PubsubServer(free_port(), store.url)
    try:
        server.start()
        clients = Clients(server, sockets, path="/")
        try:
            assert clients.wait_ready() == sockets
            server.call()  # unmeasured, as hallq's first call
            clients.read()
            timings = Timings()
            for _ in range(calls):
                time.sleep(0.02)
                started = time.monotonic()
                seq = server.call()
                answered = time.monotonic()
                _got, got_seq, last, first = clients.read().split()
                assert int(got_seq) == seq, (got_seq, seq)
                timings.last.append((float(last) - started) * 1000)
                timings.answer.append((answered - started) * 1000)
                timings.first.append((float(first) - started) * 1000)
            return timings
        finally:
            clients.close()
    finally:
        server.stop()
        store.stop()
        shutil.rmtree(data, ignore_errors=True)


def measure(mode: str, sockets: int, calls: int) -> Timings:
    """Timings of ``calls`` calls seen by ``sockets`` displays, fan-out ``mode``."""
    if mode == "pubsub":
        return measure_pubsub(sockets, calls)
    # unsliced: hallq's direct writes in one stretch, as before HALLQ_FANOUT_SLICE (the baseline of slicing)
    env = {"naive": {"HALLQ_FANOUT": "naive"}, "unsliced": {"HALLQ_FANOUT_SLICE": str(1 << 30)}}.get(mode, {})
    with running(env) as server:
        http = Http(server)
        desk, clerk = http.login("desk"), http.login("s01")
        for i in range(calls + 1):
            status, body = http.call(
                "POST", "/api/halls/demo/tickets", {"services": [("register", "photo")[i % 2]]}, token=desk
            )
            assert status == 201, body
        clients = Clients(server, sockets)
        try:
            connected = clients.wait_ready()
            assert connected == sockets
            http.close()
            http = Http(server)  # the keep-alive connection may have idled out while the sockets connected
            # one call first, unmeasured: the window opens and every code path is warm
            status, body = http.call("POST", "/api/halls/demo/windows/1/actions", {"action": "call_next"}, clerk)
            assert status == 200, body
            assert clients.read().split()[1] == str(body["seq"])
            timings = Timings()
            for _ in range(calls):
                time.sleep(0.02)
                started = time.monotonic()
                status, body = http.call("POST", "/api/halls/demo/windows/1/actions", {"action": "call_next"}, clerk)
                answered = time.monotonic()
                assert status == 200 and body["ticket"] is not None, body
                _got, seq, last, first = clients.read().split()
                assert int(seq) == body["seq"], (seq, body["seq"])
                timings.last.append((float(last) - started) * 1000)
                timings.answer.append((answered - started) * 1000)
                timings.first.append((float(first) - started) * 1000)
            return timings
        finally:
            clients.close()
            http.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200, help="measured calls per mode (at least 100)")
    parser.add_argument("--modes", default="direct,naive", help="comma-separated: direct, unsliced, naive, pubsub")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--clients-for", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--marker", default='"ticket.called"', help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/ws/halls/demo/display", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clients_for:
        asyncio.run(run_clients(args.clients_for, args.sockets, args.marker, args.path, args.batch))
        return 0
    limit = raise_file_limit(args.sockets * 2 + 512)
    if limit < args.sockets + 256:
        print(f"open-file limit {limit} is too low for {args.sockets} sockets", file=sys.stderr)
        return 1
    results: dict[str, dict[str, float]] = {}
    for mode in args.modes.split(","):
        timings = measure(mode, args.sockets, args.calls)
        latencies = timings.last
        results[mode] = {
            "calls": len(latencies),
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99),
            "max": max(latencies),
            "mean": statistics.fmean(latencies),
            "answer_p50": percentile(timings.answer, 50),
            "first_p50": percentile(timings.first, 50),
            "spread_p50": percentile([b - a for a, b in zip(timings.first, timings.last, strict=True)], 50),
        }
    print(f"\ncall → ticket.called on the last of {args.sockets} display sockets, one server process (ms)")
    print(
        f"{'fan-out':<8} {'calls':>6} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'mean':>8}"
        f" {'HTTP answer p50':>16} {'1st socket p50':>15} {'1st→last p50':>13}"
    )
    for mode, row in results.items():
        print(
            f"{mode:<8} {row['calls']:>6.0f} {row['p50']:>8.1f} {row['p90']:>8.1f} {row['p99']:>8.1f} "
            f"{row['max']:>8.1f} {row['mean']:>8.1f} {row['answer_p50']:>16.1f} {row['first_p50']:>15.1f}"
            f" {row['spread_p50']:>13.1f}"
        )
    if "direct" in results and "pubsub" in results:
        print(
            f"direct / pubsub: p50 ×{results['direct']['p50'] / results['pubsub']['p50']:.2f}, "
            f"p99 ×{results['direct']['p99'] / results['pubsub']['p99']:.2f}"
        )
    if "direct" in results and "naive" in results:
        print(
            f"naive / direct: p50 ×{results['naive']['p50'] / results['direct']['p50']:.1f}, "
            f"p99 ×{results['naive']['p99'] / results['direct']['p99']:.1f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps({"sockets": args.sockets, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
