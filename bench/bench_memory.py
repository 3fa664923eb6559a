"""Idle memory per connected display socket of one ``hallq serve`` process, beside the baseline stack.

The server's resident memory (``VmRSS`` in /proc/PID/status) is read once it is
warm (a few requests and sockets served and gone), then again with ``--sockets``
display sockets connected, each past its snapshot and idle; the difference over
the number of sockets is the cost of one. Repeated for ``--rounds`` fresh servers, each round
followed by the same measurement of the stack a Python team would pick instead (Redis pub/sub +
python-websockets ``broadcast()``, ``pubsub_baseline.py``).
Kernel socket buffers are not in RSS (an idle socket's are empty).

    .venv/bin/python bench/bench_memory.py --sockets 1000
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, Http, Server, free_port, raise_file_limit, running
from lean_clients import Clients
from pubsub_baseline import PubsubServer

from server.embedded import EmbeddedRedis


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


def pubsub_round(sockets: int) -> dict[str, float]:
    """The same measurement on the baseline stack (Redis pub/sub + python-websockets ``broadcast()``)."""
    with tempfile.TemporaryDirectory(prefix="hallq-bench-pubsub-") as folder:
        store = EmbeddedRedis(Path(folder) / "redis", durable=True)
        store.start()
        server = PubsubServer(free_port(), store.url)
        try:
            server.start()
            warm = Clients(server, 20, marker='"never"', path="/")
            warm.wait_ready()
            warm.close()
            server.call()
            before = settle(server.rss_kb)
            clients = Clients(server, sockets, marker='"never"', path="/")
            try:
                assert clients.wait_ready() == sockets
                after = settle(server.rss_kb, 3.0)
            finally:
                clients.close()
        finally:
            server.stop()
            store.stop()
    return {"before_kb": before, "after_kb": after, "per_socket_kb": (after - before) / sockets}


def snapshot(server: Server, folder: Path, n: int) -> tracemalloc.Snapshot:
    """Ask the server (``HALLQ_TRACEMALLOC``) for its n-th tracemalloc snapshot and load it."""
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGUSR2)
    path = folder / f"{server.process.pid}-{n}.snap"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no snapshot from the server")
        time.sleep(0.1)
    return tracemalloc.Snapshot.load(str(path)).filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")]
    )


def short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1].lstrip("/").removeprefix(".11/")
    return filename


def trace_round(sockets: int, top: int) -> None:
    """Where the memory of ``sockets`` idle display sockets goes, by file and by line."""
    with tempfile.TemporaryDirectory(prefix="hallq-trace-") as folder, running({"HALLQ_TRACEMALLOC": folder}) as server:
        http = Http(server)
        desk = http.login("desk")
        for service in ("register", "photo", "pension", "transfer"):
            assert http.call("POST", "/api/halls/demo/tickets", {"services": [service]}, desk)[0] == 201
        warm = Clients(server, 20, marker='"never"')
        warm.wait_ready()
        warm.close()
        http.call("GET", "/api/halls/demo/state")
        time.sleep(2.0)
        rss_before = server.rss_kb()
        before = snapshot(server, Path(folder), 1)
        clients = Clients(server, sockets, marker='"never"')
        try:
            assert clients.wait_ready() == sockets
            time.sleep(3.0)
            rss_after = server.rss_kb()
            after = snapshot(server, Path(folder), 2)
        finally:
            clients.close()
            http.close()
    total = sum(s.size for s in after.statistics("filename")) - sum(s.size for s in before.statistics("filename"))
    print(f"\n{sockets} idle display sockets, one server process under tracemalloc")
    print(f"RSS: {(rss_after - rss_before) / sockets:.1f} KB per socket (tracing inflates it)")
    print(f"traced Python allocations: {total / sockets / 1024:.2f} KB per socket")
    ours: dict[str, list[float]] = {}
    for stat in after.compare_to(before, "traceback"):
        where = "(no hallq frame on the stack)"
        for frame in stat.traceback:  # the allocating frame first
            if frame.filename.startswith(str(ROOT / "server")):
                where = f"{short(frame.filename)}:{frame.lineno}"
                break
        row = ours.setdefault(where, [0.0, 0.0])
        row[0] += stat.size_diff
        row[1] += stat.count_diff
    print(f"\ntop {top} by the innermost hallq line on the stack (what our code caused): bytes and blocks per socket")
    for where, (size, count) in sorted(ours.items(), key=lambda item: -item[1][0])[:top]:
        print(f"{size / sockets:>9.0f} B {count / sockets:>6.1f}  {where}")
    for key in ("filename", "lineno"):
        print(f"\ntop {top} by {key}: bytes and blocks per socket")
        for stat in after.compare_to(before, key)[:top]:
            frame = stat.traceback[0]
            where = short(frame.filename) + (f":{frame.lineno}" if key == "lineno" else "")
            print(f"{stat.size_diff / sockets:>9.0f} B {stat.count_diff / sockets:>6.1f}  {where}")


def tree_round(workers: int, per_worker_speech: bool) -> dict[str, float]:
    """RSS of the whole ``hallq serve`` process tree (its embedded Redis apart) with ``workers``,
    after every worker served a call's audio (so each speech engine in the tree is loaded)."""
    env = {"HALLQ_SPEECH_PER_WORKER": "1"} if per_worker_speech else {}
    with running(env, workers=workers) as server:
        for n in range(workers * 8):  # the kernel spreads new connections over the workers
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            connection.request("GET", f"/audio/demo/zh/A{n + 1:03d}/{n % 5 + 1}.wav")
            answer = connection.getresponse()
            assert answer.status == 200 and len(answer.read()) > 10_000, answer.status
            connection.close()
        time.sleep(2.0)
        tree = server.tree_rss_kb()
    speech = [kb for name, kb in tree.items() if name.startswith("hallq-speech")]
    return {"processes": len(tree), "speech": len(speech), "speech_kb": sum(speech), "total_kb": sum(tree.values())}


def tree_report(rounds: int) -> None:
    print("\nRSS of the hallq serve process tree (embedded Redis apart), audio served by every worker")
    heads = ("workers", 7), ("speech", 11), ("round", 5), ("processes", 9), ("speech procs", 12), ("speech MB", 9)
    print(" ".join(f"{h:>{w}}" for h, w in heads), f"{'tree MB':>8}")
    for workers in (1, 2):
        for per_worker in (True, False):
            for i in range(1, rounds + 1):
                row = tree_round(workers, per_worker)
                print(
                    f"{workers:>7} {'per worker' if per_worker else 'one/host':>11} {i:>5} {row['processes']:>9.0f}"
                    f" {row['speech']:>12.0f} {row['speech_kb'] / 1024:>9.1f} {row['total_kb'] / 1024:>8.1f}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tree",
        action="store_true",
        help="instead: RSS of the whole process tree with 1 and 2 workers, one speech worker per worker "
        "(HALLQ_SPEECH_PER_WORKER=1, the baseline) and one per host",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="instead: tracemalloc snapshots before and after the sockets (HALLQ_TRACEMALLOC), top sites",
    )
    parser.add_argument("--top", type=int, default=15, help="sites shown with --trace")
    args = parser.parse_args()
    if args.trace:
        raise_file_limit(args.sockets * 2 + 512)
        trace_round(args.sockets, args.top)
        return 0
    if args.tree:
        tree_report(args.rounds)
        return 0
    raise_file_limit(args.sockets * 2 + 512)
    # rounds interleaved (hallq, baseline, hallq, …) so that the machine's noise falls on both alike
    rows: dict[str, list[dict[str, float]]] = {"hallq": [], "pubsub": []}
    for _ in range(args.rounds):
        rows["hallq"].append(one_round(args.sockets))
        rows["pubsub"].append(pubsub_round(args.sockets))
    print(f"\nidle display sockets on one server process: {args.sockets} per round")
    print(f"{'stack':>7} {'round':>5} {'RSS before (KB)':>16} {'RSS after (KB)':>15} {'per socket (KB)':>16}")
    for stack, stack_rows in rows.items():
        for i, row in enumerate(stack_rows, start=1):
            print(f"{stack:>7} {i:>5} {row['before_kb']:>16.0f} {row['after_kb']:>15.0f} {row['per_socket_kb']:>16.1f}")
    median = {
        stack: sorted(r["per_socket_kb"] for r in stack_rows)[len(stack_rows) // 2]
        for stack, stack_rows in rows.items()
    }
    print(
        f"median per socket: hallq {median['hallq']:.1f} KB, Redis pub/sub + broadcast() {median['pubsub']:.1f} KB"
        f" (×{median['hallq'] / median['pubsub']:.2f}; goal ≤ 16 KB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
