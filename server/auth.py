"""Staff sessions: PIN login, server-side tokens in Redis (expiring, revocable), roles.

A session token is ``{hall}.{random}``; Redis keeps only its SHA-256, so a copy of
the database holds no usable token.

Failed logins are counted per (staff id, client address): after
:data:`FREE_FAILS` failures that pair must wait 1 s, then 2, 4 … up to
:data:`MAX_DELAY_S` between attempts (429 ``too_many_attempts`` meanwhile, without
checking the PIN). Staff ids are not secret, so a failure never locks the id for
other addresses: a clerk with the right PIN logs in while someone elsewhere
guesses. Each address also has a budget of failures over all ids
(:data:`FAILS_PER_CLIENT` per :data:`FAIL_WINDOW_SECONDS`). An unknown staff id
costs the same scrypt time as a wrong PIN, so timing does not tell which ids exist.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool

from server.hall_model import Hall, Staff
from server.pins import hash_pin, verify_pin
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal

# Role groups a route requires (:func:`require`).
STAFF = ("clerk", "desk", "admin")
CLERKS = ("clerk", "admin")
DESK = ("desk", "admin")
ADMIN = ("admin",)

SESSION_SECONDS = 12 * 3600
#: Failures of one (staff id, address) pair answered without delay.
FREE_FAILS = 3
#: The longest wait between attempts of one (staff id, address) pair.
MAX_DELAY_S = 300
FAILS_PER_CLIENT = 20
FAIL_WINDOW_SECONDS = 900


def delay_after(fails: int) -> int:
    """Seconds a (staff id, address) pair waits after its ``fails``-th failure in a row:
    none for the first :data:`FREE_FAILS` - 1, then 1, 2, 4 … capped at :data:`MAX_DELAY_S`."""
    if fails < FREE_FAILS:
        return 0
    return int(min(2 ** (fails - FREE_FAILS), MAX_DELAY_S))


@functools.cache
def _dummy_hash() -> str:
    """A hash no PIN matches, checked for unknown staff ids (same cost as a real check)."""
    return hash_pin(secrets.token_hex(16))


class AuthError(Refusal):
    """Refusals of the auth layer (not logged in, wrong login, too many attempts)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(code, message, details or None)


@dataclass(frozen=True)
class Session:
    """Who is acting: a staff member of one hall."""

    hall: str
    staff: Staff

    @property
    def role(self) -> str:
        return self.staff.role

    def public(self) -> dict[str, Any]:
        """Who is logged in, as login and ``/api/auth/me`` answer: ``windows`` lists the only
        windows they may serve (null: any)."""
        windows = None if self.staff.windows is None else list(self.staff.windows)
        return {"id": self.staff.id, "name": self.staff.name, "role": self.staff.role, "windows": windows}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pin_mark(staff: Staff) -> str:
    """A short digest of the staff member's PIN hash, kept in each session: a new PIN (a new
    salted hash) no longer matches, so the sessions of the old PIN end on every worker that
    has read the new hall file, even those :meth:`Sessions.end_all` could not find."""
    return hashlib.sha256(b"hallq-pin-mark:" + staff.pin_hash.encode()).hexdigest()[:16]


class Sessions:
    """Login, lookup and logout of staff sessions across every hall of this deployment."""

    def __init__(self, redis: Redis, halls: dict[str, Hall]) -> None:
        self.redis = redis
        self.halls = halls
        #: Called (and awaited) when a session's lookup finds in Redis a hall-file hash this
        #: process has not followed yet (:func:`server.reload.config_follower`): so a manager's
        #: change answered by one worker holds at once for every staff request to any worker.
        self.on_config: Callable[[str, str], Awaitable[None]] | None = None
        self._following: dict[str, tuple[str, asyncio.Future[None]]] = {}

    async def login(self, hall_id: str, staff_id: str, pin: str, client: str) -> tuple[str, Session]:
        hall = self.halls.get(hall_id)
        if hall is None:
            raise Refusal("unknown_hall", f"there is no hall {hall_id!r}")
        prefix = keys_prefix(hall_id)
        pair_key = f"{prefix}loginfail:pair:{client}:{staff_id[:64]}"
        client_key = f"{prefix}loginfail:client:{client}"
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(pair_key, "until")
            pipe.get(client_key)
            until, client_fails = await pipe.execute()
        wait = float(until or 0) - now
        if wait > 0 or int(client_fails or 0) >= FAILS_PER_CLIENT:
            retry = max(1, int(wait + 0.999)) if wait > 0 else FAIL_WINDOW_SECONDS
            raise AuthError(
                "too_many_attempts",
                f"too many failed logins from this device; try again in {retry} s",
                retry_after_s=retry,
            )
        staff = hall.staff_member(staff_id)
        if staff is not None and staff.disabled:
            staff = None  # a disabled login is refused as an unknown one (same time, same answer)
        # scrypt is deliberately slow: keep it off the event loop; an unknown id is checked
        # against a dummy hash so that it takes as long as a wrong PIN
        stored = staff.pin_hash if staff is not None else _dummy_hash()
        valid = await run_in_threadpool(verify_pin, pin, stored) and staff is not None
        if staff is None or not valid:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hincrby(pair_key, "n", 1)
                pipe.expire(pair_key, FAIL_WINDOW_SECONDS)
                pipe.incr(client_key)
                pipe.expire(client_key, FAIL_WINDOW_SECONDS)
                fails, *_ = await pipe.execute()
            delay = delay_after(int(fails))
            if delay:
                await self.redis.hset(pair_key, "until", str(now + delay))
            raise AuthError("bad_credentials", "wrong staff id or PIN")
        await self.redis.delete(pair_key)
        token = f"{hall_id}.{secrets.token_urlsafe(32)}"
        record = json.dumps({"hall": hall_id, "staff": staff.id, "pin": pin_mark(staff)})
        index = f"{prefix}sessions:{staff.id}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{prefix}session:{_digest(token)}", record, ex=SESSION_SECONDS)
            pipe.sadd(index, _digest(token))  # so that a PIN reset or a disable ends them all
            pipe.expire(index, SESSION_SECONDS)
            await pipe.execute()
        return token, Session(hall_id, staff)

    async def end_all(self, hall_id: str, staff_id: str) -> int:
        """End every session of ``staff_id`` now, on every worker (their session keys are
        deleted in Redis); how many were live. A PIN reset and a disable call it."""
        prefix = keys_prefix(hall_id)
        index = f"{prefix}sessions:{staff_id}"
        digests = await self.redis.smembers(index)
        keys = [f"{prefix}session:{d.decode() if isinstance(d, bytes) else d}" for d in digests]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key)
            pipe.delete(index)
            *ended, _ = await pipe.execute()
        return sum(int(n) for n in ended)

    async def lookup(self, token: str | None) -> Session | None:
        """The live session of ``token``, or None (unknown, expired, revoked, malformed)."""
        if not token or "." not in token or len(token) > 200:
            return None
        hall_id = token.split(".", 1)[0]
        hall = self.halls.get(hall_id)
        if hall is None:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(f"{keys_prefix(hall_id)}session:{_digest(token)}")
            pipe.get(f"{keys_prefix(hall_id)}config")
            raw, stored = await pipe.execute()
        if raw is None:
            return None
        if stored is not None and self.on_config is not None:
            await self._follow(hall_id, stored.decode() if isinstance(stored, bytes) else str(stored))
            hall = self.halls.get(hall_id, hall)
        record = json.loads(raw)
        staff = hall.staff_member(record["staff"])
        # a staff member disabled (or taken out of the hall file) since: the session ends now
        if staff is None or staff.disabled:
            return None
        # a PIN reset since: the session of the old PIN ends (sessions older than the mark: kept)
        if record.get("pin", pin_mark(staff)) != pin_mark(staff):
            return None
        return Session(hall_id, staff)

    async def follow_config(self, hall_id: str) -> None:
        """Follow the hall file Redis names now, if this process runs another one.

        For a request without a session that names something this process does not know (a
        service a manager has just added on another worker, whose ``hall.config`` is still on its
        way here): checked only then, so the ordinary path costs no extra round trip."""
        if self.on_config is None:
            return
        stored = await self.redis.get(f"{keys_prefix(hall_id)}config")
        if stored is not None:
            await self._follow(hall_id, stored.decode() if isinstance(stored, bytes) else str(stored))

    async def _follow(self, hall_id: str, stored: str) -> None:
        """Let :attr:`on_config` follow the hall-file hash ``stored`` once; concurrent lookups
        that see the same hash wait for that one reload."""
        assert self.on_config is not None
        following = self._following.get(hall_id)
        if following is None or following[0] != stored:
            following = (stored, asyncio.ensure_future(self.on_config(hall_id, stored)))
            self._following[hall_id] = following
        await asyncio.shield(following[1])

    async def logout(self, token: str) -> bool:
        """Revoke ``token``; True when it was a live session."""
        if "." not in token:
            return False
        hall_id = token.split(".", 1)[0]
        return bool(await self.redis.delete(f"{keys_prefix(hall_id)}session:{_digest(token)}"))


def require(session: Session | None, hall_id: str, roles: tuple[str, ...]) -> Session:
    """``session`` if it belongs to ``hall_id`` with one of ``roles``; else ``not_logged_in``,
    ``wrong_hall`` or ``forbidden``."""
    if session is None:
        raise AuthError("not_logged_in", "log in first (Authorization: Bearer TOKEN)")
    if session.hall != hall_id:
        raise AuthError("wrong_hall", "this login is for another hall")
    if session.role not in roles:
        raise AuthError("forbidden", f"this needs a {' or '.join(roles)} login")
    return session
