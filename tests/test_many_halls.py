"""One process serving 150 halls on one Redis: every screen gets its hall's events, and
the process holds a handful of Redis connections (one stream reader for all halls),
not one blocking reader per hall (which ran out of redis-py's pool of 100 and left
the last halls' screens dark)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from websockets.asyncio.client import connect

from server.config import demo_text
from server.embedded import EmbeddedRedis
from server.runtime import REDIS_CONNECTIONS
from tests.live import LiveServer, fresh_database

HALLS = 150


def hall_files(folder: Path, count: int) -> list[str]:
    """``count`` copies of the demo hall, ids h000, h001, …"""
    demo = demo_text()
    files = []
    for number in range(count):
        path = folder / f"h{number:03d}.toml"
        path.write_text(demo.replace('id = "demo"', f'id = "h{number:03d}"', 1), encoding="utf-8")
        files.append(str(path))
    return files


def connections_on(url: str) -> tuple[int, int]:
    """(clients, of which stream readers) on the database of ``url`` (CLIENT LIST)."""
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    try:
        db = int(url.rsplit("/", 1)[1])
        mine = client.client_id()
        clients = [c for c in client.client_list() if int(c["db"]) == db and int(c["id"]) != mine]
        return len(clients), sum(1 for c in clients if c["cmd"] == "xread")
    finally:
        client.close()


async def first_event(url: str, ready: asyncio.Event, count: list[int], timeout: float) -> dict[str, Any]:
    async with connect(url, compression=None, open_timeout=20, proxy=None) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert snapshot["type"] == "snapshot"
        count[0] += 1
        if count[0] == HALLS:
            ready.set()
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if "seq" in message and message.get("type") != "snapshot":
                return dict(message)
            assert message.get("redis") != "down", message


async def test_150_halls_on_one_process_every_screen_gets_its_event(
    redis_server: EmbeddedRedis, live_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLQ_CONFIG", os.pathsep.join(hall_files(tmp_path, HALLS)))
    monkeypatch.setenv("HALLQ_MAX_SOCKETS_PER_ADDRESS", "display=1000,pad=50,visitor=1000")
    url = fresh_database(redis_server)
    server = LiveServer(url, live_data)
    server.start(timeout=60)
    try:
        ready = asyncio.Event()
        opened = [0]
        screens = [
            asyncio.create_task(first_event(f"{server.ws_url}/ws/halls/h{n:03d}/display", ready, opened, 60))
            for n in range(HALLS)
        ]
        await asyncio.wait_for(ready.wait(), 60)
        for n in range(HALLS):
            status, body = await asyncio.to_thread(
                server.request, "POST", f"/api/halls/h{n:03d}/tickets", {"services": ["register"]}
            )
            assert status == 201, body
        events = await asyncio.wait_for(asyncio.gather(*screens), 60)
        assert [e["hall"] for e in events] == [f"h{n:03d}" for n in range(HALLS)]
        assert all(e["type"] == "ticket.issued" and e["seq"] == 1 for e in events)
        # One stream reader for the 150 halls; the rest is the request pool (capped, and
        # filled here by 150 screens' snapshots at once): a constant, not one per hall.
        total, readers = connections_on(url)
        assert readers == 1
        assert total <= REDIS_CONNECTIONS + 2
        # and it stops when asked: every hall's senders end (a stop swallowed by Python 3.11's
        # wait_for kept a 1,000-hall server waiting forever; `stop` would kill it after 10 s)
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 8, "the server took over 8 s to stop on SIGTERM"
    finally:
        server.stop()
