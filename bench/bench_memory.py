"""Idle memory per connected display socket of one ``hallq serve`` process.

The server's resident memory (``VmRSS`` in /proc/PID/status) is read once it is
warm (a few requests and sockets served and gone), then again with ``--sockets``
display sockets connected, each past its snapshot and idle; the difference over
the number of sockets is the cost of one. Repeated for ``--rounds`` fresh servers.
Kernel socket buffers are not in RSS (an idle socket's are empty).

    .venv/bin/python bench/bench_memory.py --sockets 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_fanout import Clients, Http, raise_file_limit, running


def settle(server_rss: Callable[[], int], seconds: float = 2.0) -> int:
    """RSS once the connect burst has settled."""
    time.sleep(seconds)
    return server_rss()


def one_round(sockets: int) -> dict[str, float]:
    with running() as server:
        http = Http(server)
        desk = http.login("desk")
        for service in ("register", "photo", "pension", "transfer"):
            assert http.call("POST", "/api/halls/demo/tickets", {"services": [service]}, desk)[0] == 201
        # warm up: every code path of a display socket runs once before the baseline
        warm = Clients(server, 20, marker='"never"')
        warm.wait_ready()
        warm.close()
        http.call("GET", "/api/halls/demo/state")
        before = settle(server.rss_kb)
        clients = Clients(server, sockets, marker='"never"')
        try:
            assert clients.wait_ready() == sockets
            after = settle(server.rss_kb, 3.0)
        finally:
            clients.close()
            http.close()
    return {"before_kb": before, "after_kb": after, "per_socket_kb": (after - before) / sockets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    raise_file_limit(args.sockets * 2 + 512)
    rows = [one_round(args.sockets) for _ in range(args.rounds)]
    print(f"\nidle display sockets on one server process: {args.sockets} per round")
    print(f"{'round':>5} {'RSS before (KB)':>16} {'RSS after (KB)':>15} {'per socket (KB)':>16}")
    for i, row in enumerate(rows, start=1):
        print(f"{i:>5} {row['before_kb']:>16.0f} {row['after_kb']:>15.0f} {row['per_socket_kb']:>16.1f}")
    per_socket = sorted(row["per_socket_kb"] for row in rows)
    print(f"median per socket: {per_socket[len(per_socket) // 2]:.1f} KB (target ≤ 30 KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
