"""What one server process holds: Redis clients, and per hall its engine, hub and trackers.

Nothing here is state of the queue (that lives in Redis only); a process can be
restarted or run beside others at any time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from server import liveness, store
from server.auth import Sessions
from server.embedded import disk_full
from server.events import HallHub
from server.hall_model import Hall
from server.queue.constants import KEY_PREFIX, keys_prefix
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.reader import StreamReader
from server.screens import ScreenRegistry
from server.speech import SpeechService
from server.speech_host import SPEECH_SOCKET, SpeechClient
from server.store import ClusterAcks, StoreSpec, async_client, parse, wait_setting
from server.trackers import PadTracker, VisitorTracker

log = logging.getLogger("hallq")

#: Redis connections of one process for requests and sockets (the hub has its own).
REDIS_CONNECTIONS = 64
#: On a cluster, the commands of one process in flight at once, over all its masters (the
#: others wait for a place, ``QueuedCluster``): each master then holds at most this many of the
#: process's request connections. At 300 halls 8 kept the city's latency (call -> last of
#: 1,000 sockets p99 61 ms, clerk's answer p99 20 ms) with 15 connections per master, not 59.
CLUSTER_CONNECTIONS = 8
#: The key of ID-number hashes, shared by all halls (tagged, so a cluster keeps it in one slot).
SECRET_KEY = KEY_PREFIX + "{_hallq}:secret"
#: Where releases before the tag kept it: still read, so existing hashes keep matching.
LEGACY_SECRET_KEY = KEY_PREFIX + "secret"


@dataclass
class HallRuntime:
    """One hall in this process."""

    hall: Hall
    engine: Engine
    hub: HallHub
    visitors: VisitorTracker
    pads: PadTracker
    screens: ScreenRegistry = field(init=False, repr=False)


@dataclass
class Runtime:
    redis_url: str
    halls_config: list[Hall]
    data_dir: Path
    redis: Redis = field(init=False)
    reader: Redis = field(init=False)
    spec: StoreSpec = field(init=False)
    stream_reader: StreamReader = field(init=False)
    acks: ClusterAcks | None = field(init=False, default=None)
    halls: dict[str, HallRuntime] = field(default_factory=dict)
    sessions: Sessions = field(init=False)
    speech: SpeechService = field(init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    #: Set once the engines have their hashing key (at once with ``HALLQ_SECRET``).
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.spec = parse(self.redis_url)
        # A blocking pool (plain Redis): when a thousand screens reconnect at once (a restart),
        # requests queue for a connection instead of failing with "Too many connections".
        places = CLUSTER_CONNECTIONS if self.spec.kind == "cluster" else REDIS_CONNECTIONS
        self.redis = async_client(self.spec, max_connections=places, socket_timeout=5.0)
        # The stream reader's blocking XREAD gets its own client so it never holds up requests.
        self.reader = async_client(self.spec, max_connections=4, socket_timeout=10.0, blocking=False)
        self.stream_reader = StreamReader(self.reader, self.spec)
        replicas, wait_ms = wait_setting(self.spec)
        self.acks = ClusterAcks(self.redis, self.spec) if self.spec.kind == "cluster" else None
        # Start-up never waits long for Redis: a worker restarted during an outage serves
        # after app.READY_WAIT_S (/healthz 503, the API 503, screens told "redis down") and the key of the
        # ID-number hashes is fetched by ``_connect`` whenever Redis answers, for as long
        # as that takes. Until then :meth:`require_ready` refuses with 503, so nothing is ever
        # hashed with a missing key.
        configured = os.environ.get("HALLQ_SECRET")
        interval = os.environ.get("HALLQ_MIN_CALL_INTERVAL_S")
        for hall in self.halls_config:
            engine = Engine(
                self.redis,
                hall,
                secret=configured.encode() if configured else b"",
                min_call_interval_s=float(interval) if interval else None,
                wait_replicas=replicas,
                wait_timeout_ms=wait_ms,
                acks=self.acks,
            )
            hub = HallHub(engine, self.reader)
            runtime = HallRuntime(hall, engine, hub, VisitorTracker(hub), PadTracker(hub))
            runtime.screens = ScreenRegistry(self.redis, hall.id)
            self.halls[hall.id] = runtime
            hub.listeners.append(self._prewarm_listener(hall))
            hub.start()
            self.stream_reader.add(hub)
        self.stream_reader.start()
        self._tasks.append(asyncio.create_task(self._connect(configured), name="connect"))
        self.sessions = Sessions(self.redis, {h.id: h for h in self.halls_config})
        shared = os.environ.get(SPEECH_SOCKET)  # `hallq serve`: one speech worker for all workers
        self.speech = (
            SpeechClient(self.data_dir / "audio-cache", shared)
            if shared
            else SpeechService(self.data_dir / "audio-cache")
        )
        # No worker yet: it starts at the first phrase missing from the cache. One that cannot
        # start fails that request only (/audio answers 503, screens fall back to the browser's
        # speech); the queue matters more than its voice.
        await self.speech.start()
        self._tasks.append(asyncio.create_task(self._roll_days(), name="rollover"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for runtime in self.halls.values():
            await runtime.hub.stop()
        await self.stream_reader.stop()
        for runtime in self.halls.values():
            await runtime.visitors.refresh.stop()
            await runtime.pads.refresh.stop()
        with contextlib.suppress(Exception):
            await self.speech.stop()
        await store.aclose(self.redis)
        await store.aclose(self.reader)
        if self.acks is not None:
            await self.acks.aclose()

    async def settle_orphans(self, engine: Engine) -> None:
        """Tickets the hall file can no longer serve (a service or window removed) are
        reported here and expired or sent back to their line in one script (see
        :meth:`Engine.orphans`); every worker may run it, the second finds nothing."""
        try:
            found = await engine.orphans()
        except (RedisError, OSError, Refusal) as exc:
            log.warning("hall %s: could not check for orphaned tickets: %s", engine.hall.id, exc)
            return
        for item in found["expired"]:
            log.warning(
                "hall %s: ticket %s (%s, %s) expired: %s",
                engine.hall.id,
                item["number"],
                ",".join(item["services"]),
                item["status"],
                item["reason"],
            )
        for item in found["returned"]:
            log.warning(
                "hall %s: ticket %s went back to its services' line from window %s: %s",
                engine.hall.id,
                item["number"],
                item["window"],
                item["reason"],
            )

    def hall(self, hall_id: str) -> HallRuntime:
        runtime = self.halls.get(hall_id)
        if runtime is None:
            raise Refusal("unknown_hall", f"there is no hall {hall_id!r}")
        return runtime

    def outage_cause(self) -> str | None:
        """Why Redis may be unreachable, when we can tell: ``disk_full`` (the embedded
        Redis's data folder has no space left, so it cannot append to its AOF)."""
        folder = self.data_dir / "redis"
        if folder.is_dir() and disk_full(folder):
            return "disk_full"
        return None

    def require_ready(self) -> None:
        """503 until the engines have their hashing key (Redis answered once since start-up)."""
        if not self.ready.is_set():
            raise Refusal("redis_unavailable", "the queue store is unreachable; try again shortly")

    async def store_problems(self) -> dict[str, str]:
        """Per hall, why its store does not take writes now; empty when every hall's does.

        Each hall's slot gets one small write (``hallq:{hall}:alive``): a read-only replica,
        a node that is down or a MOVED the client cannot follow shows up as that hall's
        error; a hall whose stream reader cannot read is named too (its screens are dark).
        """
        ids = list(self.halls)
        results = await liveness.write_checks(self.redis, self.spec, ids, int(time.time() * 1000))
        problems: dict[str, str] = {}
        for hall_id, result in zip(ids, results, strict=True):
            if result is not None:
                problems[hall_id] = f"not writable: {type(result).__name__}: {result}".strip()
            elif not self.halls[hall_id].hub.redis_up:
                problems[hall_id] = "reader down: its screens cannot get events"
        return problems

    async def _connect(self, configured: str | None) -> None:
        """Wait for Redis as long as it takes, then give every engine the hashing key (the
        configured one, else the one kept in Redis) and settle the tickets the hall files can
        no longer serve."""
        delay = 0.1
        warned = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                secret = configured.encode() if configured else await self._secret()
                await self.redis.ping()
                break
            except (RedisError, OSError) as exc:
                if loop.time() - warned > 10:
                    warned = loop.time()
                    log.warning("waiting for redis at start-up (serving 503 meanwhile): %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        for runtime in self.halls.values():
            runtime.engine.secret = secret
        from server import reload

        # A process reads its files when it is made; another worker may have applied a
        # manager's change since (seen: a worker that finished starting 90 ms after a service
        # was added expired that service's first ticket as "service_removed", with the file it
        # had read before, and announced that older file as the new one). So: follow the file
        # Redis names first, then settle orphans, then announce this process's file.
        follow = reload.config_follower(self)
        for hall_id in list(self.halls):
            stored = await self.redis.get(f"{keys_prefix(hall_id)}config")
            if stored is not None:
                await follow(hall_id, stored.decode() if isinstance(stored, bytes) else str(stored))
        for runtime in self.halls.values():
            await self.settle_orphans(runtime.engine)
        await reload.remember_configs(self)
        self.ready.set()
        log.info("redis reachable; serving")

    async def _secret(self) -> bytes:
        """The key of ID-number hashes: one random key kept in Redis, made on first start."""
        value = await self.redis.get(SECRET_KEY)
        if value is None:
            # First start with the tagged key: carry over the key of an older release (or make one).
            legacy = await self.redis.get(LEGACY_SECRET_KEY)
            await self.redis.set(SECRET_KEY, legacy or secrets.token_hex(32), nx=True)
            value = await self.redis.get(SECRET_KEY)
        return str(value).encode()

    def _prewarm_listener(self, hall: Hall):  # type: ignore[no-untyped-def]
        """Synthesise a ticket's calls when it is issued, so its audio is ready when called."""

        def listener(event: dict[str, object]) -> None:
            if event.get("type") == "ticket.issued":
                ticket = event.get("ticket")
                if isinstance(ticket, dict):
                    services: list[object] = ticket.get("services") or []
                    current = self.halls[hall.id].hall  # the hall file may have been reloaded
                    windows = [w.id for w in current.windows_serving([str(s) for s in services])]
                    self.speech.prewarm(current, str(ticket.get("number")), windows)

        return listener

    async def _roll_days(self) -> None:
        """Starts each hall's new business day at its reset time, even with nobody acting."""
        while True:
            for runtime in self.halls.values():
                try:
                    await runtime.engine.rollover()
                except (RedisError, OSError, Refusal) as exc:  # e.g. no replica confirmed it: next round
                    log.debug("rollover check skipped: %s", exc)
                except Exception:
                    log.exception("rollover of hall %s failed", runtime.hall.id)
            await asyncio.sleep(20)


def runtime_of(connection: HTTPConnection) -> Runtime:
    """This process's runtime, for an HTTP request or a WebSocket alike."""
    runtime: Runtime = connection.app.state.runtime
    return runtime
