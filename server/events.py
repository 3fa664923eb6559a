"""The hub: each hall's events fanned out to its sockets, read by one reader per process.

The :class:`StreamReader` follows every hall's Redis stream (one ``XREAD BLOCK`` over
all of them, from the last seq each hub saw; see server/reader.py); the hub enriches
each event once (the ``announce`` of a call), encodes it once and offers the same
frame to every subscriber: displays first, then pads. Visitors' phones get a
personal message (people ahead, ETA) from :class:`server.trackers.VisitorTracker`.

A subscriber is added *before* its snapshot or replay is read; events arriving
meanwhile wait in its ``pending`` list, and every frame carries its seq, so the
client sees each seq exactly once and in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from server import tasks
from server.fanout import MAX_BEHIND_BYTES, Outlet, text_frame
from server.hall_model import Hall, config_hash
from server.phrasing import PhraseError, announcement
from server.queue.engine import Engine
from server.stats_counter import StatsCounter

log = logging.getLogger("hallq.events")

#: Subscribers served first to last: the lobby must never wait behind phones
#: ("phone": visitors' phones that follow the shared frames, ``?follow=moves``).
KINDS = ("display", "pad", "phone")
#: Sockets written before the fan-out yields to the event loop (HALLQ_FANOUT_SLICE): at ~12 µs
#: a socket, 256 keep each stretch near 3 ms, so a clerk's HTTP answer never waits behind a
#: 10,000-socket call.
FANOUT_SLICE = max(1, int(os.environ.get("HALLQ_FANOUT_SLICE", "256")))
MAX_PENDING = 2_000
#: Seconds between the hub's app-level pings to every socket (HALLQ_HEARTBEAT_S overrides).
HEARTBEAT_S = float(os.environ.get("HALLQ_HEARTBEAT_S", "15"))
#: Replayed events (or bytes) written before waiting for the client to take them: after a
#: drain at most a quarter of MAX_BEHIND_BYTES is unsent, so a chunk never reaches the bound.
REPLAY_BATCH = 200
REPLAY_CHUNK_BYTES = MAX_BEHIND_BYTES // 2


def encode(message: dict[str, Any]) -> tuple[bytes, str]:
    """A message as (WebSocket frame, text), encoded once."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return text_frame(text.encode()), text


def enrich(hall: Hall, event: dict[str, Any]) -> dict[str, Any]:
    """Adds what the stream leaves out because it is a function of the hall file.

    ``ticket.called`` and ``ticket.recalled`` get ``announce`` {lang: {text, audio}};
    a ``clerk`` keeps only its name (:func:`public_clerk`); the statistics facts (``stats``,
    staff ids among them) stay in the stream, where they are counted, and are never sent;
    Lua's empty tables are read back as the lists or objects they stand for.
    """
    event.pop("stats", None)
    if event.get("type") in ("ticket.called", "ticket.recalled"):
        ticket = event.get("ticket") or {}
        try:
            event["announce"] = announcement(hall, ticket.get("number", ""), str(event.get("window", "")))
        except PhraseError:  # one odd event must not stop the hall's reader
            log.exception("cannot phrase the call in event %s", event.get("seq"))
    for holder in (event, event.get("window_state")):
        if isinstance(holder, dict) and isinstance(holder.get("clerk"), dict):
            holder["clerk"] = public_clerk(holder["clerk"])
    if event.get("waiting") == []:
        event["waiting"] = {}
    if isinstance(event.get("reasons"), str):
        # Lua cannot encode an empty list, so the script sends reasons comma-joined
        event["reasons"] = [r for r in event["reasons"].split(",") if r]
    return event


def public_clerk(clerk: dict[str, Any]) -> dict[str, Any]:
    """A clerk as screens show them: the name only. Staff ids are login names (half of a
    credential), so they stay out of everything public: displays, /state, events."""
    return {"name": clerk.get("name") or ""}


@dataclass(eq=False, slots=True)
class Subscriber:
    """One socket following a hall: what it has been sent, and where frames go."""

    kind: str
    outlet: Outlet
    window: str | None = None
    last_seq: int = 0
    pending: list[tuple[int, bytes, str]] | None = field(default_factory=list)

    def deliver(self, seq: int, frame: bytes, text: str) -> bool:
        """Offer an event frame; False when the socket is gone or fell behind."""
        if self.pending is not None:
            if len(self.pending) >= MAX_PENDING:
                return False
            self.pending.append((seq, frame, text))
            return True
        if seq and seq <= self.last_seq:
            return True
        if seq:
            self.last_seq = seq
        return self.outlet.offer(frame, text)

    def deliver_batch(self, items: list[tuple[int, bytes, str]], frames: bytes) -> bool:
        """Offer consecutive events at once: ``frames`` is their frames joined (one write)."""
        if self.pending is not None or items[0][0] <= self.last_seq:
            return all(self.deliver(seq, frame, text) for seq, frame, text in items)
        self.last_seq = items[-1][0]
        return self.outlet.offer_batch(frames, [text for _seq, _frame, text in items])

    def send(self, message: dict[str, Any]) -> bool:
        """Send a message that is not a hall event (snapshot, result, status) now."""
        frame, text = encode(message)
        if "seq" in message and message.get("type") == "snapshot":
            self.last_seq = int(message["seq"])
        return self.outlet.offer(frame, text)

    def go_live(self) -> bool:
        """After the snapshot or replay: flush what arrived meanwhile, then send directly."""
        pending, self.pending = self.pending or [], None
        return all(self.deliver(seq, frame, text) for seq, frame, text in pending)


class HallHub:
    """Follows one hall's event stream and offers every event to its subscribers."""

    def __init__(self, engine: Engine, reader: Redis) -> None:
        self.engine = engine
        self.hall = engine.hall
        self.reader = reader
        self.subscribers: dict[str, set[Subscriber]] = {kind: set() for kind in KINDS}
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.redis_up = True
        self.last_seq = 0
        #: Set when the store went back in time under us: {"at" ms, "from" seq, "to" seq}.
        self.store_reset: dict[str, int] | None = None
        #: Called after a store reset, when everybody was sent a fresh snapshot (trackers resend).
        self.on_reset: list[Callable[[], None]] = []
        self._beat: asyncio.Task[None] | None = None
        #: Fan-out jobs waiting for :meth:`_pump_jobs` (only while a big hall is being written).
        self._jobs: deque[tuple[Any, ...]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self.started = asyncio.Event()
        #: The hall's seq and stream keys as the cluster reader's poll names them (built once:
        #: a poll of 1,000 halls lists them all, 50 times a second).
        self.poll_keys = f"{engine.prefix}seq {self.key}"
        #: Counts the statistics of the events this hub reads (server/stats_counter.py).
        self.stats = StatsCounter(engine)

    # --- subscribers ------------------------------------------------------

    def add(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber.kind].add(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        self.subscribers[subscriber.kind].discard(subscriber)
        subscriber.outlet.close()

    def count(self) -> int:
        return sum(len(s) for s in self.subscribers.values())

    def publish_batch(self, events: list[dict[str, Any]]) -> None:
        """Offer events read together (e.g. a call's ``ticket.completed`` and ``ticket.called``)
        to every subscriber, displays first.

        Each is encoded once, and a live socket gets all their frames in one write:
        with a thousand sockets the writes, not the encoding, are what costs. A hall with
        more than :data:`FANOUT_SLICE` sockets is written in slices by one task that yields
        between them; jobs run in order, so every socket still gets its frames in seq order.
        """
        if not events:
            return
        items = [(int(event.get("seq", 0)), *encode(event)) for event in events]
        frames = b"".join(frame for _seq, frame, _text in items)
        self._fan_out(("events", items, frames, events))

    def _fan_out(self, job: tuple[Any, ...]) -> None:
        """Run a fan-out job now when it is small and none is queued; else queue it for the pump."""
        if self._jobs or self.count() > FANOUT_SLICE:
            self._jobs.append(job)
            if self._pump is None or self._pump.done():
                self._pump = asyncio.get_running_loop().create_task(self._pump_jobs(), name=f"fanout-{self.hall.id}")
            return
        for _ in self._run_job(job, None):
            pass

    async def _pump_jobs(self) -> None:
        """Runs queued fan-out jobs in order, yielding to the event loop every slice."""
        while self._jobs:
            job = self._jobs[0]
            try:
                for _ in self._run_job(job, FANOUT_SLICE):
                    await asyncio.sleep(0)
            except Exception:  # one bad job must not stop the hall's screens
                log.exception("fan-out failed")
            self._jobs.popleft()

    def _run_job(self, job: tuple[Any, ...], size: int | None) -> Iterator[None]:
        """Write a job's frames to its targets (displays first), yielding after every ``size`` sockets."""
        targets = [s for kind in KINDS for s in self.subscribers[kind]]
        if job[0] == "events":
            _kind, items, frames, events = job
            for start in range(0, len(targets), size or len(targets) or 1):
                if start:
                    yield
                for subscriber in targets[start : start + (size or len(targets))]:
                    if subscriber.kind not in self.subscribers or subscriber not in self.subscribers[subscriber.kind]:
                        continue  # removed while an earlier slice was written
                    if not subscriber.deliver_batch(items, frames):
                        # a subscriber that fell behind (or whose socket is gone) is cut off:
                        # it reconnects with since= and resyncs, instead of silently missing events
                        subscriber.outlet.drop()
                        self.remove(subscriber)
            for event in events:
                self._tell_listeners(event)
        else:
            _kind, frame, text, message = job
            for start in range(0, len(targets), size or len(targets) or 1):
                if start:
                    yield
                for subscriber in targets[start : start + (size or len(targets))]:
                    if subscriber.pending is None:
                        subscriber.outlet.offer(frame, text)
            self._tell_listeners(message)

    def _tell_listeners(self, event: dict[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a listener's bug must not stop the hall's screens
                log.exception("event listener failed")

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send a message that is not a hall event (no seq) to every live socket, phones included."""
        frame, text = encode(message)
        self._fan_out(("message", frame, text, message))

    def broadcast_status(self, up: bool) -> None:
        """Tell every socket whether Redis is reachable (``{"type":"status","redis":…}``)."""
        self.broadcast({"type": "status", "redis": "up" if up else "down"})

    async def _heartbeat(self) -> None:
        """``{"type":"ping"}`` every :data:`HEARTBEAT_S`: a browser cannot see a half-open
        connection on a socket it never writes to, so screens reconnect after a silence."""
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            self.broadcast({"type": "ping"})

    # --- the reader -------------------------------------------------------
    # The hub does not read Redis itself: the process's :class:`StreamReader` follows every
    # hall's stream in one XREAD and hands each hub its entries (:meth:`take`).

    @property
    def key(self) -> str:
        """The hall's event stream."""
        return self.engine.prefix + "events"

    def start(self) -> None:
        self._beat = asyncio.create_task(self._heartbeat(), name=f"heartbeat-{self.hall.id}")

    async def stop(self) -> None:
        await tasks.stop(self._beat)
        await tasks.stop(self._pump)
        await self.stats.stop()

    def prime(self, seq: int) -> None:
        """Follow the stream from ``seq`` (the hall's seq when the reader first saw it)."""
        self.last_seq = seq
        self.started.set()

    def mark_down(self, exc: BaseException) -> None:
        """The reader cannot read this hall's stream: every socket is told (never a dark screen)."""
        if self.redis_up:
            self.redis_up = False
            log.error("redis unreachable for hall %s: %s", self.hall.id, exc)
            self.broadcast_status(False)

    async def mark_up(self, current: int | None = None) -> None:
        """The reader reads this hall's stream again: sockets are told, and a store that
        went back in time meanwhile is noticed (``current`` is the hall's seq, if known)."""
        if not self.redis_up:
            self.redis_up = True
            log.warning("redis is reachable again; catching up hall %s from seq %d", self.hall.id, self.last_seq)
            self.broadcast_status(True)
            await self.check_rewind(current)

    async def take(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Publish stream entries read after :attr:`last_seq` (a gap means they were trimmed)."""
        batch: list[dict[str, Any]] = []
        for entry_id, fields in entries:
            seq = int(entry_id.split("-")[0])
            if seq <= self.last_seq:
                continue
            if seq != self.last_seq + 1:
                self.publish_batch(batch)
                batch = []
                await self._resync_all(seq)
            self.last_seq = seq
            batch.append(enrich(self.hall, json.loads(fields["e"])))
        self.publish_batch(batch)
        if batch:
            self.stats.poke()

    async def _resync_all(self, seq: int) -> None:
        """The stream was trimmed past us (a very long outage): send everyone a snapshot."""
        log.warning("events %d..%d were trimmed before this process read them", self.last_seq + 1, seq - 1)
        await self._snapshot_all()

    async def _snapshot_all(self) -> int:
        """Send every live socket a fresh snapshot (its seq replaces theirs); the snapshot's seq."""
        snapshot = await self.snapshot()
        for kind in KINDS:
            for subscriber in list(self.subscribers[kind]):
                if subscriber.pending is None:
                    subscriber.send({"type": "snapshot", "seq": snapshot["seq"], "state": snapshot})
        return int(snapshot["seq"])

    async def check_rewind(self, current: int | None = None) -> None:
        """Notice a store that went back in time (restarted empty, FLUSHALL, a restore of an
        older copy): the hall's seq is below the last one we saw. Log it, remember it for
        /healthz, follow the stream from the store's seq and re-snapshot every socket, so
        no screen stays frozen while it looks connected."""
        if current is None:
            current = int(await self.reader.get(self.engine.prefix + "seq") or 0)
        if current >= self.last_seq:
            return
        log.error(
            "the store of hall %s went back in time: seq %d -> %d (restarted empty, flushed or restored); "
            "every screen gets a fresh snapshot",
            self.hall.id,
            self.last_seq,
            current,
        )
        self.store_reset = {"at": int(time.time() * 1000), "from": self.last_seq, "to": current}
        self.last_seq = max(current, await self._snapshot_all())
        for callback in self.on_reset:
            try:
                callback()
            except Exception:
                log.exception("store reset callback failed")

    async def snapshot(self) -> dict[str, Any]:
        """The hall's state with its seq, ``recent`` calls enriched like live events."""
        state = await self.engine.snapshot()
        state["recent"] = [enrich(self.hall, event) for event in state["recent"]]
        # The hall file this process serves: a page drawn with another (a reload whose
        # hall.config came before this snapshot) reloads itself (reloader.js).
        state["config"] = config_hash(self.hall)
        for window in state.get("windows") or []:
            if isinstance(window.get("clerk"), dict):
                window["clerk"] = public_clerk(window["clerk"])
        return state

    async def catch_up(self, subscriber: Subscriber, since: int | None) -> bool:
        """Bring a new subscriber to the present: replay after ``since``, or a snapshot.

        False when the client did not take the replay (its socket should be closed).
        """
        # None (a snapshot) when events were trimmed, or the client saw seqs this Redis never made.
        events = await self.engine.events_after(since) if since is not None else None
        if events is None:
            state = await self.snapshot()
            subscriber.send({"type": "snapshot", "seq": state["seq"], "state": state})
        else:
            subscriber.last_seq = since or 0
            written = 0
            for count, event in enumerate(events, start=1):
                frame, text = encode(enrich(self.hall, event))
                subscriber.last_seq = int(event["seq"])
                if not subscriber.outlet.offer(frame, text):
                    return False
                written += len(frame)
                # A long replay (up to the 10,000 kept events, megabytes) is paced by the
                # client: written all at once it would exceed the bound of a socket that is
                # behind, be dropped, reconnect with the same since= and never get through.
                if count % REPLAY_BATCH == 0 or written >= REPLAY_CHUNK_BYTES:
                    written = 0
                    if not await subscriber.outlet.drain():
                        return False
        return subscriber.go_live()
