"""The manager's API of bad-rating cases (admin login); storage in :mod:`server.casebook`.

Routes::

    GET  /api/halls/{hall}/cases?status=open|…|pending|all   sorted by deadline, ``overdue`` flagged
    GET  /api/halls/{hall}/cases/summary?from=&to=           the two rates (docs/stats.md)
    GET  /api/halls/{hall}/cases/{id}
    POST /api/halls/{hall}/cases/{id}  {"action", "owner"?, "note"?, "answer"?, "channel"?}

Every change is appended to the case's history and to the audit log. Every case answered,
listed or counted has its deadline as the hall's calendar says now (:func:`server.cases.dated`).
"""

from __future__ import annotations

from datetime import date, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import audit, cases
from server.asking import client_of, session_of
from server.auth import ADMIN, require
from server.bodies import read_body
from server.casebook import act, load, load_all, public
from server.hours import business_day_start_ms, hall_time
from server.queue.errors import Refusal
from server.runtime import runtime_of
from server.staff_bodies import CaseStep

# --- the API -------------------------------------------------------------------------


def _now_ms(request: Request) -> int:
    hall = runtime_of(request).hall(request.path_params["hall"])
    return int(hall.engine.clock() * 1000)


async def list_cases(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    wanted = request.query_params.get("status", "open")
    if wanted not in (*cases.STATUSES, "all", "pending"):
        raise Refusal("bad_status", f"status must be one of {', '.join(cases.STATUSES)}, pending or all")
    now = _now_ms(request)
    found = cases.dated(await load_all(runtime_of(request).redis, hall.hall.id), hall.hall)
    if wanted == "pending":  # everything not closed yet
        found = [c for c in found if c["status"] != "closed"]
    elif wanted != "all":
        found = [c for c in found if c["status"] == wanted]
    found.sort(key=lambda c: (int(c["deadline"]), int(c["id"])))
    return JSONResponse({"cases": [public(c, now) for c in found], "now": now})


async def get_case(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    case = await load(runtime_of(request).redis, hall.hall.id, request.path_params["id"])
    return JSONResponse({"case": public(cases.dated([case], hall.hall)[0], _now_ms(request))})


async def act_on_case(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    session = require(await session_of(request), hall.hall.id, ADMIN)
    body = await read_body(request, CaseStep)
    redis = runtime_of(request).redis
    case_id = request.path_params["id"]
    now = _now_ms(request)
    new = await act(
        redis,
        hall.hall.id,
        case_id,
        body.action,
        body.model_dump(exclude_none=True),
        staff=session.staff.id,
        now_ms=now,
        staff_ids={s.id for s in hall.hall.staff},
    )
    last = new["history"][-1]
    detail = " ".join(f"{k}={last[k]}" for k in ("owner", "channel", "note", "answer") if last.get(k))
    await audit.record(
        redis,
        hall.hall.id,
        audit.entry(
            f"case_{body.action}",
            staff=session.staff.id,
            role=session.role,
            ticket=new.get("ticket"),
            client=client_of(request),
            detail=f"case {case_id}" + (f": {detail}" if detail else ""),
        ),
    )
    return JSONResponse({"case": public(cases.dated([new], hall.hall)[0], now)})


def _period(request: Request, today: date) -> tuple[date, date]:
    try:
        start = date.fromisoformat(request.query_params.get("from") or (today - timedelta(days=30)).isoformat())
        end = date.fromisoformat(request.query_params.get("to") or today.isoformat())
    except ValueError as exc:
        raise Refusal("invalid_date", "from and to must be dates YYYY-MM-DD") from exc
    if end < start:
        raise Refusal("invalid_range", "from must not be after to")
    if (end - start).days > 400:
        raise Refusal("range_too_long", "at most 400 days at once")
    return start, end


async def case_summary(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    now = _now_ms(request)
    start, end = _period(request, date.fromisoformat(hall_time(now / 1000, hall.hall).day))
    # business days, as the statistics count them (seen: a bad rating given after midnight,
    # before the 03:00 reset, fell outside "today" and was missing from the rates)
    start_ms = business_day_start_ms(start, hall.hall)
    end_ms = business_day_start_ms(end + timedelta(days=1), hall.hall)
    found = cases.dated(await load_all(runtime_of(request).redis, hall.hall.id), hall.hall)
    result = cases.summary(found, start_ms=start_ms, end_ms=end_ms, now_ms=now)
    return JSONResponse({"from": start.isoformat(), "to": end.isoformat(), **result.as_dict()})


routes = [
    Route("/api/halls/{hall}/cases", list_cases, methods=["GET"]),
    Route("/api/halls/{hall}/cases/summary", case_summary, methods=["GET"]),
    Route("/api/halls/{hall}/cases/{id}", get_case, methods=["GET"]),
    Route("/api/halls/{hall}/cases/{id}", act_on_case, methods=["POST"]),
]
