"""Hardening of the process tree: one server per data folder, no orphans, no twins.

Each test runs the real ``hallq serve`` with its embedded redis-server and kills parts
of it the way an operator, a crash or a process manager would.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import (
    EmbeddedServer,
    alive,
    health,
    redis_child,
    wait_for,
    worker_children,
)


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


def test_a_second_server_on_the_same_data_folder_is_refused(embedded_server: EmbeddedServer) -> None:
    first = embedded_server
    assert first.process is not None
    ticket = first.issue(["register"])["ticket"]
    sock = first.data_dir / "redis" / "redis.sock"
    inode = sock.stat().st_ino
    twin = EmbeddedServer(first.data_dir, env={"HALLQ_LOCK_WAIT_S": "1"})
    process = twin.launch()
    assert process.wait(30) == 3
    assert "is in use by another hallq server" in twin.log_text()
    assert f"pid {first.process.pid}" in twin.log_text()
    # the live server's socket was left alone, and it goes on serving
    assert sock.stat().st_ino == inode
    assert health(first) == 200
    assert first.request("GET", f"/api/tickets/{ticket['token']}")[0] == 200
    assert first.issue(["register"])["ticket"]["number"] == "A002"


def test_killing_the_process_group_leaves_no_redis_and_a_restart_has_everything(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    try:
        assert server.process is not None
        issued = [server.issue(["register"])["ticket"] for _ in range(3)]
        redis = redis_child(server.process.pid)
        assert redis is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        # the redis-server (in a session of its own) hears its parent die and stops cleanly
        wait_for(lambda: not alive(redis), 10, "the orphaned redis-server to stop")
        again = EmbeddedServer(server.data_dir, port=server.port)
        again.start()
        try:
            assert again.process is not None
            assert len([c for c in [redis_child(again.process.pid)] if c]) == 1
            for ticket in issued:
                status, found = again.request("GET", f"/api/tickets/{ticket['token']}")
                assert status == 200 and found["ticket"]["number"] == ticket["number"]
            assert again.issue(["register"])["ticket"]["number"] == "A004"
        finally:
            again.stop()
    finally:
        server.stop()


def test_killing_only_the_parent_stops_its_workers_and_redis(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data", workers=2)
    server.start()
    try:
        assert server.process is not None
        wait_for(lambda: len(worker_children(server.process.pid)) == 2, 20, "two workers")  # type: ignore[union-attr]
        workers = worker_children(server.process.pid)
        redis = redis_child(server.process.pid)
        assert redis is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        wait_for(lambda: not any(alive(p) for p in [*workers, redis]), 15, "workers and redis to stop")
        # nobody serves on the port any more
        time.sleep(0.2)
        assert health(server) is None
    finally:
        server.stop()
        for pid in [*worker_children(server.process.pid if server.process else 0)]:
            os.kill(pid, signal.SIGKILL)
