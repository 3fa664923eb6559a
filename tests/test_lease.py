"""server/lease.py: one holder at a time, and only the holder renews or gives it back."""

from __future__ import annotations

from redis.asyncio import Redis

from server import lease

KEY = "hallq:{demo}:test:lease"


async def test_one_holder_and_only_the_holder_renews_or_releases(redis: Redis) -> None:
    assert await lease.hold(redis, KEY, "a", 10_000)
    assert not await lease.take(redis, KEY, "b", 10_000)
    assert not await lease.hold(redis, KEY, "b", 10_000)
    assert not await lease.renew(redis, KEY, "b", 60_000)
    await lease.release(redis, KEY, "b")  # not b's to give back
    assert await redis.get(KEY) == "a" and await redis.pttl(KEY) <= 10_000
    assert await lease.hold(redis, KEY, "a", 60_000)  # renewed by its holder
    assert await redis.pttl(KEY) > 10_000
    await lease.release(redis, KEY, "a")
    assert await lease.hold(redis, KEY, "b", 10_000)


async def test_an_expired_lease_is_taken_over(redis: Redis) -> None:
    assert await lease.take(redis, KEY, "a", 1)
    await redis.delete(KEY)  # as its expiry would
    assert not await lease.renew(redis, KEY, "a", 10_000)
    assert await lease.hold(redis, KEY, "b", 10_000)
