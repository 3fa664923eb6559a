"""Kill -9 under load: a worker, the embedded Redis, an external Redis, the whole server.

Kiosk-like clients issue tickets as fast as they can, each request with its own
``request_id`` and retried with the same id until it is answered (as the kiosk and the
pad do). A lobby screen follows with ``since=`` across every cut. While they run, a part
of the real process tree is killed with SIGKILL (the server is started again when the
whole of it died). Then: every request has exactly one ticket (0 lost, 0 double), every
acknowledged ticket is in the store, and the screen applied every seq once, in order,
with no gap.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from server.embedded import free_port
from tests.processes import EmbeddedServer, redis_child, wait_for, worker_children

pytestmark = pytest.mark.long

LOAD_SECONDS = 24
CLIENTS = 4


#: One service (so one ticket prefix) per kiosk: a prefix has 999 numbers a day, and an unloaded
#: machine issues more than that in LOAD_SECONDS from one kiosk without the pause below.
SERVICES = ("register", "transfer", "pension", "photo")
#: A kiosk's pause after each ticket: at most ~33 tickets a second, well within a prefix's day.
ISSUE_PAUSE_S = 0.03


class Kiosk(threading.Thread):
    """Issues tickets of ``service`` in a loop; each request retried with its request_id until answered."""

    def __init__(self, server: EmbeddedServer, token: str, stop: threading.Event, service: str) -> None:
        super().__init__(daemon=True)
        self.server, self.token, self.stop, self.service = server, token, stop, service
        self.answers: dict[str, dict[str, Any]] = {}
        self.retries = 0

    def issue_once(self, request_id: str) -> dict[str, Any] | None:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
        try:
            body = json.dumps({"services": [self.service], "request_id": request_id})
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
            connection.request("POST", "/api/halls/demo/tickets", body, headers)
            answer = connection.getresponse()
            data = json.loads(answer.read())
        except (OSError, http.client.HTTPException, ValueError):
            return None
        finally:
            connection.close()
        if answer.status == 201:
            return dict(data["ticket"])
        assert answer.status in (502, 503), (answer.status, data)
        return None

    def run(self) -> None:
        while not self.stop.is_set():
            request_id = uuid.uuid4().hex
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                ticket = self.issue_once(request_id)
                if ticket is not None:
                    self.answers[request_id] = ticket
                    time.sleep(ISSUE_PAUSE_S)
                    break
                self.retries += 1
                time.sleep(0.1)
            else:
                raise AssertionError(f"request {request_id} never answered")


async def follow(ws_base: str, stop: asyncio.Event, applied: list[int], **options: Any) -> None:
    """A lobby screen: applies events in seq order, reconnects with since= after every cut.

    ``ws_base`` is the server's (or a proxy's) ws:// address; ``options`` go to ``connect``
    (e.g. short pings, to notice a silent cut as a browser's watchdog does)."""
    while not stop.is_set():
        since = f"?since={applied[-1]}" if applied else ""
        try:
            async with connect(f"{ws_base}/ws/halls/demo/display{since}", open_timeout=3, **options) as ws:
                while not stop.is_set():
                    try:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    if message.get("type") == "snapshot":
                        assert not applied, "a screen that kept its seq must never need a snapshot"
                        applied.append(int(message["seq"]))
                    elif "seq" in message and message.get("type") not in ("status", "ping"):
                        seq = int(message["seq"])
                        if seq <= applied[-1]:
                            continue  # clients drop a seq they have applied
                        assert seq == applied[-1] + 1, f"gap: {applied[-1]} -> {seq}"
                        applied.append(seq)
        except Exception as exc:  # a cut of any kind: reconnect
            if isinstance(exc, AssertionError):
                raise
            await asyncio.sleep(0.2)


def run_under_load(server: EmbeddedServer, kill: Callable[[], None], expect_cuts: bool = True) -> None:
    token = server.login("desk")
    stop = threading.Event()
    kiosks = [Kiosk(server, token, stop, SERVICES[i % len(SERVICES)]) for i in range(CLIENTS)]

    async def scenario() -> list[int]:
        applied: list[int] = []
        stop_screen = asyncio.Event()
        screen = asyncio.create_task(follow(server.ws_url, stop_screen, applied))
        for kiosk in kiosks:
            kiosk.start()
        await asyncio.sleep(LOAD_SECONDS / 3)
        await asyncio.to_thread(kill)
        await asyncio.sleep(LOAD_SECONDS * 2 / 3)
        stop.set()
        for kiosk in kiosks:
            await asyncio.to_thread(kiosk.join, 120)
        # the screen catches up with the last event
        _, state = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/state")
        deadline = time.monotonic() + 20
        while (not applied or applied[-1] < state["seq"]) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stop_screen.set()
        await screen
        return applied

    applied = asyncio.run(scenario())
    answers = {rid: t for kiosk in kiosks for rid, t in kiosk.answers.items()}
    if expect_cuts:
        assert sum(k.retries for k in kiosks) > 0, "the kill must have cut some requests"
    numbers = [t["number"] for t in answers.values()]
    assert len(set(numbers)) == len(numbers), "a request was issued twice"
    _, state = server.request("GET", "/api/halls/demo/state")
    assert sum(state["waiting"].values()) == len(answers), "a ticket was lost or issued twice"
    for ticket in list(answers.values())[:: max(1, len(answers) // 50)]:
        assert server.request("GET", f"/api/tickets/{ticket['token']}")[0] == 200
    assert applied[-1] == state["seq"] and applied == list(range(applied[0], applied[-1] + 1))
    retries = sum(k.retries for k in kiosks)
    print(f"chaos: {len(answers)} tickets acknowledged, {retries} retries, 0 lost, 0 double, screen seqs gap-free")


@pytest.fixture
def server(tmp_path: Path) -> Any:
    live = EmbeddedServer(tmp_path / "data", workers=2)
    live.start()
    yield live
    live.stop()


def test_kill_a_worker_under_load(server: EmbeddedServer) -> None:
    assert server.process is not None
    pid = server.process.pid
    wait_for(lambda: len(worker_children(pid)) == 2, 20, "two workers")

    workers = worker_children(pid)

    def kill() -> None:
        os.kill(workers[0], signal.SIGKILL)

    # a worker between requests takes nothing with it; one in the middle of one is retried
    run_under_load(server, kill, expect_cuts=False)
    wait_for(lambda: len(worker_children(pid)) == 2 and workers[0] not in worker_children(pid), 20, "a new worker")


def test_kill_the_embedded_redis_under_load(server: EmbeddedServer) -> None:
    assert server.process is not None
    pid = server.process.pid

    def kill() -> None:
        redis = redis_child(pid)
        assert redis is not None
        os.kill(redis, signal.SIGKILL)

    run_under_load(server, kill)


def test_kill_the_whole_server_under_load(server: EmbeddedServer) -> None:
    """The parent and everything it started (its process group); a process manager restarts it."""

    def kill() -> None:
        assert server.process is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        for attempt in range(5):  # as systemd's Restart=always would
            try:
                server.start()
                return
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(1)

    run_under_load(server, kill)


class ExternalRedis:
    """A plain Debian redis-server on a free port, durable as a hall's would be (AOF, fsync always)."""

    def __init__(self, data: Path) -> None:
        self.data, self.port = data, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        command = [
            "/usr/bin/redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
        ]
        with (self.data / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.answers, 10, "the external redis-server")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def external_redis(tmp_path: Path) -> Any:
    redis = ExternalRedis(tmp_path / "external-redis")
    redis.start()
    yield redis
    if redis.process is not None and redis.process.poll() is None:
        redis.kill()


@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs Debian's redis-server")
def test_kill_an_external_redis_under_load(tmp_path: Path, external_redis: ExternalRedis) -> None:
    """REDIS_URL's redis-server killed by SIGKILL and started again (as systemd would) after 2 s."""
    live = EmbeddedServer(tmp_path / "data", redis_url=external_redis.url, workers=2)
    live.start()
    try:

        def kill() -> None:
            external_redis.kill()
            time.sleep(2)  # the outage: every request meanwhile answers 503 and is retried
            external_redis.start()

        run_under_load(live, kill)
    finally:
        live.stop()
