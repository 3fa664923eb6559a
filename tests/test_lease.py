"""server/lease.py: one holder at a time, and only the holder renews or gives it back."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
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


async def test_only_the_holder_writes_and_a_write_may_renew(redis: Redis) -> None:
    state = "hallq:{demo}:test:state"
    assert await lease.take(redis, KEY, "a", 5_000)
    assert not await lease.write_held(redis, state, KEY, "b", {"cursor": 7})  # not b's lease
    assert await redis.exists(state) == 0
    assert await lease.write_held(redis, state, KEY, "a", {"cursor": 7, "last_error": ""})
    assert await redis.hgetall(state) == {"cursor": "7", "last_error": ""}
    assert await redis.pttl(KEY) <= 5_000  # written, not renewed
    assert await lease.write_held(redis, state, KEY, "a", {"cursor": 8}, renew_ms=60_000)
    assert await redis.hget(state, "cursor") == "8" and await redis.pttl(KEY) > 5_000


async def test_lease_scripts_run_by_their_sha(redis: Redis) -> None:
    """Renewals are the steady traffic of every hall's senders: the script's text is not sent
    with each one (EVALSHA; redis-py loads it again after a SCRIPT FLUSH)."""
    await redis.execute_command("CONFIG", "RESETSTAT")
    assert await lease.take(redis, KEY, "a", 5_000)
    await redis.script_flush()
    for _ in range(5):
        assert await lease.renew(redis, KEY, "a", 5_000)
    calls = await redis.info("commandstats")
    assert calls["cmdstat_evalsha"]["calls"] >= 5
    assert "cmdstat_eval" not in calls


async def test_woken_says_whether_the_event_came() -> None:
    wake = asyncio.Event()
    assert not await lease.woken(wake, 0.01)
    asyncio.get_running_loop().call_later(0.01, wake.set)
    assert await lease.woken(wake, 5)


async def holder_loop(wake: asyncio.Event) -> None:
    """A lease holder's loop as push, SMS and webhooks run it: a round at each wake-up."""
    while True:
        await lease.woken(wake, 5)
        wake.clear()


@pytest.mark.parametrize("ticks", range(5))
async def test_a_loop_stopped_as_it_is_woken_stops(ticks: int) -> None:
    """A stop that comes as the event is set, at each moment of its wake-up (``ticks`` loop
    turns after the set), ends the loop. With ``asyncio.wait_for`` (Python 3.11) the stops at
    0, 1 and 2 turns were swallowed and the loop went on: a 1,000-hall server never finished
    shutting down."""
    wake = asyncio.Event()
    loop = asyncio.create_task(holder_loop(wake))
    for _ in range(3):
        await asyncio.sleep(0)
    wake.set()
    for _ in range(ticks):
        await asyncio.sleep(0)
    loop.cancel()
    done, _ = await asyncio.wait({loop}, timeout=1)
    if not done:  # do not leave it running: then fail
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    assert done and loop.cancelled()
