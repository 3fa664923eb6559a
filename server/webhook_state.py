"""A webhook receiver's timings, its state in Redis and the lease of the one process that delivers to it.

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
  lease (:attr:`Settings.lease_s`) when the holder dies.

:class:`server.webhooks.ReceiverTask` delivers on top of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from server import lease
from server.hall_model import Hall, Webhook
from server.queue.constants import keys_prefix
from server.webhook_rules import receiver_id

if TYPE_CHECKING:
    from server.runtime import Runtime


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


class ReceiverState:
    """One receiver of one hall: its settings, its state hash and its lease, as this process sees them."""

    def __init__(self, runtime: Runtime, hall_id: str, rid: str, settings: Settings) -> None:
        self.runtime = runtime
        self.hall_id = hall_id
        self.rid = rid
        self.settings = settings
        self.key = state_key(hall_id, rid)
        self.lease = self.key + ":lease"
        self.token = secrets.token_hex(8)
        self.wake = asyncio.Event()
        self.renewed = 0.0
        self.prefix = keys_prefix(hall_id)

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
        that cannot be reached now is left to the delivering task's cursor
        (:class:`server.webhooks.ReceiverTask`), which sets it the same way.
        """
        with contextlib.suppress(RedisError, OSError):
            await self._cursor_from_present()

    async def _cursor_from_present(self) -> tuple[int, int]:
        """The hall's seq and the receiver's cursor, which starts there if it had none."""
        seq = int(await self.redis.get(self.prefix + "seq") or 0)
        await self.redis.hsetnx(self.key, "cursor", seq)
        return seq, int(await self.redis.hget(self.key, "cursor") or 0)

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
        values = {name: "" if value is None else value for name, value in fields.items()}
        renewed = time.monotonic()
        written = await lease.write_held(self.redis, self.key, self.lease, self.token, values, self.lease_ms)
        if not written:
            raise LeaseLost
        self.renewed = renewed

    async def _sleep(self, seconds: float, wake: bool = False) -> None:
        """Wait, renewing the lease (and, with ``wake``, return early on a new event)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if wake:
                if await lease.woken(self.wake, min(left, self.settings.lease_s / 3)):
                    return
            else:
                await asyncio.sleep(min(left, self.settings.lease_s / 3))
            if not await self._renew():
                raise LeaseLost
