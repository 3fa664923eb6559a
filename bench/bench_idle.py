"""What an idle ``hallq serve`` costs: CPU and wakeups of a server nobody uses.

A hall's server idles most of the day, and a city runs many; on these 2-core machines each
wakeup of an idle event loop costs ~1 ms of CPU. The bench starts a real ``hallq serve``
(demo hall, embedded durable Redis started by the bench, so Redis is not counted), waits
``--warmup`` seconds, then reads the CPU time and the context switches (its threads'
wakeups) of the server's process tree over ``--seconds``. Baseline in the same run, rounds
interleaved: a bare ASGI app on uvicorn with hallq's ``ws`` protocol and no access log (the
floor of the stack), and with ``--compare DIR`` the ``hallq serve`` of another checkout (e.g.
``git worktree add /tmp/before <commit>``).

    python bench/bench_idle.py --rounds 3 --seconds 20 [--compare /tmp/before]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import ROOT, Server, free_port, process_tree


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: an ASGI app that answers ``/healthz`` and does nothing else."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def usage(pid: int) -> tuple[float, int]:
    """(CPU seconds, context switches) of every thread of every process under ``pid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    cpu, switches = 0.0, 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{each}/task"):
                with contextlib.suppress(OSError, ValueError):
                    stat = Path(f"/proc/{each}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
                    cpu += (int(stat[11]) + int(stat[12])) / ticks
                    for line in Path(f"/proc/{each}/task/{task}/status").read_text().splitlines():
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            switches += int(line.split()[1])
    return cpu, switches


@contextlib.contextmanager
def bare() -> Iterator[int]:
    """The bare app on uvicorn, as ``hallq serve`` runs it (websockets-sansio, no access log)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.bench_idle:bare_app", "--port", str(port)]
    command += ["--ws", "websockets-sansio", "--no-access-log", "--log-level", "warning", "--lifespan", "off"]
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bare app did not start") from None
                time.sleep(0.05)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)


@contextlib.contextmanager
def hallq(root: Path) -> Iterator[int]:
    """``hallq serve`` of the checkout at ``root`` (its own code, this Python)."""
    server = Server(root=root)
    try:
        server.start()
        assert server.process is not None
        yield server.process.pid
    finally:
        server.stop()


def measure(subject: Any, warmup: float, seconds: float) -> tuple[float, float]:
    """(% of a core, wakeups per second) of ``subject``'s process tree while it idles."""
    with subject as pid:
        time.sleep(warmup)
        cpu0, switches0 = usage(pid)
        time.sleep(seconds)
        cpu1, switches1 = usage(pid)
    return 100 * (cpu1 - cpu0) / seconds, (switches1 - switches0) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--compare", type=Path, help="another checkout whose hallq serve to measure alongside")
    args = parser.parse_args()
    subjects: dict[str, Any] = {"hallq serve": lambda: hallq(ROOT)}
    if args.compare:
        subjects[f"hallq serve ({args.compare})"] = lambda: hallq(args.compare.resolve())
    subjects["bare ASGI app on uvicorn (the floor)"] = bare
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
    for number in range(args.rounds):
        for name, make in subjects.items():
            results[name].append(measure(make(), args.warmup, args.seconds))
            cpu, wakeups = results[name][-1]
            print(f"round {number + 1}: {name}: {cpu:.2f} % of a core, {wakeups:.1f} wakeups/s", flush=True)
    with contextlib.suppress(OSError):
        load = os.getloadavg()[0]
        print(f"\nload average {load:.1f}, {args.seconds:g} s per measurement after {args.warmup:g} s")
    print("\n| idle, one process | % of a core | wakeups / s |\n|---|---|---|")
    for name, rows in results.items():
        cpus = sorted(cpu for cpu, _ in rows)
        wakes = sorted(w for _, w in rows)
        print(f"| {name} | {cpus[0]:.2f}–{cpus[-1]:.2f} | {wakes[0]:.1f}–{wakes[-1]:.1f} |")


if __name__ == "__main__":
    main()
