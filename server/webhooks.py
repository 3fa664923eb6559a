"""Webhook delivery: every event of a hall POSTed, signed, to each ``[[webhooks]]`` receiver.

Per receiver, in seq order, at least once, across restarts:

- The receiver's state lives in Redis, in the hash ``hallq:{hall}:webhook:<id>`` (``cursor``: the
  last seq it acknowledged or does not want; the last attempt's time, status and error; the
  failures in a row; when the next retry is due). A new receiver starts at the hall's seq when
  the process that first serves it started (or read the hall file that added it), before that
  process answered any request: it is not flooded with the day so far, and misses nothing the
  server acknowledged after it said it was ready.
- One process delivers to a receiver at a time, whatever the number of workers or servers: it
  holds the lease ``hallq:{hall}:webhook:<id>:lease`` (``SET NX PX``), renews it while it works,
  and every write of the receiver's state checks that it still holds it (one Lua script), so a
  process that lost its lease cannot move the cursor. The others wait and take over within one
  lease (:data:`LEASE_S`) when the holder dies.
- The holder reads the stream after the cursor (``XRANGE``), posts each wanted event and moves
  the cursor only after a 2xx. A failure (non-2xx, refused connection, timeout) is retried after
  :func:`server.webhook_rules.backoff` (1 s doubling to 5 min, jittered) until it succeeds; the
  events behind it wait (the backlog grows). Each receiver has its own task and its own HTTP
  client, so a receiver that is down never delays calls, screens or another receiver.
- Events trimmed from the stream before delivery (a receiver down longer than the hall keeps
  events, ``hall.event_retention``) cannot be sent: that is logged, counted
  (``hallq_webhook_deliveries_total{outcome="trimmed"}``) and delivery goes on from the oldest
  event kept.

:class:`server.webhook_deliveries.Deliveries` runs every receiver's task;
``GET /api/halls/{hall}/webhooks`` (admin, :mod:`server.webhook_report`) reports each receiver
for the manager page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from server import lease, metrics
from server.events import enrich
from server.hall_model import Hall, Webhook
from server.queue.constants import keys_prefix
from server.webhook_rules import SEQ_HEADER, SIGNATURE_HEADER, backoff, body, receiver_id, shown_url, sign, wants

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.webhooks")

#: Events read from the stream at once.
BATCH = 100
#: Longest wait for new events before looking at the stream again (wake-ups come sooner).
IDLE_S = 1.0
#: Characters of an error kept for the manager page.
ERROR_CHARS = 200

# Lua: write the receiver's state only while holding its lease, and renew the lease.
_GUARDED_HSET = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"""


@dataclass(frozen=True)
class Settings:
    """Timings, from the environment (tests and impatient halls shorten them)."""

    backoff_min_s: float = 1.0
    backoff_max_s: float = 300.0
    lease_s: float = 15.0
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls) -> Settings:
        def number(name: str, default: float) -> float:
            value = os.environ.get(name)
            return float(value) if value else default

        timeout = number("HALLQ_WEBHOOK_TIMEOUT_S", 5.0)
        return cls(
            backoff_min_s=number("HALLQ_WEBHOOK_BACKOFF_MIN_S", 1.0),
            backoff_max_s=number("HALLQ_WEBHOOK_BACKOFF_MAX_S", 300.0),
            # the lease must outlast a renewal interval (a third of it) plus the longest POST,
            # or a slow receiver would let a second process start delivering meanwhile
            lease_s=max(number("HALLQ_WEBHOOK_LEASE_S", 15.0), 2 * (timeout + 1)),
            timeout_s=timeout,
        )


def state_key(hall_id: str, rid: str) -> str:
    """The hash of a receiver's cursor and last delivery."""
    return f"{keys_prefix(hall_id)}webhook:{rid}"


class LeaseLost(Exception):
    """Another process now delivers to this receiver."""


class ReceiverTask:
    """Delivers one hall's events to one receiver, whenever this process holds its lease."""

    def __init__(self, runtime: Runtime, hall_id: str, rid: str, settings: Settings) -> None:
        self.runtime = runtime
        self.hall_id = hall_id
        self.rid = rid
        self.settings = settings
        self.key = state_key(hall_id, rid)
        self.lease = self.key + ":lease"
        self.token = secrets.token_hex(8)
        self.wake = asyncio.Event()
        #: Events this process's hub read (enriched), so a live receiver needs no XRANGE.
        self.handed: deque[tuple[int, dict[str, Any]]] = deque(maxlen=BATCH * 10)
        self.renewed = 0.0
        self.prefix = keys_prefix(hall_id)
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_s, connect=min(2.0, settings.timeout_s)),
            follow_redirects=False,
            headers={"User-Agent": "hallq-webhooks"},
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def redis(self) -> Redis:
        return self.runtime.redis

    @property
    def lease_ms(self) -> int:
        return int(self.settings.lease_s * 1000)

    def config(self) -> tuple[Hall, Webhook] | None:
        """The receiver as the hall file says now (it may have been reloaded), or None."""
        hall = self.runtime.halls[self.hall_id].hall
        found = next((w for w in hall.webhooks if receiver_id(w.url) == self.rid), None)
        return (hall, found) if found else None

    async def begin(self) -> None:
        """Fix a new receiver's cursor at the hall's present seq, if it has none yet.

        Called before the process answers requests: had the cursor waited for the lease (or
        for this task's first turn), an event acknowledged meanwhile would be skipped. A store
        that cannot be reached now is left to :meth:`_cursor`, which sets it the same way.
        """
        with contextlib.suppress(RedisError, OSError):
            await self._cursor_from_present()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"webhook-{self.hall_id}-{self.rid}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        with contextlib.suppress(RedisError, OSError):
            await lease.release(self.redis, self.lease, self.token)
        await self.client.aclose()

    # --- the lease ------------------------------------------------------------------

    async def _acquire(self) -> bool:
        taken = await lease.take(self.redis, self.lease, self.token, self.lease_ms)
        if taken:
            self.renewed = time.monotonic()
        return bool(taken) or await self._renew()

    async def _renew(self) -> bool:
        held = await lease.renew(self.redis, self.lease, self.token, self.lease_ms)
        if held:
            self.renewed = time.monotonic()
        return held

    async def _renew_if_due(self) -> None:
        """Renew the lease when a third of it has passed since the last renewal (every write
        of the state renews it too, so a busy receiver costs no extra round trip)."""
        if time.monotonic() - self.renewed > self.settings.lease_s / 3 and not await self._renew():
            raise LeaseLost

    async def _save(self, **fields: Any) -> None:
        """Write the receiver's state, if this process still holds its lease."""
        args: list[Any] = [self.token, self.lease_ms]
        for name, value in fields.items():
            args += [name, "" if value is None else value]
        renewed = time.monotonic()
        written = await self.redis.eval(_GUARDED_HSET, 2, self.key, self.lease, *args)
        if not written:
            raise LeaseLost
        self.renewed = renewed

    async def _sleep(self, seconds: float, wake: bool = False) -> None:
        """Wait, renewing the lease (and, with ``wake``, return early on a new event)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if wake:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), min(left, self.settings.lease_s / 3))
                if self.wake.is_set():
                    return
            else:
                await asyncio.sleep(min(left, self.settings.lease_s / 3))
            if not await self._renew():
                raise LeaseLost

    # --- delivering -----------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                if self.config() is None:
                    await asyncio.sleep(1.0)  # removed from the hall file: the manager stops us
                elif await self._acquire():
                    await self._deliver()
                else:
                    metrics.WEBHOOK_BACKLOG.labels(self.hall_id, self.rid).set(0)
                    await asyncio.sleep(self.settings.lease_s / 3 * (0.5 + secrets.randbelow(1000) / 1000))
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.info("hall %s: webhook %s is delivered by another process now", self.hall_id, self.rid)
            except (RedisError, OSError) as exc:
                log.warning("hall %s: webhook %s paused, redis unreachable: %s", self.hall_id, self.rid, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # never die silently: log and start again
                log.exception("hall %s: webhook %s delivery failed; restarting it", self.hall_id, self.rid)
                await asyncio.sleep(1.0)

    async def _cursor_from_present(self) -> tuple[int, int]:
        """The hall's seq and the receiver's cursor, which starts there if it had none."""
        seq = int(await self.redis.get(self.prefix + "seq") or 0)
        await self.redis.hsetnx(self.key, "cursor", seq)
        return seq, int(await self.redis.hget(self.key, "cursor") or 0)

    async def _cursor(self) -> int:
        """The receiver's cursor; a new receiver starts at the hall's present seq."""
        seq, cursor = await self._cursor_from_present()
        if cursor > seq:
            # the store went back in time (restarted empty, restored from an older copy)
            log.error(
                "hall %s: webhook %s was at seq %d, the store is at %d; following from there",
                self.hall_id,
                self.rid,
                cursor,
                seq,
            )
            await self._save(cursor=seq)
            self.handed.clear()  # events of the store we no longer follow
            cursor = seq
        return cursor

    async def _deliver(self) -> None:
        """While holding the lease: deliver everything after the cursor, then wait for more."""
        cursor = await self._cursor()
        while True:
            if self.config() is None:
                return  # removed from the hall file: the manager stops this task
            self.wake.clear()
            batch = self._handed_after(cursor)
            if batch:
                cursor = await self._deliver_batch(batch)
                continue
            entries: Any = await self.redis.xrange(self.prefix + "events", f"{cursor + 1}-0", "+", count=BATCH)
            if not entries:
                seq = int(await self.redis.get(self.prefix + "seq") or 0)
                metrics.WEBHOOK_BACKLOG.labels(self.hall_id, self.rid).set(max(0, seq - cursor))
                if seq < cursor:
                    cursor = await self._cursor()
                    continue
                await self._sleep(IDLE_S, wake=True)
                await self._renew_if_due()
                continue
            first = int(entries[0][0].split("-")[0])
            if first > cursor + 1:
                lost = first - cursor - 1
                log.error(
                    "hall %s: webhook %s missed events %d..%d: trimmed from the stream before delivery "
                    "(down longer than hall.event_retention); going on from %d",
                    self.hall_id,
                    self.rid,
                    cursor + 1,
                    first - 1,
                    first,
                )
                metrics.WEBHOOK_DELIVERIES.labels(self.hall_id, self.rid, "trimmed").inc(lost)
                await self._save(cursor=first - 1)
                cursor = first - 1
            found = self.config()
            if found is None:
                return
            hall = found[0]
            read = [(int(i.split("-")[0]), enrich(hall, json.loads(f["e"]))) for i, f in entries]
            cursor = await self._deliver_batch(read)

    def _handed_after(self, cursor: int) -> list[tuple[int, dict[str, Any]]]:
        """The events the hub handed over that follow ``cursor`` without a gap, if any."""
        while self.handed and self.handed[0][0] <= cursor:
            self.handed.popleft()
        if not self.handed or self.handed[0][0] != cursor + 1:
            return []
        batch: list[tuple[int, dict[str, Any]]] = []
        for seq, event in self.handed:
            if seq != cursor + 1 + len(batch):
                break
            batch.append((seq, event))
        return batch

    async def _deliver_batch(self, batch: list[tuple[int, dict[str, Any]]]) -> int:
        """Deliver consecutive (seq, enriched event) in order; the new cursor."""
        cursor = batch[0][0] - 1
        skipped = False
        for seq, event in batch:
            found = self.config()
            if found is None:
                raise LeaseLost  # removed from the hall file meanwhile; the cursor stays
            if wants(found[1].events, str(event.get("type", ""))):
                await self._post_until_ok(seq, event, batch[-1][0])
                skipped = False
            else:
                skipped = True
            cursor = seq
        if skipped:
            await self._save(cursor=cursor)
        return cursor

    async def _post_until_ok(self, seq: int, event: dict[str, Any], last_read: int) -> None:
        """POST one event until the receiver answers 2xx, backing off between attempts."""
        attempt = 0
        while True:
            found = self.config()
            if found is None:
                raise LeaseLost  # removed meanwhile; the cursor stays where it is
            hook = found[1]
            payload = body(event)
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(hook.secret, payload),
                SEQ_HEADER: str(seq),
                "X-Hallq-Event": str(event.get("type", "")),
            }
            await self._renew_if_due()
            status: int | None = None
            error = ""
            try:
                answer = await asyncio.wait_for(
                    self.client.post(hook.url, content=payload, headers=headers), self.settings.timeout_s + 1
                )
                status = answer.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                error = _describe(exc, hook.url)
            now = int(time.time() * 1000)
            if not error:
                await self._save(
                    cursor=seq, last_at=now, last_status=status, last_seq=seq, last_error="", failures=0, next_at=""
                )
                metrics.WEBHOOK_DELIVERIES.labels(self.hall_id, self.rid, "ok").inc()
                metrics.WEBHOOK_BACKLOG.labels(self.hall_id, self.rid).set(max(0, last_read - seq))
                if attempt:
                    log.warning(
                        "hall %s: webhook %s delivers again (seq %d after %d failures)",
                        self.hall_id,
                        shown_url(hook.url),
                        seq,
                        attempt,
                    )
                return
            attempt += 1
            wait = backoff(attempt, self.settings.backoff_min_s, self.settings.backoff_max_s)
            await self._save(
                last_at=now, last_status=status, last_error=error, failures=attempt, next_at=now + int(wait * 1000)
            )
            outcome = "http_error" if status is not None else "network_error"
            metrics.WEBHOOK_DELIVERIES.labels(self.hall_id, self.rid, outcome).inc()
            metrics.WEBHOOK_BACKLOG.labels(self.hall_id, self.rid).set(max(1, last_read - seq + 1))
            if attempt == 1 or attempt % 10 == 0:
                log.warning(
                    "hall %s: webhook %s failed at seq %d (%s, %d in a row); retrying in %.1f s",
                    self.hall_id,
                    shown_url(hook.url),
                    seq,
                    error,
                    attempt,
                    wait,
                )
            await self._sleep(wait)


def _describe(exc: BaseException, url: str) -> str:
    """A failure as the manager page shows it: never the URL's credentials or query."""
    text = str(exc) or type(exc).__name__
    text = text.replace(url, shown_url(url))
    return f"{type(exc).__name__}: {text}"[:ERROR_CHARS]
