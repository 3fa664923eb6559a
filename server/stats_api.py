"""The manager's figures over HTTP: statistics (JSON/CSV), the ratings list and the history CSV."""

from __future__ import annotations

import json
import zoneinfo
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import cases, stats, stats_csv
from server.asking import session_of
from server.auth import ADMIN, require
from server.hours import hall_time
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal
from server.runtime import HallRuntime, runtime_of


def _today(hall: HallRuntime) -> date:
    return date.fromisoformat(hall_time(hall.engine.clock(), hall.hall).day)


async def get_stats(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    query = stats.parse_query(request.query_params, today=_today(hall))
    keys = stats.day_keys(hall.hall.id, query.date_from, query.date_to)
    # the actions write no counters: count what the stream holds first, so the report
    # includes every action acknowledged before this request
    await hall.engine.count_stats()
    async with runtime_of(request).redis.pipeline(transaction=False) as pipe:
        for _day, key in keys:
            pipe.hgetall(key)
        hashes = await pipe.execute()
    known = {
        "service": [s.id for s in hall.hall.services],
        "window": [w.id for w in hall.hall.windows],
        "clerk": [s.id for s in hall.hall.staff if s.role == "clerk"],
        "hour": [f"{h:02d}" for h in range(24)],
    }.get(query.by)
    report = stats.report(
        {day: fields for (day, _key), fields in zip(keys, hashes, strict=True)},
        by=query.by,
        date_from=query.date_from,
        date_to=query.date_to,
        keys=known,
    )
    if query.format == "csv":
        return Response(stats_csv.report_csv(report), media_type="text/csv; charset=utf-8")
    return JSONResponse(report)


async def get_ratings(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    query = stats.parse_query({**request.query_params, "by": "day"}, today=_today(hall))
    only_bad = request.query_params.get("bad") in ("1", "true")
    prefix = keys_prefix(hall.hall.id)
    async with runtime_of(request).redis.pipeline(transaction=False) as pipe:
        for day in query.days:
            pipe.lrange(f"{prefix}ratings:{day}", 0, -1)
        lists = await pipe.execute()
    ratings = []
    for entries in lists:
        for raw in entries:
            entry = json.loads(raw)
            entry["reasons"] = [r for r in str(entry.get("reasons") or "").split(",") if r]
            if not only_bad or cases.is_bad(entry["score"]):
                ratings.append(entry)
    ratings.sort(key=lambda e: e["at"], reverse=True)
    return JSONResponse({"ratings": ratings})


async def history_csv(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    day = request.query_params.get("day") or _today(hall).isoformat()
    try:
        date.fromisoformat(day)
    except ValueError as exc:
        raise Refusal("invalid_date", "day must be a date YYYY-MM-DD") from exc
    prefix = keys_prefix(hall.hall.id)
    redis = runtime_of(request).redis
    tokens: list[Any] = await redis.lrange(f"{prefix}day:{day}", 0, -1)
    async with redis.pipeline(transaction=False) as pipe:
        for token in tokens:
            pipe.hgetall(f"{prefix}t:{token}")
        rows = await pipe.execute()
    history = [
        {
            "number": r.get("number"),
            "services": [s for s in r.get("services", "").split(",") if s],
            "priority": r.get("priority") == "1",
            "status": r.get("status"),
            "window": r.get("window"),
            "clerk": r.get("clerk"),
            "issued_at": _int(r.get("issued_at")),
            "called_at": _int(r.get("first_called_at")),
            "done_at": _int(r.get("done_at")),
            "rating": _int(r.get("rating")),
            # handling runs from the last call (a no-show's requeue is waiting, not handling)
            "handle_s": _seconds(r.get("called_at"), r.get("done_at")),
        }
        for r in rows
        if r
    ]
    text = stats_csv.history_csv(history, tz=zoneinfo.ZoneInfo(hall.hall.timezone))
    headers = {"Content-Disposition": f'attachment; filename="{hall.hall.id}-{day}.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


def _seconds(start: str | None, end: str | None) -> int | None:
    begin, finish = _int(start), _int(end)
    return (finish - begin) // 1000 if begin is not None and finish is not None else None


routes = [
    Route("/api/halls/{hall}/stats", get_stats),
    Route("/api/halls/{hall}/ratings", get_ratings),
    Route("/api/halls/{hall}/history.csv", history_csv),
]
