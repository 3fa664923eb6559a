"""Appointments (预约) over HTTP, and the phone's booking and appointment pages.

Thin handlers over :class:`server.queue.booking.Booking`: validate, rate-limit anonymous
callers (staff sessions are exempt, as for tickets), make one engine call.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import audit, ratelimit
from server.actions import caller_id
from server.appointments import local_date, parse_day
from server.asking import bearer, client_of, public_base, session_of, ticket_url
from server.bodies import read_body
from server.qr import qr_svg
from server.queue.booking import Booking
from server.queue.errors import Refusal
from server.queue.ids import hall_of_token
from server.runtime import HallRuntime, runtime_of
from server.ticket_bodies import CheckIn, NewAppointment

#: What an anonymous caller is told instead of a message that names a ticket number.
ANONYMOUS_MESSAGES = {
    "duplicate_ticket": "you already hold an open ticket for this service; please keep it",
    "checked_in": "this appointment is checked in already",
}


def appointment_url(request: Request, token: str) -> str:
    """The visitor's appointment page (code, QR, cancel), as its QR code carries it."""
    return f"{public_base(request)}/a/{token}"


def appointment_hall(request: Request, token: str) -> HallRuntime:
    hall_id = hall_of_token(token)
    if hall_id is None or hall_id not in runtime_of(request).halls:
        raise Refusal("unknown_appointment", "no such appointment")
    return runtime_of(request).hall(hall_id)


async def _limit(request: Request, hall: HallRuntime, scope: str) -> Any:
    session = await session_of(request)
    if session is None:
        await ratelimit.check(runtime_of(request).redis, hall.hall.id, scope, client_of(request))
    return session


async def list_slots(request: Request) -> Response:
    """``GET /api/halls/{hall}/slots?date=YYYY-MM-DD&service=ID[,ID]``: places left per slot."""
    hall = runtime_of(request).hall(request.path_params["hall"])
    services = [s for s in request.query_params.get("service", "").split(",") if s]
    day_text = request.query_params.get("date", "")
    slots = await Booking(hall.engine).slots(day_text, services)
    day = parse_day(day_text) if day_text else local_date(hall.hall, hall.engine.clock())
    holiday = hall.hall.calendar.holiday(day) if day is not None else None
    # a holiday has no slots; its name says why (the booking page shows it)
    return JSONResponse({"slots": slots} | ({"holiday": holiday.name} if holiday else {}))


async def book(request: Request) -> Response:
    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    body = await read_body(request, NewAppointment)
    session = await _limit(request, hall, "issue")
    runtime.require_ready()  # an ID number is hashed with the key kept in Redis
    answer = await Booking(hall.engine).book(
        body.services,
        body.date,
        body.start,
        id_number=body.id_number or None,
        phone=body.phone or None,
        by=session.staff.id if session is not None else None,
        request_id=body.request_id,
        caller=caller_id(bearer(request) if session else None, client_of(request)),
    )
    appointment = answer["appointment"]
    if session is not None and session.hall == hall.hall.id:  # audit: the desk booking for a visitor
        await audit.record(
            runtime.redis,
            hall.hall.id,
            audit.entry(
                "book", staff=session.staff.id, role=session.role, client=client_of(request), seq=answer.get("seq")
            ),
        )
    return JSONResponse(
        {"appointment": appointment, "url": appointment_url(request, appointment["token"])}, status_code=201
    )


async def get_appointment(request: Request) -> Response:
    token = request.path_params["token"]
    hall = appointment_hall(request, token)
    await _limit(request, hall, "anon")
    found = await Booking(hall.engine).appointment(token)
    if found is None:
        raise Refusal("unknown_appointment", "no such appointment")
    if "ticket_token" in found:
        found["ticket_url"] = ticket_url(request, found.pop("ticket_token"))
    return JSONResponse({"appointment": found, "url": appointment_url(request, token)})


async def cancel_appointment(request: Request) -> Response:
    token = request.path_params["token"]
    hall = appointment_hall(request, token)
    await _limit(request, hall, "anon")
    answer = await Booking(hall.engine).cancel(token)
    return JSONResponse({"appointment": answer["appointment"]})


async def appointment_qr(request: Request) -> Response:
    """The appointment's QR code: its 8-digit code (a kiosk's scanner types it)."""
    token = request.path_params["token"]
    hall = appointment_hall(request, token)
    await _limit(request, hall, "anon")
    found = await Booking(hall.engine).appointment(token)
    if found is None:
        raise Refusal("unknown_appointment", "no such appointment")
    return Response(qr_svg(found["code"]), media_type="image/svg+xml", headers={"Cache-Control": "private"})


async def _check_in(request: Request, code: str | None) -> Response:
    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    body = await read_body(request, CheckIn)
    code = code or body.code or None
    session = await _limit(request, hall, "issue")
    runtime.require_ready()
    try:
        answer = await Booking(hall.engine).check_in(
            code=code, id_number=None if code else (body.id_number or None), lang=body.lang
        )
    except Refusal as refusal:
        if refusal.code in ("duplicate_ticket", "checked_in") and session is None:
            # whoever types an ID number at the kiosk must not learn that person's ticket number
            # (as for POST /tickets); the desk can look it up
            raise Refusal(refusal.code, ANONYMOUS_MESSAGES[refusal.code]) from None
        raise
    answer.pop("seq", None)
    answer["url"] = ticket_url(request, answer["ticket"]["token"])
    return JSONResponse(answer, status_code=201)


async def check_in_by_code(request: Request) -> Response:
    """``POST /api/halls/{hall}/appointments/{code}/check-in``: the contract's route."""
    return await _check_in(request, request.path_params["code"])


async def check_in(request: Request) -> Response:
    """``POST /api/halls/{hall}/appointments/check-in`` with ``code`` or ``id_number`` (the kiosk)."""
    return await _check_in(request, None)


# --- pages ---------------------------------------------------------------------------


async def book_page(request: Request) -> Response:
    from server.pages import hall_context, render

    return render(request, "book.html", **hall_context(request))


async def appointment_page(request: Request) -> Response:
    from server.pages import page_context, render

    runtime = runtime_of(request)
    token = request.path_params["token"]
    hall_runtime = runtime.halls.get(hall_of_token(token) or "")
    found = await Booking(hall_runtime.engine).appointment(token) if hall_runtime else None
    hall = (hall_runtime or next(iter(runtime.halls.values()))).hall
    return render(
        request,
        "appointment.html",
        status=200 if found else 404,
        **page_context(hall),
        token=token if found else "",
        missing=found is None,
    )


routes = [
    Route("/api/halls/{hall}/slots", list_slots),
    Route("/api/halls/{hall}/appointments", book, methods=["POST"]),
    Route("/api/halls/{hall}/appointments/check-in", check_in, methods=["POST"]),
    Route("/api/halls/{hall}/appointments/{code}/check-in", check_in_by_code, methods=["POST"]),
    Route("/api/appointments/{token}", get_appointment, methods=["GET"]),
    Route("/api/appointments/{token}", cancel_appointment, methods=["DELETE"]),
    Route("/api/appointments/{token}/qr.svg", appointment_qr),
    Route("/book/{hall}", book_page),
    Route("/a/{token}", appointment_page),
]
