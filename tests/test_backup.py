"""``hallq backup`` / ``hallq restore`` through the real CLI, against a real store and real servers.

A backup taken while clerks work restores to a hall that goes on where it was:
ticket numbers and ``seq`` continue, the statistics CSVs are identical, and a screen
that stayed connected resyncs by itself (it gets a ``hall.reset`` event).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis as sync_redis
from websockets.sync.client import ClientConnection, connect

from server.embedded import EmbeddedRedis
from tests.live import LiveServer, fresh_database

ROOT = Path(__file__).resolve().parent.parent
#: websockets follows proxy variables: never for our own loopback servers.
NO_PROXY: dict[str, Any] = {"proxy": None}
PREFIX = "hallq:{demo}:"


def cli(*args: str, redis_url: str | None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HALLQ_DATA")}
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stats_csvs(server: LiveServer, admin: str) -> list[str]:
    """The statistics as a manager downloads them, by every grouping."""
    found = []
    for by in ("service", "window", "clerk", "hour"):
        status, body = server.request("GET", f"/api/halls/demo/stats?format=csv&by={by}", token=admin)
        assert status == 200, body
        found.append(body if isinstance(body, str) else json.dumps(body))
    return found


def work(server: LiveServer, clerk: str) -> None:
    """A morning's little work: tickets of two services, one visit done and rated, one called."""
    for services in (["register"], ["transfer"], ["register"], ["register", "transfer"], ["pension"]):
        server.issue(services)
    status, called = server.act(clerk, "1", "call_next")
    assert status == 200, called
    assert server.act(clerk, "1", "start")[0] == 200
    assert server.act(clerk, "1", "complete")[0] == 200
    token = called["ticket"]["token"]
    assert server.request("POST", f"/api/tickets/{token}/rating", {"score": 4})[0] == 201
    assert server.act(clerk, "1", "call_next")[0] == 200


def state(server: LiveServer) -> dict[str, Any]:
    status, body = server.request("GET", "/api/halls/demo/state")
    assert status == 200
    return dict(body)


@contextlib.contextmanager
def screen(server: LiveServer) -> Iterator[tuple[ClientConnection, int]]:
    """A lobby screen's socket, and the seq of its snapshot."""
    with connect(f"{server.ws_url}/ws/halls/demo/display", **NO_PROXY) as ws:
        first = json.loads(ws.recv(timeout=10))
        assert first["type"] == "snapshot"
        yield ws, int(first["seq"])


def next_event(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    """The next hall event on a screen's socket (pings and status frames skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if "seq" in frame and frame.get("type") not in ("snapshot",):
            return dict(frame)


def drain_to(ws: ClientConnection, seq: int) -> None:
    while next_event(ws)["seq"] < seq:
        pass


def backup(path: Path, redis_url: str | None, *extra: str) -> dict[str, Any]:
    result = cli("backup", "--out", str(path), *extra, redis_url=redis_url)
    assert result.returncode == 0, result.stderr
    header = json.loads(path.read_text().splitlines()[0])
    assert header["format"] == "hallq-backup"
    return dict(header)


def restore(path: Path, redis_url: str | None, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("restore", str(path), *extra, redis_url=redis_url)


def number_of(answer: dict[str, Any]) -> str:
    return str(answer["ticket"]["number"])


# --- REDIS_URL --------------------------------------------------------------------------------


def test_backup_under_live_writes_is_consistent(
    live_server: LiveServer, redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    """Each hall is copied at one instant: never half an action, even with tickets pouring in."""
    admin = live_server.login("admin", "admin1234")
    stop = threading.Event()
    issued = []

    def writer() -> None:
        while not stop.is_set():
            status, body = live_server.request(
                "POST", "/api/halls/demo/tickets", {"services": ["register"]}, token=admin
            )
            assert status == 201, body
            issued.append(body)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        headers = [backup(tmp_path / f"live-{i}.jsonl", live_server.redis_url) for i in range(3)]
    finally:
        stop.set()
        thread.join()
    assert len(issued) > 20 and headers[0]["halls"]["demo"]["seq"] < headers[-1]["halls"]["demo"]["seq"]
    for i, header in enumerate(headers):
        target = fresh_database(redis_server)
        result = restore(tmp_path / f"live-{i}.jsonl", target)
        assert result.returncode == 0, result.stderr
        client = sync_redis.Redis.from_url(target, decode_responses=True)
        try:
            seq = header["halls"]["demo"]["seq"]
            day = client.get(PREFIX + "day")
            events = [json.loads(fields["e"]) for _id, fields in client.xrange(PREFIX + "events")]
            # the copy's seq, its events and its tickets agree: seq 1..seq, then the restore's hall.reset
            assert [e["seq"] for e in events] == list(range(1, seq + 2))
            assert events[-1]["type"] == "hall.reset" and events[-1]["reason"] == "restored"
            tickets = client.lrange(f"{PREFIX}day:{day}", 0, -1)
            assert len(tickets) == sum(1 for e in events if e["type"] == "ticket.issued")
            assert int(client.hget(PREFIX + "waiting", "register") or 0) == len(tickets)
        finally:
            client.close()


def test_wipe_and_restore_while_serving(live_server: LiveServer, tmp_path: Path) -> None:
    admin = live_server.login("admin", "admin1234")
    clerk = live_server.login("s01")
    work(live_server, clerk)
    with screen(live_server) as (ws, _seq):
        before = state(live_server)
        csvs = stats_csvs(live_server, admin)
        header = backup(tmp_path / "hall.jsonl", live_server.redis_url)
        assert header["halls"]["demo"]["seq"] == before["seq"]

        client = sync_redis.Redis.from_url(live_server.redis_url)
        client.flushdb()  # the disaster
        client.close()
        result = restore(tmp_path / "hall.jsonl", live_server.redis_url, "--force")
        assert result.returncode == 0, result.stderr

        # the screen that stayed connected is told, and would resync (HallSocket: hall.reset → snapshot)
        reset = next_event(ws)
        assert (reset["type"], reset["seq"], reset.get("reason")) == ("hall.reset", before["seq"] + 1, "restored")
        after = state(live_server)
        assert after["seq"] == before["seq"] + 1
        assert (after["windows"], after["waiting"], after["recent"]) == (
            before["windows"],
            before["waiting"],
            before["recent"],
        )
        assert stats_csvs(live_server, admin) == csvs
        # numbers and seq continue: 3 register tickets were issued before (A001-A003)
        answer = live_server.issue(["register"])
        assert number_of(answer) == "A004"
        assert next_event(ws)["seq"] == before["seq"] + 2
        # staff sessions came back with the data
        assert live_server.act(clerk, "1", "start")[0] == 200


def test_force_restore_over_a_hall_that_moved_on(live_server: LiveServer, tmp_path: Path) -> None:
    clerk = live_server.login("s01")
    work(live_server, clerk)
    path = tmp_path / "hall.jsonl"
    header = backup(path, live_server.redis_url)
    live_server.issue(["register"])  # A004, lost with the restore
    live_server.issue(["register"])  # A005
    with screen(live_server) as (ws, moved_on):
        refused = restore(path, live_server.redis_url)
        assert refused.returncode == 1 and "--force" in refused.stderr
        assert state(live_server)["seq"] == moved_on  # the refusal changed nothing
        result = restore(path, live_server.redis_url, "--force")
        assert result.returncode == 0, result.stderr
        # seq never goes back (screens would drop new events as seen): it continues from the higher
        reset = next_event(ws)
        assert (reset["type"], reset["seq"]) == ("hall.reset", moved_on + 1)
        assert moved_on > header["halls"]["demo"]["seq"]
        assert number_of(live_server.issue(["register"])) == "A004"
        assert next_event(ws)["seq"] == moved_on + 2


# --- the embedded store under --data ----------------------------------------------------------


def embedded_server(data: Path) -> LiveServer:
    data.mkdir(parents=True, exist_ok=True)
    server = LiveServer("", data)  # REDIS_URL empty: hallq serve starts the embedded store in data/redis
    server.start()
    return server


def redis_processes(data: Path) -> int:
    """redis-server processes working in ``data``/redis (Redis rewrites its command line, not its cwd)."""
    found = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                name = (proc / "comm").read_text().strip()
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if name.startswith("redis-server") and cwd == str((data / "redis").resolve()):
                found += 1
    return found


def test_embedded_store_without_a_server(tmp_path: Path) -> None:
    data = tmp_path / "var"
    server = embedded_server(data)
    try:
        clerk = server.login("s01")
        admin = server.login("admin", "admin1234")
        work(server, clerk)
        before, csvs = state(server), stats_csvs(server, admin)
    finally:
        server.stop()
    path = tmp_path / "hall.jsonl"
    header = backup(path, None, "--data", str(data))  # starts the embedded store for the moment
    assert header["halls"]["demo"]["seq"] == before["seq"]
    assert redis_processes(data) == 0  # and stops it again
    shutil.rmtree(data / "redis")  # the disaster
    result = restore(path, None, "--data", str(data))
    assert result.returncode == 0, result.stderr
    again = restore(path, None, "--data", str(data))
    assert again.returncode == 1 and "--force" in again.stderr
    server = embedded_server(data)
    try:
        after = state(server)
        assert after["seq"] == before["seq"] + 1
        assert (after["windows"], after["waiting"]) == (before["windows"], before["waiting"])
        assert stats_csvs(server, admin) == csvs
        assert number_of(server.issue(["register"])) == "A004"
        assert state(server)["seq"] == before["seq"] + 2
    finally:
        server.stop()


def test_embedded_store_with_a_running_server(tmp_path: Path) -> None:
    data = tmp_path / "var"
    server = embedded_server(data)
    try:
        clerk = server.login("s01")
        work(server, clerk)
        path = tmp_path / "hall.jsonl"
        header = backup(path, None, "--data", str(data))  # through the running server's store
        assert redis_processes(data) == 1
        server.issue(["register"])
        with screen(server) as (ws, moved_on):
            result = restore(path, None, "--data", str(data), "--force")
            assert result.returncode == 0, result.stderr
            assert redis_processes(data) == 1
            assert next_event(ws)["type"] == "hall.reset"
            assert number_of(server.issue(["register"])) == "A004"
            assert state(server)["seq"] == moved_on + 2 > header["halls"]["demo"]["seq"]
    finally:
        server.stop()
    assert redis_processes(data) == 0


def test_a_damaged_backup_changes_nothing(live_server: LiveServer, tmp_path: Path) -> None:
    live_server.issue(["register"])
    path = tmp_path / "hall.jsonl"
    backup(path, live_server.redis_url)
    lines = path.read_text().splitlines()
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "other.jsonl").write_text('{"hello": 1}\n')
    before = state(live_server)
    for name in ("cut.jsonl", "other.jsonl", "missing.jsonl"):
        result = restore(tmp_path / name, live_server.redis_url, "--force")
        assert result.returncode == 1 and name in result.stderr, result.stderr
    assert state(live_server) == before
