"""How long from an event to a healthy webhook receiver, against a display socket's lag?

Starts a real ``hallq serve`` (embedded redis-server, durable, as deployed) with the demo
hall and one ``[[webhooks]]`` receiver (``events = ["*"]``): a local ``http.server`` in a
thread that answers 200, checks every signature and notes when each seq arrived. In the same
run a lobby display WebSocket (``/ws/halls/demo/display``) notes when each seq reached it: the
baseline, the path every screen takes.

Then ``--events`` tickets are issued over HTTP, one every ``--gap`` seconds (a busy hall's
pace, bounded, loopback only). For each event the lag is ``arrival - event["at"]``: ``at`` is
the epoch ms the Lua script stamped (Redis's clock, this machine's), ``arrival`` this process's
``time.time()`` when the POST (or the frame) came in.

Usage: python -m bench.bench_webhooks [--events 300] [--gap 0.05] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from server.config import demo_text
from server.webhook_rules import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serving

SECRET = "bench-secret"


class Receiver:
    """A healthy receiver: 200 at once; notes (seq → arrival, signature valid)."""

    def __init__(self) -> None:
        self.port = serving.free_port()
        self.arrived: dict[int, float] = {}
        self.at: dict[int, int] = {}
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would

            def do_POST(self) -> None:
                now = time.time()
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if not verify(SECRET, raw, self.headers.get("X-Hallq-Signature", "")):
                    receiver.bad_signatures += 1
                event = json.loads(raw)
                receiver.arrived.setdefault(int(event["seq"]), now)
                receiver.at[int(event["seq"])] = int(event["at"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def hallq_server(data: Path, hall_file: Path, workers: int) -> Iterator[str]:
    """A real ``hallq serve`` with its own embedded Redis in ``data``, serving ``hall_file``."""
    args = ["--config", str(hall_file), "--workers", str(workers)]
    with serving.hallq_server(data, args, timeout=30) as url:
        yield url


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, int(-(-q * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


async def measure(url: str, receiver: Receiver, events: int, gap: float) -> dict[str, Any]:
    display: dict[int, float] = {}
    display_at: dict[int, int] = {}
    ws_url = url.replace("http://", "ws://") + "/ws/halls/demo/display"

    async def follow() -> None:
        async with connect(ws_url) as ws:
            async for frame in ws:
                now = time.time()
                message = json.loads(frame)
                if "seq" in message and "at" in message and message.get("type") != "snapshot":
                    display.setdefault(int(message["seq"]), now)
                    display_at[int(message["seq"])] = int(message["at"])

    follower = asyncio.create_task(follow())
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        await asyncio.sleep(1.0)  # the socket is live, the receiver's lease is taken
        # a desk login: staff are exempt from the anonymous rate limit
        login = await http.post("/api/auth/login", json={"hall": "demo", "staff": "desk", "pin": "1234"})
        login.raise_for_status()
        desk = {"Authorization": "Bearer " + login.json()["token"]}
        services = ("register", "transfer", "pension", "photo")
        for n in range(events):
            answer = await http.post("/api/halls/demo/tickets", json={"services": [services[n % 4]]}, headers=desk)
            answer.raise_for_status()
            await asyncio.sleep(gap)
        state = (await http.get("/api/halls/demo/state")).json()
    last = int(state["seq"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (len(receiver.arrived) < last or len(display) < last):
        await asyncio.sleep(0.1)
    follower.cancel()
    seqs = [s for s in range(1, last + 1) if s in receiver.arrived and s in display]
    first_seq = seqs[0] if seqs else None
    hook = [(receiver.arrived[s] * 1000 - receiver.at[s]) for s in seqs]
    screen = [(display[s] * 1000 - display_at[s]) for s in seqs]
    return {
        "events": last,
        "first_seq": first_seq,
        "webhook_delivered": len(receiver.arrived),
        "display_received": len(display),
        "bad_signatures": receiver.bad_signatures,
        "webhook_lag": summary(hook),
        "display_lag_baseline": summary(screen),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between two tickets")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="hallq-bench-") as tmp:
        hall_file = Path(tmp) / "hall.toml"
        hall_file.write_text(
            demo_text() + f'\n[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\nevents = ["*"]\n',
            encoding="utf-8",
        )
        with hallq_server(Path(tmp), hall_file, args.workers) as url:
            result = asyncio.run(measure(url, receiver, args.events, args.gap))
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
