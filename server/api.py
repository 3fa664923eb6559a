"""The HTTP API of CONTRACT.md: thin handlers over the engine.

Each handler validates its input (unknown fields, wrong types and oversize
bodies are refused before anything changes), checks who is asking, and makes
one engine call. Errors are the contract's JSON ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import zoneinfo
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import audit, casebook, cases, metrics, ratelimit, sms, stats
from server.auth import AuthError, Session, require
from server.hours import hall_time
from server.qr import qr_svg
from server.queue.constants import keys_prefix
from server.queue.engine import ACTIONS, hall_of_token
from server.queue.errors import Refusal
from server.runtime import HallRuntime, Runtime
from server.validation import Field, read_json
from server.webhook_rules import redact_line

STAFF = ("clerk", "desk", "admin")
CLERKS = ("clerk", "admin")
DESK = ("desk", "admin")
ADMIN = ("admin",)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public_base(request: Request) -> str:
    """Where visitors reach us: ``--public-url`` when set, else this request's own base address.

    Links and QR codes that leave the hall are built on it, so a proxy's ``Host`` header
    (often ``localhost``) never ends up printed on a ticket.
    """
    configured: str | None = getattr(request.app.state, "public_url", None)
    return configured or str(request.base_url).rstrip("/")


def ticket_url(request: Request, token: str) -> str:
    """The visitor's page of a ticket, as printed in its QR code."""
    return f"{public_base(request)}/t/{token}"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("hallq_session")


def caller_id(token: str | None, client: str) -> str:
    """Who sent a request, as request_id answers are scoped (CONTRACT.md): a staff session
    by a stable digest of its token (never the token: stored keys must not hold a usable
    one), else the anonymous client's address."""
    if token:
        return "s:" + hashlib.sha256(b"hallq-request-scope:" + token.encode()).hexdigest()[:24]
    return "a:" + client


async def session_of(request: Request) -> Session | None:
    return await runtime_of(request).sessions.lookup(bearer(request))


async def anonymous_limit(request: Request, hall_id: str, scope: str, session: Session | None) -> None:
    """Anonymous requests are rate limited per client address; staff are exempt."""
    if session is None:
        await ratelimit.check(runtime_of(request).redis, hall_id, scope, client_of(request))


def ticket_hall(request: Request, token: str) -> HallRuntime:
    hall_id = hall_of_token(token)
    if hall_id is None or hall_id not in runtime_of(request).halls:
        raise Refusal("unknown_ticket", "no such ticket")
    return runtime_of(request).hall(hall_id)


# --- the hall ------------------------------------------------------------------


async def healthz(request: Request) -> Response:
    """200 ``{"status":"ok"}`` when every hall's store takes writes and its events are read;
    503 ``{"status":"redis_unavailable","cause":…}`` while Redis is away, and 503
    ``{"status":"degraded","halls":{hall: why}}`` naming the halls that cannot work (a
    read-only replica, a cluster master down, a stream reader that cannot read)."""
    runtime = runtime_of(request)
    if runtime.spec.kind != "cluster":  # a cluster's PING goes to every node: one down is not all down
        try:
            await runtime.redis.ping()
        except Exception:
            body: dict[str, Any] = {"status": "redis_unavailable"}
            cause = runtime.outage_cause()
            if cause:
                body["cause"] = cause
            return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})
    if not runtime.ready.is_set():  # Redis just came back; the engines are getting their key
        return JSONResponse({"status": "starting"}, status_code=503, headers={"Retry-After": "1"})
    problems = await runtime.store_problems()
    if problems:
        return JSONResponse({"status": "degraded", "halls": problems}, status_code=503, headers={"Retry-After": "2"})
    resets = {hall_id: hall.hub.store_reset for hall_id, hall in runtime.halls.items() if hall.hub.store_reset}
    if resets:  # still serving, but a person should know the store lost or replaced its data
        return JSONResponse({"status": "ok", "store_reset": resets})
    return JSONResponse({"status": "ok"})


async def hall_config(request: Request) -> Response:
    return JSONResponse(runtime_of(request).hall(request.path_params["hall"]).hall.public())


async def hall_state(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    return JSONResponse(await hall.hub.snapshot())


# --- tickets -------------------------------------------------------------------

ISSUE_FIELDS = {
    "services": Field(list, required=True),
    "priority": Field(bool),
    "lang": Field(str),
    "id_number": Field(str, max_length=32),
    "request_id": Field(str, max_length=64),
    "phone": Field(str, max_length=32),
}


async def issue_ticket(request: Request) -> Response:
    return await issue_from(request, await read_json(request, ISSUE_FIELDS), "kiosk")


async def issue_from(request: Request, body: dict[str, Any], channel: str) -> Response:
    """Issue for a validated body: the kiosk's and desk's ``POST /tickets``, or a phone before
    arriving (``channel="remote"``, server/remote_api.py): one path, the same checks and answers."""
    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    services = body["services"]
    if not all(isinstance(s, str) for s in services) or len(services) > 10:
        raise Refusal("bad_field", "services must be a list of up to 10 service ids")
    known = {s.id for s in hall.hall.services}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise Refusal("unknown_service", f"there is no service {unknown[0][:64]!r} in this hall")
    # a number for text messages ([sms]), checked before anything changes
    phone = sms.checked_phone(hall.hall, body["phone"]) if body.get("phone") else None
    # limited after validation: refused requests never use up a kiosk's or a phone's quota
    session = await session_of(request)
    await anonymous_limit(request, hall.hall.id, "issue", session)
    runtime.require_ready()  # an ID number is hashed with the key kept in Redis
    try:
        answer = await hall.engine.issue(
            services,
            priority=body.get("priority", False),
            lang=body.get("lang"),
            id_number=body.get("id_number") or None,
            request_id=body.get("request_id"),
            caller=caller_id(bearer(request) if session else None, client_of(request)),
            channel=channel,
        )
    except Refusal as refusal:
        if refusal.code == "duplicate_ticket" and session is None:
            # Whoever types an ID number at the kiosk must not learn that person's ticket:
            # the anonymous answer says only that one is held; the desk can look it up.
            raise Refusal(
                "duplicate_ticket", "you already hold an open ticket for this service; please keep it",
                {"service": refusal.details.get("service")},
            ) from None
        raise
    answer.pop("seq", None)
    answer["url"] = ticket_url(request, answer["ticket"]["token"])
    if phone is not None:
        answer["phone"] = await sms.remember(request, hall.hall.id, answer["ticket"]["token"], phone)
    return JSONResponse(answer, status_code=201)


ID_LOOKUP_FIELDS = {"id_number": Field(str, required=True, max_length=32)}
OPEN_STATUSES = ("waiting", "called", "serving", "suspended")


async def tickets_by_id_number(request: Request) -> Response:
    """Desk only: the open tickets of the person with this ID number (POSTed, never in a URL)."""
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_json(request, ID_LOOKUP_FIELDS)
    require(await session_of(request), hall.hall.id, DESK)
    engine = hall.engine
    key = engine.prefix + "person:" + engine.person_hash(body["id_number"])
    tokens = sorted({str(t) for t in await runtime_of(request).redis.hvals(key)})
    found = [t for t in await engine.tickets(tokens) if t["ticket"]["status"] in OPEN_STATUSES]
    found.sort(key=lambda t: str(t["ticket"]["number"]))
    return JSONResponse({"tickets": found})


async def find_ticket(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, STAFF)
    found = await hall.engine.ticket_by_number(request.query_params.get("number", ""))
    if found is None:
        raise Refusal("unknown_ticket", "there is no such ticket today")
    token = found.get("ticket", {}).get("token")
    return JSONResponse({**found, "url": ticket_url(request, token)} if token else found)


async def get_ticket(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    await anonymous_limit(request, hall.hall.id, "anon", await session_of(request))
    found = await hall.engine.ticket(token)
    if found is None:
        raise Refusal("unknown_ticket", "no such ticket")
    extra: dict[str, Any] = {}
    if found["ticket"].get("rating") is not None and cases.is_bad(found["ticket"]["rating"]):
        # the 差评 follow-up's answer, once given "by phone page" (server/casebook.py)
        answer = await casebook.answer_for_ticket(runtime_of(request).redis, hall.hall.id, token)
        extra["case"] = answer or {"answer": None}
    return JSONResponse({**found, **extra, "url": ticket_url(request, token)})


async def cancel_ticket(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    session = await session_of(request)
    await anonymous_limit(request, hall.hall.id, "anon", session)
    answer = await hall.engine.cancel(token)
    if session is not None and session.hall == hall.hall.id:  # audit: staff cancelling for a visitor
        await audit.record(runtime_of(request).redis, hall.hall.id, audit.entry(
            "cancel", staff=session.staff.id, role=session.role, ticket=(answer.get("ticket") or {}).get("number"),
            client=client_of(request), seq=answer.get("seq")))
    return JSONResponse({"ticket": answer["ticket"]})


async def ticket_qr(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    await anonymous_limit(request, hall.hall.id, "anon", await session_of(request))
    if await hall.engine.ticket(token) is None:
        raise Refusal("unknown_ticket", "no such ticket")
    url = ticket_url(request, token)
    return Response(qr_svg(url), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})


RATING_FIELDS = {"score": Field(int, required=True), "reasons": Field(list)}


async def rate_ticket(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    body = await read_json(request, RATING_FIELDS)
    check_rating(body)
    await anonymous_limit(request, hall.hall.id, "rate", await session_of(request))
    answer = await hall.engine.rate(body["score"], body.get("reasons") or [], token=token)
    return JSONResponse({"ticket": answer["ticket"]}, status_code=201)


def check_rating(body: dict[str, Any]) -> None:
    """What a rating must be, checked before it counts against the rate limit."""
    if not 1 <= body["score"] <= 5:
        raise Refusal("bad_score", "score must be 1 to 5")
    reasons = body.get("reasons") or []
    if len(reasons) > 8 or not all(isinstance(r, str) and re.fullmatch(r"[a-z_]{1,32}", r) for r in reasons):
        raise Refusal("bad_reasons", "reasons must be up to 8 short codes like long_wait")


PAD_RATING_FIELDS = {**RATING_FIELDS, "ticket": Field(str, required=True)}


async def rate_at_window(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_json(request, PAD_RATING_FIELDS)
    check_rating(body)
    await anonymous_limit(request, hall.hall.id, "rate", await session_of(request))
    answer = await hall.engine.rate(
        body["score"], body.get("reasons") or [], window=request.path_params["window"], number=body["ticket"]
    )
    return JSONResponse({"ticket": answer["ticket"]}, status_code=201)


# --- staff -----------------------------------------------------------------------

LOGIN_FIELDS = {
    "hall": Field(str, required=True, max_length=64),
    "staff": Field(str, required=True, max_length=64),
    "pin": Field(str, required=True, max_length=64),
}


async def login(request: Request) -> Response:
    body = await read_json(request, LOGIN_FIELDS)
    runtime = runtime_of(request)
    try:
        token, session = await runtime.sessions.login(body["hall"], body["staff"], body["pin"], client_of(request))
    except AuthError as refusal:
        # audit: failed logins of a known hall; not the 429s past the limit, which would let a
        # flood of attempts push the real records out of the bounded log
        if body["hall"] in runtime.halls and refusal.code != "too_many_attempts":
            await audit.record(runtime.redis, body["hall"], audit.entry(
                "login_failed", staff=body["staff"], client=client_of(request), detail=refusal.code))
        raise
    await audit.record(runtime.redis, session.hall, audit.entry(
        "login", staff=session.staff.id, role=session.role, client=client_of(request)))
    response = JSONResponse({"token": token, "staff": session.public(), "hall": session.hall})
    # Secure over https (behind a trusted proxy too: uvicorn applies X-Forwarded-Proto first).
    response.set_cookie(
        "hallq_session",
        token,
        httponly=True,
        samesite="strict",
        max_age=12 * 3600,
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    token = bearer(request)
    session = await session_of(request)
    if not token or not await runtime_of(request).sessions.logout(token):
        raise AuthError("not_logged_in", "no live session to log out")
    if session is not None:
        await audit.record(runtime_of(request).redis, session.hall, audit.entry(
            "logout", staff=session.staff.id, role=session.role, client=client_of(request)))
    response = JSONResponse({"ok": True})
    response.delete_cookie("hallq_session")
    return response


async def me(request: Request) -> Response:
    session = await session_of(request)
    if session is None:
        raise AuthError("not_logged_in", "log in first")
    return JSONResponse({"staff": session.public(), "hall": session.hall})


ACTION_FIELDS = {
    "action": Field(str, required=True, max_length=32),
    "ticket": Field(str, max_length=8),
    "service": Field(str, max_length=64),
    "to_window": Field(str, max_length=16),
    "request_id": Field(str, max_length=64),
}


async def window_action(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_json(request, ACTION_FIELDS)
    session = require(await session_of(request), hall.hall.id, CLERKS)
    caller = caller_id(bearer(request), client_of(request))
    answer = await perform(hall, session, request.path_params["window"], body, caller, client=client_of(request))
    return JSONResponse(answer)


async def perform(
    hall: HallRuntime, session: Session, window: str, body: dict[str, Any], caller: str, client: str = ""
) -> dict[str, Any]:
    """One window action for a clerk (HTTP and the pad socket share it): timed into
    ``hallq_action_seconds`` and, when done, written to the audit log. ``caller``
    (:func:`caller_id` of the session) scopes its request_id."""
    started = time.perf_counter()
    answer = await _act(hall, session, window, body, caller)
    action = body["action"] if body["action"] in ACTIONS else "other"
    metrics.ACTION_SECONDS.labels(hall.hall.id, action).observe(time.perf_counter() - started)
    ticket = answer.get("ticket")
    detail = ",".join(f"{k}={body[k]}" for k in ("service", "to_window") if body.get(k)) or None
    await audit.record(hall.engine.redis, hall.hall.id, audit.entry(
        action, staff=session.staff.id, role=session.role, window=window, client=client or None,
        ticket=ticket.get("number") if isinstance(ticket, dict) else body.get("ticket"), seq=answer.get("seq"),
        detail=detail), once=f"{session.staff.id}:{body['request_id']}" if body.get("request_id") else None)
    return answer


async def _act(
    hall: HallRuntime, session: Session, window: str, body: dict[str, Any], caller: str
) -> dict[str, Any]:
    return await hall.engine.act(
        window,
        body["action"],
        session.staff,
        ticket=body.get("ticket"),
        service=body.get("service"),
        to_window=body.get("to_window"),
        request_id=body.get("request_id"),
        caller=caller,
    )


# --- the manager -----------------------------------------------------------------

NOTICE_FIELDS = {"text": Field(str, required=True, max_length=200)}


async def set_notice(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    session = require(await session_of(request), hall.hall.id, ADMIN)
    body = await read_json(request, NOTICE_FIELDS)
    answer = await hall.engine.set_notice(body["text"])
    await audit.record(runtime_of(request).redis, hall.hall.id, audit.entry(
        "notice", staff=session.staff.id, role=session.role,
        client=client_of(request), seq=answer.get("seq"), detail=body["text"].strip()))
    return JSONResponse({"seq": answer["seq"], "text": body["text"].strip()})


def _today(hall: HallRuntime) -> date:
    return date.fromisoformat(hall_time(hall.engine.clock(), hall.hall).day)


async def get_stats(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    query = stats.parse_query(request.query_params, today=_today(hall))
    keys = stats.day_keys(hall.hall.id, query.date_from, query.date_to)
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
        return Response(stats.report_csv(report), media_type="text/csv; charset=utf-8")
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
    text = stats.history_csv(history, tz=zoneinfo.ZoneInfo(hall.hall.timezone))
    headers = {"Content-Disposition": f'attachment; filename="{hall.hall.id}-{day}.csv"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def _int(value: str | None) -> int | None:
    return int(float(value)) if value else None


def _seconds(start: str | None, end: str | None) -> int | None:
    begin, finish = _int(start), _int(end)
    return (finish - begin) // 1000 if begin is not None and finish is not None else None


async def hall_file(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    lines = [
        'pin_hash = "(hidden)"' if line.strip().startswith("pin_hash") else redact_line(line)
        for line in hall.hall.source_text.splitlines()
    ]
    return Response("\n".join(lines) + "\n", media_type="text/plain; charset=utf-8")


async def server_time(request: Request) -> Response:
    """The server's clock, so screens can show the hall's time even when theirs is off."""
    hall = runtime_of(request).hall(request.path_params["hall"])
    now = hall.engine.clock()
    local = datetime.fromtimestamp(now, zoneinfo.ZoneInfo(hall.hall.timezone))
    return JSONResponse({"now": int(now * 1000), "local": local.isoformat()})


routes = [
    Route("/healthz", healthz),
    Route("/api/halls/{hall}", hall_config),
    Route("/api/halls/{hall}/state", hall_state),
    Route("/api/halls/{hall}/time", server_time),
    Route("/api/halls/{hall}/tickets", issue_ticket, methods=["POST"]),
    Route("/api/halls/{hall}/tickets", find_ticket, methods=["GET"]),
    Route("/api/halls/{hall}/tickets/by-id", tickets_by_id_number, methods=["POST"]),
    Route("/api/tickets/{token}", get_ticket, methods=["GET"]),
    Route("/api/tickets/{token}", cancel_ticket, methods=["DELETE"]),
    Route("/api/tickets/{token}/qr.svg", ticket_qr),
    Route("/api/tickets/{token}/rating", rate_ticket, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
    Route("/api/auth/me", me),
    Route("/api/halls/{hall}/windows/{window}/actions", window_action, methods=["POST"]),
    Route("/api/halls/{hall}/windows/{window}/rating", rate_at_window, methods=["POST"]),
    Route("/api/halls/{hall}/notice", set_notice, methods=["POST"]),
    Route("/api/halls/{hall}/stats", get_stats),
    Route("/api/halls/{hall}/ratings", get_ratings),
    Route("/api/halls/{hall}/history.csv", history_csv),
    Route("/api/halls/{hall}/config.toml", hall_file),
]
