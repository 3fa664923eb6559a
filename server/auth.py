"""Staff sessions: PIN login, server-side tokens in Redis (expiring, revocable), roles.

A session token is ``{hall}.{random}``; Redis keeps only its SHA-256, so a copy of
the database holds no usable token. Failed logins are counted per staff id and
per client address; past the limit, login answers 429 without checking the PIN.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.concurrency import run_in_threadpool

from server.config import Hall, Staff
from server.queue.engine import keys_prefix
from server.queue.errors import Refusal

SESSION_SECONDS = 12 * 3600
FAILS_PER_STAFF = 5
FAILS_PER_CLIENT = 20
FAIL_WINDOW_SECONDS = 300
STAFF_ROLES = ("clerk", "desk", "admin")


class AuthError(Refusal):
    """401/403/429 refusals of the auth layer."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message, status=status)


@dataclass(frozen=True)
class Session:
    """Who is acting: a staff member of one hall."""

    hall: str
    staff: Staff

    @property
    def role(self) -> str:
        return self.staff.role

    def public(self) -> dict[str, Any]:
        return {"id": self.staff.id, "name": self.staff.name, "role": self.staff.role}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Login, lookup and logout of staff sessions across every hall of this deployment."""

    def __init__(self, redis: Redis, halls: dict[str, Hall]) -> None:
        self.redis = redis
        self.halls = halls

    async def login(self, hall_id: str, staff_id: str, pin: str, client: str) -> tuple[str, Session]:
        hall = self.halls.get(hall_id)
        if hall is None:
            raise Refusal("unknown_hall", f"there is no hall {hall_id!r}")
        prefix = keys_prefix(hall_id)
        staff_key = f"{prefix}loginfail:staff:{staff_id[:64]}"
        client_key = f"{prefix}loginfail:client:{client}"
        staff_fails, client_fails = await self.redis.mget(staff_key, client_key)
        if int(staff_fails or 0) >= FAILS_PER_STAFF or int(client_fails or 0) >= FAILS_PER_CLIENT:
            raise AuthError("too_many_attempts", "too many failed logins; wait a few minutes", 429)
        staff = hall.staff_member(staff_id)
        # scrypt is deliberately slow: keep it off the event loop
        valid = staff is not None and await run_in_threadpool(staff.check_pin, pin)
        if staff is None or not valid:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in (staff_key, client_key):
                    pipe.incr(key)
                    pipe.expire(key, FAIL_WINDOW_SECONDS)
                await pipe.execute()
            raise AuthError("bad_credentials", "wrong staff id or PIN", 401)
        await self.redis.delete(staff_key)
        token = f"{hall_id}.{secrets.token_urlsafe(32)}"
        record = json.dumps({"hall": hall_id, "staff": staff.id})
        await self.redis.set(f"{prefix}session:{_digest(token)}", record, ex=SESSION_SECONDS)
        return token, Session(hall_id, staff)

    async def lookup(self, token: str | None) -> Session | None:
        """The live session of ``token``, or None (unknown, expired, revoked, malformed)."""
        if not token or "." not in token or len(token) > 200:
            return None
        hall_id = token.split(".", 1)[0]
        hall = self.halls.get(hall_id)
        if hall is None:
            return None
        raw = await self.redis.get(f"{keys_prefix(hall_id)}session:{_digest(token)}")
        if raw is None:
            return None
        staff = hall.staff_member(json.loads(raw)["staff"])
        return Session(hall_id, staff) if staff is not None else None

    async def logout(self, token: str) -> bool:
        """Revoke ``token``; True when it was a live session."""
        if "." not in token:
            return False
        hall_id = token.split(".", 1)[0]
        return bool(await self.redis.delete(f"{keys_prefix(hall_id)}session:{_digest(token)}"))


def require(session: Session | None, hall_id: str, roles: tuple[str, ...]) -> Session:
    """``session`` if it belongs to ``hall_id`` with one of ``roles``; else 401/403."""
    if session is None:
        raise AuthError("not_logged_in", "log in first (Authorization: Bearer TOKEN)", 401)
    if session.hall != hall_id:
        raise AuthError("wrong_hall", "this login is for another hall", 403)
    if session.role not in roles:
        raise AuthError("forbidden", f"this needs a {' or '.join(roles)} login", 403)
    return session
