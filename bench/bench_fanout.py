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
import base64
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.embedded import EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
SEQ = re.compile(rb'"seq":(\d+)')


def raise_file_limit(wanted: int = 8192) -> int:
    """Raise this process's open-file limit (children inherit it); answer the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the server ---------------------------------------------------------------------------


class Server:
    """``hallq serve`` on the Redis a newcomer gets (embedded, append-only, fsync always).

    The bench starts that embedded Redis itself (the same :class:`EmbeddedRedis`
    ``hallq serve`` would start) and passes ``REDIS_URL``, so that it can stop it for
    sure: a ``hallq serve`` stopped by SIGTERM does not stop its embedded Redis.
    """

    def __init__(self, env: dict[str, str] | None = None, redis_url: str | None = None, workers: int = 1) -> None:
        self.workers = workers
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="hallq-bench-"))
        self.redis = None if redis_url else EmbeddedRedis(self.data / "redis", durable=True)
        # calls at machine speed: the double-tap guard (rules.min_call_interval_s) is off
        self.env = {**os.environ, "HALLQ_SECRET": "bench", "HALLQ_MIN_CALL_INTERVAL_S": "0", **(env or {})}
        self.env["REDIS_URL"] = redis_url or (self.redis.url if self.redis else "")
        self.process: subprocess.Popen[bytes] | None = None
        self.start_timeout_s = 30.0  # a city of halls on a cluster takes longer
        #: Take a 503 ``{"status":"degraded"}`` from /healthz as started (the halls serve; some
        #: store check failed): the city bench records it rather than waiting for ever.
        self.accept_degraded = False
        self.health = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
        command = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(self.workers),
        ]
        with (self.data / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.data / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        self.health = "ok"
                        return
            except urllib.error.HTTPError as refused:
                body = refused.read()
                if self.accept_degraded and refused.code == 503 and b'"degraded"' in body:
                    self.health = body.decode(errors="replace")
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hallq serve did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def rss_kb(self) -> int:
        """The server process's resident memory (VmRSS) in KB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def tree_rss_kb(self) -> dict[str, int]:
        """Resident memory (VmRSS, KB) of the server and every process under it, by process name."""
        assert self.process is not None
        found: dict[str, int] = {}
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with contextlib.suppress(OSError):
                        todo += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        found[f"{name} {pid}"] = int(line.split()[1])
        return found


@contextlib.contextmanager
def running(env: dict[str, str] | None = None, redis_url: str | None = None, workers: int = 1) -> Iterator[Server]:
    server = Server(env, redis_url, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Http:
    """A keep-alive JSON client (stdlib), for the driver's few requests."""

    def __init__(self, server: Server) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = self.connection.getresponse()
        raw = answer.read()
        try:
            return answer.status, json.loads(raw)
        except ValueError:  # e.g. a plain-text 500: let the caller's assert show it
            return answer.status, {"text": raw[:500].decode(errors="replace")}

    def login(self, staff: str, pin: str = "1234") -> str:
        return self.login_at("demo", staff, pin)

    def login_at(self, hall: str, staff: str, pin: str = "1234") -> str:
        status, body = self.call("POST", "/api/auth/login", {"hall": hall, "staff": staff, "pin": pin})
        assert status == 200, body
        return str(body["token"])

    def close(self) -> None:
        self.connection.close()


# --- the lean display clients (run in their own process) ------------------------------------


class Listener(Protocol):
    """Where a lean socket reports its text messages (and that it lost its connection)."""

    lost: int

    def message(self, payload: bytes, now: float) -> None: ...


class LeanSocket(asyncio.Protocol):
    """A display client: handshake by hand, unmasked server frames parsed in place, pings answered."""

    def __init__(self, board: Listener, host: str, port: int, path: str) -> None:
        self.board = board
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.board.lost += 1

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise RuntimeError(bytes(buffer[:200]))
            del buffer[: end + 4]
            self.upgraded = True
        while len(buffer) >= 2:
            opcode, size, offset = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < offset + size:
                return
            payload = bytes(buffer[offset : offset + size])
            del buffer[: offset + size]
            if opcode == 0x1:
                self.board.message(payload, now)
            elif opcode == 0x9 and self.transport is not None:  # ping → pong (masked, zero key)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)


class Board:
    """What the clients saw: snapshots, and per call seq how many sockets got it and when the last did."""

    def __init__(self, sockets: int, marker: bytes) -> None:
        self.sockets = sockets
        self.marker = marker
        self.snapshots = 0
        self.lost = 0
        self.counts: dict[int, int] = {}
        self.first: dict[int, float] = {}
        self.ready = asyncio.Event()

    def message(self, payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"snapshot"'):
            self.snapshots += 1
            if self.snapshots == self.sockets:
                self.ready.set()
            return
        if self.marker not in payload:
            return
        match = SEQ.search(payload)
        if match is None:
            return
        seq = int(match.group(1))
        count = self.counts.get(seq, 0) + 1
        self.counts[seq] = count
        if count == 1:
            self.first[seq] = now
        if count == self.sockets:
            # the last socket has it: tell the driver when, and when the first one had it
            sys.stdout.write(f"got {seq} {now:.6f} {self.first.pop(seq):.6f}\n")
            sys.stdout.flush()


async def run_clients(port: int, sockets: int, marker: str, path: str, batch_size: int = 100) -> None:
    """Connect ``sockets`` displays, ``batch_size`` at once, each batch only once the one before
    has its snapshots (a hall's screens coming back together, not all in the same millisecond)."""
    raise_file_limit(sockets + 256)
    board = Board(sockets, marker.encode())
    loop = asyncio.get_running_loop()
    clients: list[LeanSocket] = []
    for start in range(0, sockets, batch_size):
        batch = await asyncio.gather(
            *(
                loop.create_connection(lambda: LeanSocket(board, "127.0.0.1", port, path), "127.0.0.1", port)
                for _ in range(start, min(sockets, start + batch_size))
            )
        )
        clients += [protocol for _transport, protocol in batch]
        deadline = loop.time() + 60
        while board.snapshots + board.lost < len(clients) and loop.time() < deadline:
            await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(board.ready.wait(), 60)
    except TimeoutError:
        raise RuntimeError(f"{board.snapshots} of {sockets} sockets got a snapshot ({board.lost} lost)") from None
    sys.stdout.write(f"ready {len(clients)}\n")
    sys.stdout.flush()
    # run until the driver closes our stdin
    await loop.run_in_executor(None, sys.stdin.read)
    sys.stdout.write(f"lost {board.lost}\n")
    for client in clients:
        if client.transport is not None:
            client.transport.close()


class Listening(Protocol):
    """A server the clients can reach: hallq's or the baseline's."""

    port: int


class Clients:
    """The client process, driven over its stdin/stdout."""

    def __init__(
        self,
        server: Listening,
        sockets: int,
        marker: str = '"ticket.called"',
        path: str = "/ws/halls/demo/display",
        batch: int = 100,
    ) -> None:
        command = [
            sys.executable,
            __file__,
            "--clients-for",
            str(server.port),
            "--sockets",
            str(sockets),
            "--marker",
            marker,
            "--path",
            path,
            "--batch",
            str(batch),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process ended ({self.process.wait()})")
        return line.strip()

    def wait_ready(self) -> int:
        line = self.read()
        assert line.startswith("ready"), line
        return int(line.split()[1])

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


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
