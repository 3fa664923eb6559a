"""hallq on Redis Sentinel and Redis Cluster, real servers (Debian's redis-server 7).

The engine's core (issue, request_id replays, resync with since=, exactly-once with
twenty windows calling at once) against both; a master killed with -9 under load
behind Sentinel (no acknowledged ticket lost or doubled, screens gap-free, the old
master's return acknowledges nothing); a cluster whose halls live on different
masters, one of which dies with its replica (the others serve on, /healthz names it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from server import backup, store
from server.config import demo_text
from server.hall_model import Staff
from server.queue.constants import keys_prefix
from server.queue.engine import Engine
from server.store import ClusterAcks, async_client, parse
from tests.cluster_fixtures import Cluster, RedisNode, SentinelSet
from tests.conftest import HallClock
from tests.live import LiveServer
from tests.test_engine_concurrency import twenty_window_hall

pytestmark = pytest.mark.long


async def engine_core(url: str) -> None:
    """Issue, replay, resync and exactly-once on the store at ``url`` (WAIT 1 replica)."""
    spec = parse(url)
    client = async_client(spec, max_connections=32, socket_timeout=5.0)
    acks = ClusterAcks(client, spec) if spec.kind == "cluster" else None
    hall = twenty_window_hall()
    clock = HallClock()
    engine = Engine(client, hall, secret=b"k", clock=clock, min_call_interval_s=0, wait_replicas=1, acks=acks)
    try:
        first = await engine.issue(["register"], request_id="r1")
        again = await engine.issue(["register"], request_id="r1")
        assert again["ticket"]["token"] == first["ticket"]["token"] and again["seq"] == first["seq"]
        issued = [first["ticket"]["token"]]
        issued += [(await engine.issue(["photo"]))["ticket"]["token"] for _ in range(59)]
        since = first["seq"]
        replay = await engine.events_after(since)
        assert replay is not None and [e["seq"] for e in replay] == list(range(since + 1, since + 60))
        called: list[str] = []

        async def clerk(window: str) -> None:
            staff = Staff(f"c{window}", f"Clerk {window}", "clerk", "")
            while True:
                answer = await engine.act(window, "call_next", staff)
                if answer["ticket"] is None:
                    return
                called.append(answer["ticket"]["token"])

        await asyncio.wait_for(asyncio.gather(*(clerk(str(n)) for n in range(1, 21))), 60)
        assert sorted(called) == sorted(issued)  # each exactly once
        snapshot = await engine.snapshot()
        events = await engine.events_after(0)
        assert events is not None and [e["seq"] for e in events] == list(range(1, snapshot["seq"] + 1))
    finally:
        if acks is not None:
            await acks.aclose()
        await store.aclose(client)


def backup_and_restore(url: str, folder: Path) -> None:
    """``hallq backup`` then ``hallq restore --force`` through the same URL: the hall comes back."""
    path = str(folder / "city.hallq")
    made = backup.write_backup(url, path)
    assert "demo" in made, made
    restored = backup.restore_backup(url, path, force=True)
    assert restored.split(":", 1)[1].strip().startswith("demo (seq "), restored


async def test_engine_core_on_sentinel(sentinel_set: SentinelSet, tmp_path: Path) -> None:
    await engine_core(sentinel_set.url)
    await asyncio.to_thread(backup_and_restore, sentinel_set.url, tmp_path)


async def test_engine_core_on_cluster(redis_cluster: Cluster, tmp_path: Path) -> None:
    await engine_core(redis_cluster.url)
    await asyncio.to_thread(backup_and_restore, redis_cluster.url, tmp_path)


async def test_a_full_cluster_client_makes_commands_wait_instead_of_failing(redis_cluster: Cluster) -> None:
    """Two connections per node and 300 commands at once (a thousand screens reconnecting):
    every one is answered; redis-py's own cluster pool raised MaxConnectionsError for most."""
    client = async_client(parse(redis_cluster.url), max_connections=2, socket_timeout=5.0)
    try:
        keys = [f"hallq:{{hall{i % 30}}}:probe" for i in range(300)]
        answers = await asyncio.gather(*(client.incr(key) for key in keys))
        assert len(answers) == 300 and sum(await asyncio.gather(*(client.incr(k, 0) for k in set(keys)))) == 300
    finally:
        await client.aclose()


async def test_a_full_cluster_client_makes_pipelines_wait_too(redis_cluster: Cluster) -> None:
    """Pipelines (a staff session's lookup, the rate limit, statistics) wait for a place like
    single commands: 300 at once on two connections per node are all answered (redis-py's
    cluster pipeline took connections past the client's places and raised MaxConnectionsError;
    seen as 503s while a city's clerks logged in with a smaller pool)."""
    client = async_client(parse(redis_cluster.url), max_connections=2, socket_timeout=5.0)

    async def lookup(i: int) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            pipe.incr(f"hallq:{{hall{i % 30}}}:probe")
            pipe.get(f"hallq:{{hall{i % 30}}}:config")
            answer: list[Any] = await pipe.execute()
            return answer

    try:
        answers = await asyncio.gather(*(lookup(i) for i in range(300)))
        assert len(answers) == 300
        counts = await asyncio.gather(*(client.incr(f"hallq:{{hall{n}}}:probe", 0) for n in range(30)))
        assert sum(counts) == 300
    finally:
        await client.aclose()


# --- a live server through a failover -----------------------------------------------


class Screen:
    """A lobby display that reconnects with since= like the real page, recording what it saw."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seq = 0
        self.gaps: list[tuple[int, int]] = []
        self.statuses: list[str] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        while not self.stop.is_set():
            since = f"?since={self.seq}" if self.seq else ""
            try:
                async with connect(self.url + since, open_timeout=5, proxy=None) as ws:
                    while not self.stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            self.take(json.loads(await asyncio.wait_for(ws.recv(), 0.5)))
            except (OSError, ConnectionClosed, InvalidHandshake, InvalidStatus, TimeoutError):
                await asyncio.sleep(0.2)

    def take(self, message: dict[str, Any]) -> None:
        if message.get("type") == "snapshot":
            self.seq = int(message["seq"])
        elif message.get("type") == "status":
            self.statuses.append(str(message["redis"]))
        elif "seq" in message:
            seq = int(message["seq"])
            if seq != self.seq + 1:
                self.gaps.append((self.seq, seq))
            self.seq = seq


def staff_token(server: LiveServer, hall: str = "demo") -> str:
    deadline = time.monotonic() + 20
    while True:
        status, body = server.request("POST", "/api/auth/login", {"hall": hall, "staff": "s01", "pin": "1234"})
        if status == 200:
            return str(body["token"])
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def issue_until_acknowledged(server: LiveServer, token: str, hall: str, deadline: float) -> dict[str, Any] | None:
    """One ticket, retried with its request_id until acknowledged (None past the deadline)."""
    rid = uuid.uuid4().hex
    while time.monotonic() < deadline:
        try:
            status, body = server.request(
                "POST", f"/api/halls/{hall}/tickets", {"services": ["register"], "request_id": rid}, token
            )
        except OSError:
            status, body = 0, None
        if status == 201:
            return dict(body["ticket"])
        time.sleep(0.05)
    return None


def test_sentinel_failover_loses_nothing_acknowledged(
    sentinel_set: SentinelSet, live_data: Path, tmp_path: Path
) -> None:
    server = LiveServer(sentinel_set.url, tmp_path)
    server.start(timeout=60)
    acknowledged: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop = threading.Event()
    loop = asyncio.new_event_loop()
    screen = Screen(f"{server.ws_url}/ws/halls/demo/display")
    screen_thread = threading.Thread(target=loop.run_until_complete, args=(screen.run(),), daemon=True)
    try:
        token = staff_token(server)
        screen_thread.start()

        def issuer() -> None:
            while not stop.is_set():
                ticket = issue_until_acknowledged(server, token, "demo", time.monotonic() + 30)
                if ticket is not None:
                    with lock:
                        acknowledged.append(ticket)

        issuers = [threading.Thread(target=issuer, daemon=True) for _ in range(4)]
        for thread in issuers:
            thread.start()
        time.sleep(1.5)
        before = len(acknowledged)
        assert before > 5
        old_port = sentinel_set.master.port
        sentinel_set.master.kill()
        deadline = time.monotonic() + 30
        while sentinel_set.current_master_port() == old_port:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.1)
        # With WAIT 1 the new master, alone, acknowledges nothing (a replica must hold each
        # write). The old master returns empty, believing it is a master, until Sentinel
        # makes it the new master's replica: hallq must not acknowledge anything on it.
        time.sleep(1)
        sentinel_set.master.process = None
        sentinel_set.master.start()
        after_failover = len(acknowledged)
        while len(acknowledged) < after_failover + 20:
            assert time.monotonic() < deadline, "nothing acknowledged after the failover"
            time.sleep(0.2)
        stop.set()
        for thread in issuers:
            thread.join(40)
        status, _state = server.request("GET", "/api/halls/demo/state")
        assert status == 200
        time.sleep(1)
        loop.call_soon_threadsafe(screen.stop.set)
        screen_thread.join(10)

        new_master = RedisNode(tmp_path / "x", port=sentinel_set.current_master_port()).client()
        assert sentinel_set.current_master_port() != old_port
        # 0 acknowledged lost: every 201 is in the store Sentinel now calls master
        for ticket in acknowledged:
            assert (
                new_master.exists(f"{keys_prefix('demo')}t:{ticket['token']}")
                or server.request("GET", f"/api/tickets/{ticket['token']}")[0] == 200
            ), ticket
        # 0 double: no number was acknowledged to two visitors
        numbers = Counter(t["number"] for t in acknowledged)
        assert [n for n, c in numbers.items() if c > 1] == []
        # the screen saw every event after each (re)connect in order, and ends where the hall is
        assert screen.gaps == []
        assert "down" in screen.statuses and screen.statuses[-1] == "up"  # told, never a dark screen
        assert screen.seq == int(server.request("GET", "/api/halls/demo/state")[1]["seq"])
        assert server.request("GET", "/healthz")[0] == 200
    finally:
        stop.set()
        server.stop()
        if not loop.is_running():
            loop.close()


# --- a city on a cluster ----------------------------------------------------------


def halls_on_every_master(cluster: Cluster) -> list[str]:
    """Hall ids whose slots live on three different masters."""
    chosen: dict[int, str] = {}
    for number in range(200):
        hall = f"c{number:02d}"
        owner = cluster.master_of(keys_prefix(hall) + "seq")
        chosen.setdefault(owner.port, hall)
        if len(chosen) == 3:
            return list(chosen.values())
    raise AssertionError("no spread found")


def demo_copies(folder: Path, halls: list[str]) -> list[str]:
    """Hall files in ``folder``: a copy of the demo hall for each id of ``halls``."""
    files = []
    for hall in halls:
        path = folder / f"{hall}.toml"
        path.write_text(demo_text().replace('id = "demo"', f'id = "{hall}"', 1), encoding="utf-8")
        files.append(str(path))
    return files


@contextlib.contextmanager
def city(
    cluster: Cluster, folder: Path, monkeypatch: pytest.MonkeyPatch, halls: list[str]
) -> Iterator[tuple[LiveServer, dict[str, Screen]]]:
    """``hallq serve`` for ``halls`` (copies of the demo hall) on ``cluster``, with one lobby
    screen per hall following it from a thread of its own; all stopped on the way out."""
    monkeypatch.setenv("HALLQ_CONFIG", ":".join(demo_copies(folder, halls)))
    server = LiveServer(cluster.url, folder)
    server.start(timeout=60)
    loop = asyncio.new_event_loop()
    screens = {hall: Screen(f"{server.ws_url}/ws/halls/{hall}/display") for hall in halls}

    async def follow() -> None:
        await asyncio.gather(*(screen.run() for screen in screens.values()))

    screen_thread = threading.Thread(target=loop.run_until_complete, args=(follow(),), daemon=True)
    screen_thread.start()
    try:
        yield server, screens
    finally:
        for screen in screens.values():
            loop.call_soon_threadsafe(screen.stop.set)
        screen_thread.join(10)
        server.stop()
        if not loop.is_running():
            loop.close()


def test_cluster_halls_on_three_masters_and_one_master_lost(
    redis_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    halls = halls_on_every_master(redis_cluster)
    with city(redis_cluster, tmp_path, monkeypatch, halls) as (server, screens):
        time.sleep(1)
        for hall in halls:
            status, body = server.request("POST", f"/api/halls/{hall}/tickets", {"services": ["register"]})
            assert status == 201, (hall, body)
            assert server.request("GET", f"/api/halls/{hall}/state")[1]["seq"] == 1
        assert server.request("GET", "/healthz") == (200, {"status": "ok"})
        # the first hall's master dies with its replica: only that hall is down
        lost = halls[0]
        master = redis_cluster.master_of(keys_prefix(lost) + "seq")
        slot_ports = {master.port}
        for replica in redis_cluster.replicas:
            info = replica.client().info("replication")
            if int(info.get("master_port", 0)) == master.port:
                replica.kill()
                slot_ports.add(replica.port)
        master.kill()
        deadline = time.monotonic() + 20
        while True:
            status, body = server.request("GET", "/healthz")
            if status == 503 and set(body.get("halls", {})) == {lost}:
                break
            assert time.monotonic() < deadline, (status, body)
            time.sleep(0.3)
        for hall in halls[1:]:
            status, body = server.request("POST", f"/api/halls/{hall}/tickets", {"services": ["register"]})
            assert status == 201, (hall, body)
        status, body = server.request("POST", f"/api/halls/{lost}/tickets", {"services": ["register"]})
        assert status == 503, body
        time.sleep(1)
        # every screen is where its hall is: the living halls' saw both events in order,
        # the lost hall's was told its store is down
        assert [screens[h].seq for h in halls] == [1, 2, 2]
        assert all(screen.gaps == [] for screen in screens.values())
        assert screens[lost].statuses[-1:] == ["down"]
        assert all("down" not in screens[h].statuses for h in halls[1:])


def move_slot(cluster: Cluster, key: str, to: RedisNode) -> None:
    """Move the slot of ``key`` (with its keys) to master ``to``, as ``redis-cli --cluster
    reshard`` does for one slot: importing/migrating, MIGRATE, then every master is told."""
    source = cluster.master_of(key)
    slot = int(source.client().execute_command("CLUSTER", "KEYSLOT", key))
    source_id = source.client().execute_command("CLUSTER", "MYID")
    target_id = to.client().execute_command("CLUSTER", "MYID")
    to.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    while keys := source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.client().execute_command("MIGRATE", "127.0.0.1", to.port, "", 0, 5000, "KEYS", *keys)
    for master in cluster.masters:
        master.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_a_hall_whose_slot_moves_is_followed_and_no_other_hall_goes_dark(
    redis_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader polls each master's halls with one script (and /healthz writes their marks
    with one); a slot that moved away makes such a script fail on its old master. The moved
    hall is found and followed on its new master, its screen sees every event in order, and no
    other hall on the old master is ever shown down."""
    # two halls on one master (one of them moves away), one on another (it moves there)
    by_master: dict[int, list[str]] = {}
    for n in range(200):
        by_master.setdefault(redis_cluster.master_of(keys_prefix(f"h{n}") + "seq").port, []).append(f"h{n}")
    (old_port, pair), (new_port, others) = list(by_master.items())[:2]
    moved, stays, there = pair[0], pair[1], others[0]
    halls = [moved, stays, there]
    with city(redis_cluster, tmp_path, monkeypatch, halls) as (server, screens):
        time.sleep(1)
        for hall in halls:
            assert server.request("POST", f"/api/halls/{hall}/tickets", {"services": ["register"]})[0] == 201
        # while quiet, a master is polled with the one script, not a read per hall
        old_master = next(m for m in redis_cluster.masters if m.port == old_port)
        before = old_master.client().info("commandstats")
        time.sleep(1)
        after = old_master.client().info("commandstats")

        def calls(stats: dict[str, Any], command: str) -> int:
            return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))

        assert calls(after, "evalsha") - calls(before, "evalsha") >= 10
        assert calls(after, "xread") == calls(before, "xread")
        # /healthz writes its halls' marks on a master with one script too (server/liveness.py)
        assert server.request("GET", "/healthz") == (200, {"status": "ok"})
        probed = old_master.client().info("commandstats")
        assert calls(probed, "eval") - calls(after, "eval") == 1

        move_slot(
            redis_cluster, keys_prefix(moved) + "seq", next(m for m in redis_cluster.masters if m.port == new_port)
        )
        assert redis_cluster.master_of(keys_prefix(moved) + "seq").port == new_port
        for _ in range(3):
            for hall in halls:
                status, body = server.request("POST", f"/api/halls/{hall}/tickets", {"services": ["register"]})
                assert status == 201, (hall, body)
        deadline = time.monotonic() + 20
        while [screens[h].seq for h in halls] != [4, 4, 4]:
            assert time.monotonic() < deadline, [screens[h].seq for h in halls]
            time.sleep(0.1)
        assert all(screen.gaps == [] for screen in screens.values())
        assert "down" not in screens[stays].statuses and "down" not in screens[there].statuses
        assert server.request("GET", "/healthz") == (200, {"status": "ok"})


def test_a_thousand_halls_on_a_cluster_stop_when_asked(
    redis_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM ends a 1,000-hall server on a cluster within seconds: every hall's senders stop.

    Before, some push loops swallowed their stop (Python 3.11's wait_for, redis-py's cluster
    client mid-command) and the server waited for them forever (seen twice in two tries)."""
    halls = [f"t{number:04d}" for number in range(1000)]
    monkeypatch.setenv("HALLQ_CONFIG", ":".join(demo_copies(tmp_path, halls)))
    server = LiveServer(redis_cluster.url, tmp_path)
    server.start(timeout=120)
    try:
        time.sleep(5)  # every hall's senders in their loops, holding their leases
        assert server.process is not None
        started = time.monotonic()
        server.process.send_signal(15)  # SIGTERM to the server alone, as systemd would
        server.process.wait(30)
        assert time.monotonic() - started < 15, "the server took over 15 s to stop"
        assert "Application shutdown complete" in server.log_path.read_text()
    finally:
        server.kill()
