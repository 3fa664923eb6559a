"""The table of the HTTP API's documented operations, from which :mod:`server.openapi` builds its document.

Each :class:`Operation` is one ``method path``: who may call it, its body (the very model of
:mod:`server.bodies` reads), its query and its answers. Most operations are of
one of three kinds, each with its helper: a visitor's (:func:`visitor`: anyone, staff exempt
from the rate limit), a manager's (:func:`manager`: an admin session) and the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from server import hall_bodies, staff_bodies, ticket_bodies

Auth = Literal["none", "optional", "staff"]


@dataclass(frozen=True)
class Operation:
    """One documented ``method path``: who may call it, its body and query, its answers."""

    method: str
    path: str
    summary: str
    auth: Auth = "none"
    body: type[BaseModel] | None = None
    query: dict[str, str] = field(default_factory=dict)
    ok: int = 200
    errors: tuple[int, ...] = ()
    media: str = "application/json"
    tag: str = "hall"
    csv: bool = False  # also answers text/csv (format=csv)
    answer: str | None = None  # a components schema of the success answer ("array": a JSON list)


HALL, TICKET, APPOINTMENT = "/api/halls/{hall}", "/api/tickets/{token}", "/api/appointments/{token}"
ADMIN_ERR = (401, 403, 404, 422, 503)
ENGINE_ERR = (404, 409, 422, 503)
#: A visitor's read (a ticket, an appointment) and a visitor's change.
READ_ERR, CHANGE_ERR = (404, 429, 503), (*ENGINE_ERR, 429)


def visitor(method: str, path: str, summary: str, **more: Any) -> Operation:
    """Anyone may call it (a staff session is exempt from the rate limit); a read by default
    answers :data:`READ_ERR`, a change :data:`CHANGE_ERR`; tagged ``tickets``."""
    more.setdefault("errors", READ_ERR if method == "GET" else CHANGE_ERR)
    more.setdefault("tag", "tickets")
    return Operation(method, path, summary, auth="optional", **more)


def manager(method: str, path: str, summary: str, **more: Any) -> Operation:
    """The manager's (an admin session): :data:`ADMIN_ERR` (and 409 when ``conflict``)."""
    conflict = more.pop("conflict", False)
    return Operation(
        method, path, summary, auth="staff", errors=(*ADMIN_ERR, 409) if conflict else ADMIN_ERR, tag="manager", **more
    )


PERIOD = {"from": "first day", "to": "last day"}

OPERATIONS: list[Operation] = [
    Operation(
        "GET", "/healthz", 'Liveness: 200 `{"status":"ok"}`; 503 names what is wrong', errors=(503,), tag="operations"
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus text (loopback clients, or an admin token)",
        auth="staff",
        media="text/plain",
        errors=(401, 403, 503),
        tag="operations",
    ),
    Operation("GET", "/api/version", "hallq's version and each hall file's content hash", tag="operations"),
    Operation("GET", "/api/openapi.json", "This document", tag="operations"),
    Operation("GET", HALL, "The hall's public configuration", errors=(404,)),
    Operation("GET", f"{HALL}/state", "A snapshot: seq, windows, waiting counts, recent calls", errors=(404, 503)),
    Operation("GET", f"{HALL}/time", "The server's clock, in epoch ms and the hall's local time", errors=(404,)),
    # --- tickets ---------------------------------------------------------------------------
    visitor(
        "POST",
        f"{HALL}/tickets",
        "Take a ticket (kiosk, desk, integrations)",
        body=ticket_bodies.Issue,
        ok=201,
        answer="TicketAnswer",
    ),
    visitor(
        "POST",
        f"{HALL}/remote-tickets",
        "Take a ticket from a phone, away from the hall",
        body=ticket_bodies.RemoteIssue,
        ok=201,
        answer="TicketAnswer",
        errors=(403, *CHANGE_ERR),
    ),
    Operation(
        "GET",
        f"{HALL}/tickets",
        "Find today's ticket by its number (staff)",
        auth="staff",
        query={"number": "the ticket number, e.g. A012"},
        errors=ADMIN_ERR,
        tag="tickets",
    ),
    Operation(
        "POST",
        f"{HALL}/tickets/by-id",
        "The open tickets of an ID number (desk)",
        auth="staff",
        body=ticket_bodies.IdLookup,
        errors=ADMIN_ERR,
        tag="tickets",
    ),
    visitor("GET", TICKET, "A ticket, its place and wait", answer="TicketAnswer"),
    visitor("DELETE", TICKET, "Cancel a waiting ticket"),
    visitor("GET", f"{TICKET}/qr.svg", "The ticket's QR code (its visitor page)", media="image/svg+xml"),
    visitor("POST", f"{TICKET}/rating", "Rate a finished ticket (1–5)", body=ticket_bodies.Rating, ok=201),
    visitor(
        "POST",
        f"{TICKET}/phone",
        "Leave a mobile number for text messages (halls with SMS)",
        body=ticket_bodies.Phone,
        ok=201,
    ),
    visitor("GET", f"{TICKET}/phone", "The ticket's number, masked, and whether the hall texts"),
    visitor("DELETE", f"{TICKET}/phone", "Forget the ticket's number", errors=READ_ERR),
    Operation("GET", "/api/push/key", "The server's Web Push (VAPID) public key", tag="tickets"),
    visitor(
        "POST",
        f"{TICKET}/push",
        "Ask for Web Push notices for a ticket (a PushSubscription)",
        body=ticket_bodies.PushSubscription,
        ok=201,
    ),
    visitor("DELETE", f"{TICKET}/push", "Stop Web Push notices for a ticket", errors=READ_ERR),
    visitor(
        "POST",
        f"{HALL}/windows/{{window}}/rating",
        "Rate at the window's rating pad",
        body=ticket_bodies.PadRating,
        ok=201,
    ),
    # --- staff -----------------------------------------------------------------------------
    Operation(
        "POST",
        "/api/auth/login",
        "Log in with a staff id and PIN; sets the session cookie",
        body=staff_bodies.Login,
        errors=(401, 404, 422, 429, 503),
        tag="staff",
    ),
    Operation("POST", "/api/auth/logout", "End this session", auth="staff", errors=(401, 503), tag="staff"),
    Operation("GET", "/api/auth/me", "Who this session is", auth="staff", errors=(401, 503), tag="staff"),
    Operation(
        "POST",
        f"{HALL}/windows/{{window}}/actions",
        "A window action (call_next, recall, …)",
        auth="staff",
        body=staff_bodies.WindowAction,
        errors=(401, 403, *ENGINE_ERR),
        tag="staff",
    ),
    # --- the manager -----------------------------------------------------------------------
    manager("POST", f"{HALL}/notice", "Set the lobby notice (manager)", body=staff_bodies.Notice, conflict=True),
    manager(
        "GET",
        f"{HALL}/stats",
        "Figures per group (JSON, or CSV with format=csv)",
        query={
            "from": "first day, YYYY-MM-DD",
            "to": "last day, YYYY-MM-DD",
            "by": "service, window, clerk, hour, day or month",
            "format": "json or csv",
        },
        csv=True,
    ),
    manager(
        "GET", f"{HALL}/ratings", "Ratings of a period, newest first", query={**PERIOD, "bad": "1: bad ratings only"}
    ),
    manager(
        "GET",
        f"{HALL}/history.csv",
        "A day's tickets as CSV",
        query={"day": "YYYY-MM-DD (default today)"},
        media="text/csv",
    ),
    manager("GET", f"{HALL}/config.toml", "The hall file, secrets hidden", media="text/plain"),
    manager("GET", f"{HALL}/screens", "The connected lobby and window screens", answer="array"),
    manager(
        "GET",
        f"{HALL}/audit",
        "The audit log (JSON, or CSV with format=csv)",
        query={"limit": "how many entries, newest first", "format": "json or csv"},
        csv=True,
    ),
    manager("GET", f"{HALL}/webhooks", "Each webhook receiver's last delivery and backlog"),
    manager("POST", f"{HALL}/reload", "Reload the hall files now"),
    manager("GET", f"{HALL}/staff", "The hall's staff (never a PIN)"),
    manager(
        "POST",
        f"{HALL}/staff",
        "Add a staff member (written to the staff overlay, applied live)",
        body=staff_bodies.NewStaff,
        ok=201,
        conflict=True,
    ),
    manager("POST", f"{HALL}/staff/{{staff}}/pin", "Reset a staff member's PIN", body=staff_bodies.NewPin),
    manager(
        "POST",
        f"{HALL}/staff/{{staff}}/disable",
        "Disable a staff member: its sessions end, its logins are refused",
        conflict=True,
    ),
    manager("POST", f"{HALL}/staff/{{staff}}/enable", "Enable a disabled staff member again"),
    manager(
        "POST",
        f"{HALL}/staff/{{staff}}/windows",
        "Set the only windows a staff member may serve ([]: any window)",
        body=staff_bodies.StaffWindows,
    ),
    manager(
        "POST",
        f"{HALL}/windows",
        "Add a window (written to the staff overlay, applied live)",
        body=hall_bodies.NewWindow,
        ok=201,
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/windows/{{window}}/retire",
        "Take a window out of service (refused while it would strand a visitor)",
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/windows/{{window}}/restore",
        "Put back a window taken out of service on the manager page",
    ),
    manager(
        "POST",
        f"{HALL}/services",
        "Add a service and the windows serving it (written to the staff overlay, applied live)",
        body=hall_bodies.NewService,
        ok=201,
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/services/{{service}}/name",
        "Change a service's wording (its names per language)",
        body=hall_bodies.ServiceWording,
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/services/{{service}}/settings",
        "Change a service's letter, kind, expected minutes or daily quota (refused while its old letter is open)",
        body=hall_bodies.ServiceSettings,
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/services/{{service}}/remove",
        "Take a service away, and out of every window (refused while it would strand a visitor)",
        conflict=True,
    ),
    manager("GET", f"{HALL}/hours", "The opening hours per weekday and the ticket cutoff"),
    manager(
        "POST",
        f"{HALL}/hours",
        "Change the opening hours and the ticket cutoff (applied live)",
        body=hall_bodies.OpeningHours,
        conflict=True,
    ),
    manager("GET", f"{HALL}/calendar", "The hall's holidays and 调休 working days, and today's date"),
    manager(
        "POST",
        f"{HALL}/calendar/holidays",
        "Add a holiday: the hall closes (written to the calendar overlay, applied live)",
        body=staff_bodies.NewHoliday,
        ok=201,
        conflict=True,
    ),
    manager(
        "DELETE",
        f"{HALL}/calendar/holidays/{{date}}",
        "Remove a holiday added on the manager page (by its first date)",
        conflict=True,
    ),
    manager(
        "POST",
        f"{HALL}/calendar/workdays",
        "Add a 调休 working day: the hall opens with a weekday's hours (applied live)",
        body=staff_bodies.NewWorkday,
        ok=201,
        conflict=True,
    ),
    manager(
        "DELETE",
        f"{HALL}/calendar/workdays/{{date}}",
        "Remove a working day added on the manager page",
        conflict=True,
    ),
    manager("GET", f"{HALL}/cases", "Bad-rating cases, by deadline", query={"status": "open, …, pending or all"}),
    manager("GET", f"{HALL}/cases/summary", "The cases' two rates over a period", query=PERIOD),
    manager("GET", f"{HALL}/cases/{{id}}", "One case with its history"),
    manager(
        "POST",
        f"{HALL}/cases/{{id}}",
        "Act on a case (assign, note, answer, close, …)",
        body=staff_bodies.CaseStep,
        conflict=True,
    ),
    # --- appointments ----------------------------------------------------------------------
    Operation(
        "GET",
        f"{HALL}/slots",
        "Appointment slots and places left",
        query={"date": "YYYY-MM-DD", "service": "service id(s), comma-separated"},
        errors=(404, 422, 503),
        tag="appointments",
    ),
    visitor(
        "POST",
        f"{HALL}/appointments",
        "Book an appointment",
        body=ticket_bodies.NewAppointment,
        ok=201,
        tag="appointments",
    ),
    visitor(
        "POST",
        f"{HALL}/appointments/check-in",
        "Check in by code or ID number (kiosk)",
        answer="TicketAnswer",
        body=ticket_bodies.CheckIn,
        ok=201,
        tag="appointments",
    ),
    visitor(
        "POST",
        f"{HALL}/appointments/{{code}}/check-in",
        "Check in by the appointment's code",
        answer="TicketAnswer",
        body=ticket_bodies.CheckIn,
        ok=201,
        tag="appointments",
    ),
    visitor("GET", APPOINTMENT, "An appointment", tag="appointments"),
    visitor("DELETE", APPOINTMENT, "Cancel an appointment", tag="appointments"),
    visitor(
        "GET",
        f"{APPOINTMENT}/qr.svg",
        "The appointment's QR code (its code)",
        media="image/svg+xml",
        tag="appointments",
    ),
]
