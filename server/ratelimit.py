"""Per-client rate limits for anonymous requests, shared by every server process.

A fixed one-minute window counted in Redis (``INCR`` + ``EXPIRE`` in one round
trip), so several ``hallq serve`` processes enforce one limit together.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from server.queue.constants import keys_prefix
from server.queue.errors import Refusal

#: Requests per minute per client address, by scope.
LIMITS = {"issue": 30, "anon": 600, "rate": 30}


class RateLimited(Refusal):
    """Too many requests from one client in a minute (``rate_limited``)."""


async def check(redis: Redis, hall_id: str, scope: str, client: str, now: float | None = None) -> None:
    """Count one request of ``client`` in ``scope``; raise :class:`RateLimited` past the limit."""
    minute = int((now if now is not None else time.time()) // 60)
    key = f"{keys_prefix(hall_id)}rl:{scope}:{client}:{minute}"
    async with redis.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = await pipe.execute()
    if int(count) > LIMITS[scope]:
        raise RateLimited("rate_limited", "too many requests from this device; try again in a minute")
