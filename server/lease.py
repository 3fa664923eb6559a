"""A lease: which one of a deployment's processes does a hall's job now (delivering webhooks,
sending text messages and Web Push notices).

The lease is a Redis key holding its holder's random token with an expiry: taken with
``SET NX PX``, renewed and given back only by the token that holds it, so a process that lost
it (paused, cut off) can neither extend nor delete another's. When the holder dies the key
expires and another process takes over within one lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] the hash, KEYS[2] the lease; ARGV[1] the token, ARGV[2] ms to renew by ('' not),
# then field, value, ...
_WRITE_HELD = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
return 1
"""

#: Each client's registered scripts: called by EVALSHA (the text goes once per connection's
#: server, not with every renewal of every hall's leases).
_scripts: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _script(redis: Any, text: str) -> Any:
    known = _scripts.setdefault(redis, {})
    if text not in known:
        known[text] = redis.register_script(text)
    return known[text]


async def take(redis: Any, key: str, token: str, ms: int) -> bool:
    """Take the free lease ``key`` for ``ms`` milliseconds; whether ``token`` got it."""
    return bool(await redis.set(key, token, nx=True, px=ms))


async def renew(redis: Any, key: str, token: str, ms: int) -> bool:
    """Extend the lease by ``ms`` if ``token`` still holds it; whether it does."""
    return bool(await _script(redis, _RENEW)(keys=[key], args=[token, ms]))


async def hold(redis: Any, key: str, token: str, ms: int) -> bool:
    """Take the lease or renew it: whether ``token`` holds it for the next ``ms``."""
    return await take(redis, key, token, ms) or await renew(redis, key, token, ms)


async def release(redis: Any, key: str, token: str) -> None:
    """Give the lease back, if ``token`` still holds it (another holder's stays)."""
    await _script(redis, _RELEASE)(keys=[key], args=[token])


async def write_held(
    redis: Any, key: str, lease_key: str, token: str, fields: dict[str, Any], renew_ms: int | None = None
) -> bool:
    """Write ``fields`` into hash ``key`` only while ``token`` holds ``lease_key`` (renewing it
    by ``renew_ms`` when given); whether it still held it. A process that lost its lease while
    it worked (paused, cut off) can no longer record what the new holder now owns."""
    args: list[Any] = [token, "" if renew_ms is None else renew_ms]
    for name, value in fields.items():
        args += [name, value]
    return bool(await _script(redis, _WRITE_HELD)(keys=[key, lease_key], args=args))


async def woken(wake: asyncio.Event, seconds: float) -> bool:
    """Wait until ``wake`` is set or ``seconds`` pass; whether it was set.

    How a lease holder's loop waits between rounds. Not ``asyncio.wait_for``: on Python 3.11 it
    swallows a cancellation that comes as the event is set (it returns the result instead), so
    a loop stopped at that moment went on, and a server with 1,000 halls never finished
    shutting down. ``asyncio.timeout`` tells its own timeout from a cancellation.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
    return wake.is_set()
