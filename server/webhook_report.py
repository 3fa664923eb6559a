"""The manager page's view of a hall's webhook receivers: ``GET /api/halls/{hall}/webhooks``."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.hall_model import Hall
from server.queue.constants import keys_prefix
from server.webhook_rules import receiver_id, shown_url
from server.webhook_state import state_key


async def report(redis: Redis, hall: Hall) -> list[dict[str, Any]]:
    """Each receiver of ``hall``: shown URL, events, last delivery, backlog, last error."""
    prefix = keys_prefix(hall.id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(prefix + "seq")
        for hook in hall.webhooks:
            pipe.hgetall(state_key(hall.id, receiver_id(hook.url)))
            pipe.pttl(state_key(hall.id, receiver_id(hook.url)) + ":lease")
        values = await pipe.execute()
    seq = int(values[0] or 0)
    result = []
    for index, hook in enumerate(hall.webhooks):
        state: dict[str, str] = values[1 + 2 * index] or {}
        cursor = int(state["cursor"]) if state.get("cursor") else None

        def number(name: str, state: dict[str, str] = state) -> int | None:
            return int(state[name]) if state.get(name) else None

        result.append(
            {
                "id": receiver_id(hook.url),
                "url": shown_url(hook.url),
                "events": list(hook.events),
                "cursor": cursor,
                "seq": seq,
                "backlog": max(0, seq - cursor) if cursor is not None else 0,
                "last_at": number("last_at"),
                "last_status": number("last_status"),
                "last_seq": number("last_seq"),
                "last_error": state.get("last_error") or None,
                "failures": number("failures") or 0,
                "next_at": number("next_at"),
                "delivering": int(values[2 + 2 * index]) > 0,
            }
        )
    return result


async def webhooks_route(request: Request) -> Response:
    """``GET /api/halls/{hall}/webhooks`` (admin): ``{"webhooks": [...]}`` as :func:`report`."""
    from server.asking import session_of
    from server.auth import ADMIN, require
    from server.runtime import runtime_of

    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    return JSONResponse({"webhooks": await report(runtime.redis, hall.hall)})


routes = [Route("/api/halls/{hall}/webhooks", webhooks_route)]
