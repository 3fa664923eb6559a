"""Webhook delivery: every event of a hall POSTed, signed, to each ``[[webhooks]]`` receiver.

Per receiver, in seq order, at least once, across restarts:

- The receiver's cursor, state and lease are :mod:`server.webhook_state`'s: one process at a
  time delivers to a receiver, and only while it holds the lease can it move the cursor.
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
import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import httpx
from redis.exceptions import RedisError

from server import lease, metrics, tasks
from server.events import enrich
from server.outbound import Outbound
from server.webhook_rules import SEQ_HEADER, SIGNATURE_HEADER, backoff, body, shown_url, sign, wants
from server.webhook_state import LeaseLost, ReceiverState, Settings

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.webhooks")

#: Events read from the stream at once.
BATCH = 100
#: Longest wait for new events before looking at the stream again (wake-ups come sooner).
IDLE_S = 1.0
#: Characters of an error kept for the manager page.
ERROR_CHARS = 200


class ReceiverTask(ReceiverState):
    """Delivers one hall's events to one receiver, whenever this process holds its lease."""

    def __init__(self, runtime: Runtime, hall_id: str, rid: str, settings: Settings) -> None:
        super().__init__(runtime, hall_id, rid, settings)
        #: Events this process's hub read (enriched), so a live receiver needs no XRANGE.
        self.handed: deque[tuple[int, dict[str, Any]]] = deque(maxlen=BATCH * 10)
        self.client = Outbound(
            timeout=httpx.Timeout(settings.timeout_s, connect=min(2.0, settings.timeout_s)),
            follow_redirects=False,
            headers={"User-Agent": "hallq-webhooks"},
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"webhook-{self.hall_id}-{self.rid}")

    async def stop(self) -> None:
        await tasks.stop(self.task)
        with contextlib.suppress(RedisError, OSError):
            await lease.release(self.redis, self.lease, self.token)
        await self.client.aclose()

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
                async with asyncio.timeout(self.settings.timeout_s + 1):
                    answer = await self.client.post(hook.url, content=payload, headers=headers)
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
