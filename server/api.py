"""The HTTP API of CONTRACT.md: thin handlers over the engine.

Each handler validates its input (unknown fields, wrong types and oversize
bodies are refused before anything changes), checks who is asking, and makes
one engine call. Errors are the contract's JSON ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import contextlib
import zoneinfo
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import audit, casebook, cases, sms
from server.actions import caller_id, perform
from server.asking import anonymous_limit, bearer, client_of, session_of, ticket_hall, ticket_url
from server.auth import ADMIN, CLERKS, DESK, STAFF, AuthError, require
from server.bodies import read_body
from server.hall_model import Hall
from server.qr import qr_svg
from server.queue.errors import Refusal
from server.runtime import runtime_of
from server.staff_bodies import Login, Notice, WindowAction
from server.ticket_bodies import IdLookup, Issue, PadRating, Rating, RemoteIssue
from server.webhook_rules import redact_line

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
        except Exception:  # noqa: BLE001 — /healthz answers 503 whatever the store raised
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
    """The hall file's public part, as Redis names it now: a manager who has just changed it on
    another worker reads the change back (one GET; pages read this once, not per event).
    While Redis is away it answers the file this process runs: pages need no Redis."""
    runtime = runtime_of(request)
    hall_id = runtime.hall(request.path_params["hall"]).hall.id
    with contextlib.suppress(RedisError, OSError):
        await runtime.sessions.follow_config(hall_id)
    return JSONResponse(runtime.hall(hall_id).hall.public())


async def hall_state(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    return JSONResponse(await hall.hub.snapshot())


# --- tickets -------------------------------------------------------------------


async def issue_ticket(request: Request) -> Response:
    return await issue_from(request, await read_body(request, Issue), "kiosk")


def _unknown_services(hall: Hall, services: list[str]) -> list[str]:
    known = {s.id for s in hall.services}
    return [s for s in services if s not in known]


async def issue_from(request: Request, body: RemoteIssue, channel: str) -> Response:
    """Issue for a validated body: the kiosk's and desk's ``POST /tickets`` (:class:`Issue`),
    or a phone before arriving (``channel="remote"``, server/remote_api.py): one path, the
    same checks and answers."""
    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    services = body.services
    unknown = _unknown_services(hall.hall, services)
    if unknown:
        # a service just added on the manager page, applied by another worker a moment ago
        await runtime.sessions.follow_config(hall.hall.id)
        hall = runtime.hall(request.path_params["hall"])
        unknown = _unknown_services(hall.hall, services)
    if unknown:
        raise Refusal("unknown_service", f"there is no service {unknown[0][:64]!r} in this hall")
    kiosk = body if isinstance(body, Issue) else None
    # a number for text messages ([sms]), checked before anything changes
    phone = sms.checked_phone(hall.hall, kiosk.phone) if kiosk is not None and kiosk.phone else None
    # limited after validation: refused requests never use up a kiosk's or a phone's quota
    session = await session_of(request)
    await anonymous_limit(request, hall.hall.id, "issue", session)
    runtime.require_ready()  # an ID number is hashed with the key kept in Redis
    try:
        answer = await hall.engine.issue(
            services,
            priority=kiosk is not None and kiosk.priority,
            lang=body.lang,
            id_number=body.id_number or None,
            request_id=body.request_id,
            caller=caller_id(bearer(request) if session else None, client_of(request)),
            channel=channel,
        )
    except Refusal as refusal:
        if refusal.code == "duplicate_ticket" and session is None:
            # Whoever types an ID number at the kiosk must not learn that person's ticket:
            # the anonymous answer says only that one is held; the desk can look it up.
            raise Refusal(
                "duplicate_ticket",
                "you already hold an open ticket for this service; please keep it",
                {"service": refusal.details.get("service")},
            ) from None
        raise
    answer.pop("seq", None)
    answer["url"] = ticket_url(request, answer["ticket"]["token"])
    if phone is not None:
        answer["phone"] = await sms.remember(request, hall.hall.id, answer["ticket"]["token"], phone)
    return JSONResponse(answer, status_code=201)


OPEN_STATUSES = ("waiting", "called", "serving", "suspended")


async def tickets_by_id_number(request: Request) -> Response:
    """Desk only: the open tickets of the person with this ID number (POSTed, never in a URL)."""
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_body(request, IdLookup)
    require(await session_of(request), hall.hall.id, DESK)
    engine = hall.engine
    key = engine.prefix + "person:" + engine.person_hash(body.id_number)
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
        await audit.record(
            runtime_of(request).redis,
            hall.hall.id,
            audit.entry(
                "cancel",
                staff=session.staff.id,
                role=session.role,
                ticket=(answer.get("ticket") or {}).get("number"),
                client=client_of(request),
                seq=answer.get("seq"),
            ),
        )
    return JSONResponse({"ticket": answer["ticket"]})


async def ticket_qr(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    await anonymous_limit(request, hall.hall.id, "anon", await session_of(request))
    if await hall.engine.ticket(token) is None:
        raise Refusal("unknown_ticket", "no such ticket")
    url = ticket_url(request, token)
    return Response(qr_svg(url), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})


async def rate_ticket(request: Request) -> Response:
    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    body = await read_body(request, Rating)  # the rating's rule too: a bad one is not counted
    await anonymous_limit(request, hall.hall.id, "rate", await session_of(request))
    answer = await hall.engine.rate(body.score, body.reasons, token=token)
    return JSONResponse({"ticket": answer["ticket"]}, status_code=201)


async def rate_at_window(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_body(request, PadRating)
    await anonymous_limit(request, hall.hall.id, "rate", await session_of(request))
    answer = await hall.engine.rate(body.score, body.reasons, window=request.path_params["window"], number=body.ticket)
    return JSONResponse({"ticket": answer["ticket"]}, status_code=201)


# --- staff -----------------------------------------------------------------------


async def login(request: Request) -> Response:
    body = await read_body(request, Login)
    runtime = runtime_of(request)
    try:
        token, session = await runtime.sessions.login(body.hall, body.staff, body.pin, client_of(request))
    except AuthError as refusal:
        # audit: failed logins of a known hall; not the 429s past the limit, which would let a
        # flood of attempts push the real records out of the bounded log
        if body.hall in runtime.halls and refusal.code != "too_many_attempts":
            await audit.record(
                runtime.redis,
                body.hall,
                audit.entry("login_failed", staff=body.staff, client=client_of(request), detail=refusal.code),
            )
        raise
    await audit.record(
        runtime.redis,
        session.hall,
        audit.entry("login", staff=session.staff.id, role=session.role, client=client_of(request)),
    )
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
        await audit.record(
            runtime_of(request).redis,
            session.hall,
            audit.entry("logout", staff=session.staff.id, role=session.role, client=client_of(request)),
        )
    response = JSONResponse({"ok": True})
    response.delete_cookie("hallq_session")
    return response


async def me(request: Request) -> Response:
    session = await session_of(request)
    if session is None:
        raise AuthError("not_logged_in", "log in first")
    return JSONResponse({"staff": session.public(), "hall": session.hall})


async def window_action(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    body = await read_body(request, WindowAction)
    session = require(await session_of(request), hall.hall.id, CLERKS)
    caller = caller_id(bearer(request), client_of(request))
    answer = await perform(hall, session, request.path_params["window"], body, caller, client=client_of(request))
    return JSONResponse(answer)


# --- the manager -----------------------------------------------------------------


async def set_notice(request: Request) -> Response:
    hall = runtime_of(request).hall(request.path_params["hall"])
    session = require(await session_of(request), hall.hall.id, ADMIN)
    body = await read_body(request, Notice)
    answer = await hall.engine.set_notice(body.text)
    await audit.record(
        runtime_of(request).redis,
        hall.hall.id,
        audit.entry(
            "notice",
            staff=session.staff.id,
            role=session.role,
            client=client_of(request),
            seq=answer.get("seq"),
            detail=body.text.strip(),
        ),
    )
    return JSONResponse({"seq": answer["seq"], "text": body.text.strip()})


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
    Route("/api/halls/{hall}/config.toml", hall_file),
]
