"""A city on one deployment: many halls, a few busy, over a 3-master Redis Cluster.

One ``hallq serve`` (``--workers`` 1, then 4) serves ``--halls`` copies of the demo hall over a
real Redis Cluster (3 masters with a replica each, Debian's redis-server, started here). Then:

- every hall gets its share of ``--displays`` lobby sockets and ``--phones`` visitors' sockets
  (``/ws/tickets/{token}?follow=moves``, one per issued ticket), held by lean client processes;
- hall ``h0000`` is the measured one: ``--big`` display sockets, and ``--calls`` clerk calls, each
  timed from the HTTP ``call_next`` to the moment its ``ticket.called`` reached the *last* of
  them (the bench_fanout clients);
- meanwhile ``--busy`` other halls call at ``--rate`` calls/s in all (a city's working day);
- before the calls, ``--idle`` seconds with everything connected and nothing happening: the
  server's CPU (every process of its tree) and the redis-servers' over that time;
- Redis client connections on every cluster node, the server tree's RSS, /healthz (at start
  and when idle: a 503 "degraded" is recorded, not waited out);
- at the end, no dark screen: every socket of every hall saw its hall's last seq, and none was
  told ``{"redis":"down"}``.

Sockets connect ``--connect-batch`` (50) at a time, each batch once the one before has its first
message: with a cluster, hallq's per-node pool (64) is not a blocking one, and a hall's 100
screens connecting in the same millisecond got MaxConnectionsError, "redis down" and a close.

    .venv/bin/python bench/bench_city.py --halls 1000 --busy 200 --displays 20000 --phones 20000
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client as http_client
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from city_clients import Background, run_background
from city_probes import cpu_seconds, health, redis_clients, tree_pids
from harness import Http, Server, percentile, raise_file_limit
from lean_clients import Clients

from server.config import demo_text
from tests.cluster_fixtures import start_cluster


def hall_id(n: int) -> str:
    return f"h{n:04d}"


def hall_files(folder: Path, count: int) -> list[str]:
    demo = demo_text()
    paths = []
    for n in range(count):
        path = folder / f"{hall_id(n)}.toml"
        path.write_text(demo.replace('id = "demo"', f'id = "{hall_id(n)}"', 1), encoding="utf-8")
        paths.append(str(path))
    return paths


# --- the measurement -----------------------------------------------------------------------------


def prepare(
    server: Server, halls: int, phones: int, big_calls: int
) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
    """Logins and tickets in every hall (one ticket per phone; the big hall's calls need their own).

    Returns each hall's clerk token (s01), the phones' (hall, socket path) and the 5xx answers met.
    """
    per_hall = phones // halls
    errors: list[str] = []

    def call(http: Http, path: str, body: Any, token: str | None = None) -> Any:
        """A request, again after a 5xx or a dropped connection (as a kiosk would), up to 20 times a
        second apart; each failure kept in ``errors``."""
        for _ in range(20):
            try:
                status, answer = http.call("POST", path, body, token=token)
            except (OSError, http_client.HTTPException) as exc:
                errors.append(repr(exc))
                http.connection.close()  # the next request opens a new one
                time.sleep(1.0)
                continue
            if status < 500:
                assert status in (200, 201), (path, status, answer)
                return answer
            errors.append(f"{status} {str(answer)[:200]}")
            time.sleep(1.0)
        raise RuntimeError(f"{path}: {errors[-1]}")

    def one(n: int) -> tuple[str, str, list[tuple[str, str]]]:
        hall = hall_id(n)
        http = Http(server)
        try:
            desk, clerk = (
                str(call(http, "/api/auth/login", {"hall": hall, "staff": staff, "pin": "1234"})["token"])
                for staff in ("desk", "s01")
            )
            mine = []
            for i in range(per_hall + (big_calls + 5 if n == 0 else 0)):
                body = call(http, f"/api/halls/{hall}/tickets", {"services": [("register", "photo")[i % 2]]}, desk)
                if i < per_hall:
                    mine.append((hall, f"/ws/tickets/{body['ticket']['token']}?follow=moves"))
            return hall, clerk, mine
        finally:
            http.close()

    clerks: dict[str, str] = {}
    paths: list[tuple[str, str]] = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for hall, clerk, mine in pool.map(one, range(halls)):
            clerks[hall] = clerk
            paths += mine
    return clerks, paths, errors


def busy_calls(
    server: Server, clerks: dict[str, str], busy: list[str], rate: float, stop: threading.Event
) -> list[int]:
    """Calls round the busy halls at ``rate`` per second until ``stop``; the HTTP statuses."""
    statuses: list[int] = []
    http = Http(server)
    n = 0
    started = time.monotonic()
    while not stop.is_set() and busy:
        hall = busy[n % len(busy)]
        try:
            status, _ = http.call("POST", f"/api/halls/{hall}/windows/1/actions", {"action": "call_next"}, clerks[hall])
        except (OSError, http_client.HTTPException):
            status = 0  # no answer: counted as failed
            http.connection.close()
        statuses.append(status)
        n += 1
        pause = started + n / rate - time.monotonic()
        if pause > 0:
            stop.wait(pause)
    http.close()
    return statuses


def one_run(args: argparse.Namespace, workers: int, folder: Path) -> dict[str, Any]:
    cluster = start_cluster(folder / f"cluster-{workers}")
    files = hall_files(folder, args.halls)
    env = {"HALLQ_CONFIG": os.pathsep.join(files), "HALLQ_MAX_SOCKETS_PER_ADDRESS": "display=1000000,visitor=1000000"}
    server = Server(env, redis_url=cluster.url, workers=workers)
    server.start_timeout_s = 600
    server.accept_degraded = True
    backgrounds: list[Background] = []
    big: Clients | None = None
    try:
        began = time.monotonic()
        server.start()
        started_s = time.monotonic() - began
        health_at_start = health(server)
        began = time.monotonic()
        clerks, phone_paths, prepare_errors = prepare(server, args.halls, args.phones, args.calls)
        prepared_s = time.monotonic() - began
        # the other halls' displays, spread evenly; the phones; in --client-procs processes
        others = args.displays - args.big
        spec = [(hall_id(1 + n % (args.halls - 1)), "") for n in range(others)]
        spec = [(hall, f"/ws/halls/{hall}/display") for hall, _ in spec] + phone_paths
        chunks = [spec[i :: args.client_procs] for i in range(args.client_procs)]
        began = time.monotonic()
        backgrounds = [Background(server.port, chunk, folder, i, args.connect_batch) for i, chunk in enumerate(chunks)]
        for background in backgrounds:
            assert background.line().startswith("ready")
        big = Clients(server, args.big, path="/ws/halls/h0000/display", batch=args.connect_batch)
        assert big.wait_ready() == args.big
        connected_s = time.monotonic() - began
        pids = tree_pids(server.process.pid) if server.process else []
        time.sleep(3)
        nodes = [n.process.pid for n in cluster.nodes() if n.process is not None]
        cpu_before, redis_before, at = cpu_seconds(pids), cpu_seconds(nodes), time.monotonic()
        time.sleep(args.idle)
        idle_cpu = (cpu_seconds(pids) - cpu_before) / (time.monotonic() - at)
        idle_redis_cpu = (cpu_seconds(nodes) - redis_before) / (time.monotonic() - at)
        load = os.getloadavg()[0]
        connections = redis_clients(cluster)
        health_when_idle = health(server)
        # the city works while h0000 is measured
        stop = threading.Event()
        busy = [hall_id(n) for n in range(1, args.busy + 1)]
        statuses: list[int] = []
        worker = threading.Thread(target=lambda: statuses.extend(busy_calls(server, clerks, busy, args.rate, stop)))
        worker.start()
        http = Http(server)
        last: list[float] = []
        answers: list[float] = []
        try:
            for _ in range(args.calls):
                time.sleep(0.05)
                began = time.monotonic()
                status, body = http.call(
                    "POST", "/api/halls/h0000/windows/1/actions", {"action": "call_next"}, clerks["h0000"]
                )
                answered = time.monotonic()
                assert status == 200 and body["ticket"] is not None, body
                _got, seq, at_last, _first = big.read().split()
                assert int(seq) == body["seq"], (seq, body["seq"])
                last.append((float(at_last) - began) * 1000)
                answers.append((answered - began) * 1000)
        finally:
            stop.set()
            worker.join()
        time.sleep(2)
        truth = {}
        for n in range(args.halls):
            status, body = http.call("GET", f"/api/halls/{hall_id(n)}/state")
            assert status == 200, body
            truth[hall_id(n)] = int(body["seq"])
        http.close()
        dark, down, lost = [], 0, 0
        for background in backgrounds:
            report = background.report()
            lost += report["lost"]
            for hall, row in report["halls"].items():
                down += row["down"]
                if row["min_seq"] < truth[hall]:
                    dark.append(hall)
        tree = server.tree_rss_kb()
        return {
            "workers": workers,
            "started_s": started_s,
            "prepared_s": prepared_s,
            "connected_s": connected_s,
            "idle_cpu": idle_cpu,
            "idle_redis_cpu": idle_redis_cpu,
            "health_at_start": health_at_start,
            "prepare_5xx": len(prepare_errors),
            "prepare_5xx_first": prepare_errors[:3],
            "health_when_idle": health_when_idle,
            "load": load,
            "connections": connections,
            "p50": percentile(last, 50),
            "p99": percentile(last, 99),
            "answer_p50": percentile(answers, 50),
            "answer_p99": percentile(answers, 99),
            "busy_calls": len(statuses),
            "busy_ok": sum(1 for s in statuses if s == 200),
            "dark": sorted(set(dark)),
            "down": down,
            "lost": lost,
            "rss_mb": sum(tree.values()) / 1024,
            "mean_last": statistics.fmean(last),
        }
    except BaseException:
        log = server.data / "server.log"
        if log.exists():
            lines = log.read_text().splitlines()
            paused = [line for line in lines if "push paused" in line]
            rest = [line for line in lines if "push paused" not in line and not line.startswith(("  ", "hallq:"))]
            print(f"--- {log}: {len(paused)} 'push paused' lines; the last others:", file=sys.stderr)
            print("\n".join(rest[-40:]), file=sys.stderr)
        raise
    finally:
        if big is not None:
            big.close()
        for background in backgrounds:
            background.close()
        server.stop()
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--halls", type=int, default=1000)
    parser.add_argument("--busy", type=int, default=200, help="halls calling while h0000 is measured")
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second over the busy halls")
    parser.add_argument("--displays", type=int, default=20000, help="lobby sockets in all, h0000's --big included")
    parser.add_argument("--big", type=int, default=1000, help="display sockets of the measured hall h0000")
    parser.add_argument("--phones", type=int, default=20000, help="visitors' sockets, spread over the halls")
    parser.add_argument("--calls", type=int, default=100, help="measured calls in h0000")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--client-procs", type=int, default=4)
    parser.add_argument(
        "--connect-batch",
        type=int,
        default=50,
        help="sockets connecting at once (more than ~64 of one hall at once on a cluster: see the docs)",
    )
    parser.add_argument("--json")
    parser.add_argument("--background-for", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.background_for:
        asyncio.run(run_background(args.background_for, args.spec, args.connect_batch))
        return 0
    # `timeout` sends SIGTERM: stop like on an error, every process of ours with us
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    raise_file_limit(args.displays + args.phones + 4096)
    rows = []
    with tempfile.TemporaryDirectory(prefix="hallq-city-") as folder:
        for workers in (int(w) for w in args.workers.split(",")):
            rows.append(one_run(args, workers, Path(folder)))
    print(
        f"\n{args.halls} halls ({args.busy} busy at {args.rate:g} calls/s), {args.displays} displays "
        f"({args.big} in h0000), {args.phones} phones, 3-master Redis Cluster"
    )
    print("(idle CPU: of one core, hallq's process tree / the 6 redis-servers; load: 1-min average when idle)")
    print(
        f"{'workers':>7} {'start s':>7} {'connect s':>9} {'idle CPU':>8} {'Redis CPU':>9} {'load':>5}"
        f" {'Redis conns/node':>17} {'p50 ms':>7} {'p99 ms':>7} {'HTTP p99':>8} {'busy ok':>9} {'dark':>5}"
        f" {'down':>5} {'RSS MB':>7}"
    )
    for row in rows:
        conns = row["connections"]
        print(
            f"{row['workers']:>7} {row['started_s']:>7.1f} {row['connected_s']:>9.1f} {row['idle_cpu']:>7.0%}"
            f" {row['idle_redis_cpu']:>8.0%} {row['load']:>5.1f} {max(conns.values()):>8} (Σ {sum(conns.values()):>4})"
            f" {row['p50']:>7.1f} {row['p99']:>7.1f}"
            f" {row['answer_p99']:>8.1f} {row['busy_ok']:>4}/{row['busy_calls']:<4} {len(row['dark']):>5}"
            f" {row['down']:>5} {row['rss_mb']:>7.0f}"
        )
    for row in rows:
        print(
            f"{row['workers']} worker(s): /healthz at start {row['health_at_start']},"
            f" when idle {row['health_when_idle']}; 5xx or dropped while preparing: {row['prepare_5xx']}"
            f" {row['prepare_5xx_first'][:1]}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(not row["dark"] and not row["down"] for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
