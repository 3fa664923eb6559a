"""Bad-rating cases in Redis (their manager API is :mod:`server.case_api`).

Cases are opened by ``rate.lua`` in the rating's own script (exactly once per bad rating).
Each case is one JSON value ``hallq:{hall}:case:{id}``, indexed by rating time in the
sorted set ``hallq:{hall}:cases``; cases never expire (they are the hall's record of
follow-up). A change reads the case under ``WATCH`` and writes it back in ``MULTI``: a
concurrent change to the same case retries, so two managers acting at once never lose
one's step. The rules (transitions, deadline, overdue) are :mod:`server.cases`.

A stored case holds its rating time and ``follow_up_days``, not its deadline: that follows the
hall's calendar as it is when read (:func:`server.cases.dated`, before :func:`public`).
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from server import cases
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal

#: Fields of a case the API never answers: the visitor's ticket token is their key.
PRIVATE = ("token",)


def _case(raw: str | bytes) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(raw)
    for name in ("services", "reasons"):  # stored comma-joined by Lua
        value = case.get(name)
        if isinstance(value, str):
            case[name] = [v for v in value.split(",") if v]
    if not isinstance(case.get("history"), list):
        case["history"] = []
    return case


def public(case: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """A case with its deadline (:func:`server.cases.dated`) as the manager's API shows it:
    with ``overdue``, without the ticket token."""
    shown = {k: v for k, v in case.items() if k not in PRIVATE}
    shown["overdue"] = case["status"] != "closed" and cases.overdue(case, now_ms)
    return shown


async def load_all(redis: Redis, hall_id: str) -> list[dict[str, Any]]:
    """Every case of the hall (a hall has a handful a week: one read of all is fine)."""
    prefix = keys_prefix(hall_id)
    ids: list[Any] = await redis.zrange(prefix + "cases", 0, -1)
    if not ids:
        return []
    raws = await redis.mget([f"{prefix}case:{i}" for i in ids])
    return [_case(raw) for raw in raws if raw]


async def load(redis: Redis, hall_id: str, case_id: str) -> dict[str, Any]:
    if not case_id.isdigit():
        raise Refusal("unknown_case", "no such case")
    raw = await redis.get(f"{keys_prefix(hall_id)}case:{case_id}")
    if raw is None:
        raise Refusal("unknown_case", "no such case")
    return _case(raw)


async def answer_for_ticket(redis: Redis, hall_id: str, token: str) -> dict[str, Any] | None:
    """The answer to show on the visitor's page of ``token``: only one given by phone page."""
    prefix = keys_prefix(hall_id)
    case_id: Any = await redis.hget(f"{prefix}t:{token}", "case")
    if not case_id:
        return None
    raw = await redis.get(f"{prefix}case:{case_id}")
    if raw is None:
        return None
    case = _case(raw)
    if case.get("channel") != "phone_page" or not case.get("answer"):
        return None
    return {"answer": case["answer"], "answered_at": case.get("answered_at")}


async def act(
    redis: Redis,
    hall_id: str,
    case_id: str,
    action: str,
    fields: dict[str, Any],
    *,
    staff: str,
    now_ms: int,
    staff_ids: set[str],
) -> dict[str, Any]:
    """Apply ``action`` atomically (WATCH/MULTI, retried on a concurrent change)."""
    key = f"{keys_prefix(hall_id)}case:{case_id}"
    if not case_id.isdigit():
        raise Refusal("unknown_case", "no such case")
    async with redis.pipeline(transaction=True) as pipe:
        for _attempt in range(20):
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                if raw is None:
                    raise Refusal("unknown_case", "no such case")
                case = _case(raw)
                token = str(case.get("token") or "")
                reachable = bool(token) and bool(await pipe.exists(f"{keys_prefix(hall_id)}t:{token}"))
                new = cases.apply(
                    case, action, fields, staff=staff, now_ms=now_ms, staff_ids=staff_ids, reachable=reachable
                )
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, json.dumps(new, ensure_ascii=False))
                await pipe.execute()
                return new
            except WatchError:
                continue
    raise Refusal("busy", "the case is being changed by someone else; try again")
