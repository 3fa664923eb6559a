"""The table of the HTTP API's documented operations, from which :mod:`server.openapi` builds its document.

Each :class:`Operation` is one ``method path``: who may call it, its body (the very
:class:`~server.validation.Field` table its handler checks), its query and its answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from server import actions, api, booking_api, case_api, push, remote_api, sms, staff_api
from server.queue.constants import NUMBER_RE
from server.queue.scripts import ACTIONS
from server.validation import Field

Auth = Literal["none", "optional", "staff"]

#: The window action's own refinements (``action`` and ``ticket`` mean other things elsewhere).
ACTION_REFINE: dict[str, dict[str, Any]] = {
    "action": {"enum": list(ACTIONS)},
    "ticket": {"pattern": NUMBER_RE.pattern, "example": "A012", "description": "a ticket number"},
}
#: A browser's PushSubscription (its ``toJSON()``), as POST /api/tickets/{token}/push takes it.
PUSH_REFINE: dict[str, dict[str, Any]] = {
    "keys": {
        "type": "object",
        "additionalProperties": False,
        "required": ["p256dh", "auth"],
        "properties": {
            "p256dh": {"type": "string", "maxLength": push.KEYS_FIELDS["p256dh"].max_length},
            "auth": {"type": "string", "maxLength": push.KEYS_FIELDS["auth"].max_length},
        },
    },
    "endpoint": {"format": "uri", "example": "https://push.example.com/send/abc"},
    "expirationTime": {"type": "number", "nullable": True},
}


@dataclass(frozen=True)
class Operation:
    """One documented ``method path``: who may call it, its body and query, its answers."""

    method: str
    path: str
    summary: str
    auth: Auth = "none"
    body: dict[str, Field] | None = None
    query: dict[str, str] = field(default_factory=dict)
    ok: int = 200
    errors: tuple[int, ...] = ()
    media: str = "application/json"
    tag: str = "hall"
    refine: dict[str, dict[str, Any]] = field(default_factory=dict)  # over REFINE, for this body
    csv: bool = False  # also answers text/csv (format=csv)
    answer: str | None = None  # a components schema of the success answer ("array": a JSON list)


HALL, WINDOW, TOKEN = "{hall}", "{window}", "{token}"
ADMIN_ERR = (401, 403, 404, 422, 503)
ENGINE_ERR = (404, 409, 422, 503)

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
    Operation("GET", f"/api/halls/{HALL}", "The hall's public configuration", errors=(404,)),
    Operation(
        "GET", f"/api/halls/{HALL}/state", "A snapshot: seq, windows, waiting counts, recent calls", errors=(404, 503)
    ),
    Operation(
        "GET", f"/api/halls/{HALL}/time", "The server's clock, in epoch ms and the hall's local time", errors=(404,)
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/tickets",
        "Take a ticket (kiosk, desk, integrations)",
        auth="optional",
        body=api.ISSUE_FIELDS,
        ok=201,
        answer="TicketAnswer",
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/remote-tickets",
        "Take a ticket from a phone, away from the hall",
        auth="optional",
        body=remote_api.REMOTE_FIELDS,
        ok=201,
        answer="TicketAnswer",
        errors=(403, *ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/tickets",
        "Find today's ticket by its number (staff)",
        auth="staff",
        query={"number": "the ticket number, e.g. A012"},
        errors=(401, 403, 404, 422, 503),
        tag="tickets",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/tickets/by-id",
        "The open tickets of an ID number (desk)",
        auth="staff",
        body=api.ID_LOOKUP_FIELDS,
        errors=ADMIN_ERR,
        tag="tickets",
    ),
    Operation(
        "GET",
        f"/api/tickets/{TOKEN}",
        "A ticket, its place and wait",
        auth="optional",
        answer="TicketAnswer",
        errors=(404, 429, 503),
        tag="tickets",
    ),
    Operation(
        "DELETE",
        f"/api/tickets/{TOKEN}",
        "Cancel a waiting ticket",
        auth="optional",
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "GET",
        f"/api/tickets/{TOKEN}/qr.svg",
        "The ticket's QR code (its visitor page)",
        auth="optional",
        media="image/svg+xml",
        errors=(404, 429, 503),
        tag="tickets",
    ),
    Operation(
        "POST",
        f"/api/tickets/{TOKEN}/rating",
        "Rate a finished ticket (1–5)",
        auth="optional",
        body=api.RATING_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "POST",
        f"/api/tickets/{TOKEN}/phone",
        "Leave a mobile number for text messages (halls with SMS)",
        auth="optional",
        body=sms.PHONE_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "GET",
        f"/api/tickets/{TOKEN}/phone",
        "The ticket's number, masked, and whether the hall texts",
        auth="optional",
        errors=(404, 429, 503),
        tag="tickets",
    ),
    Operation(
        "DELETE",
        f"/api/tickets/{TOKEN}/phone",
        "Forget the ticket's number",
        auth="optional",
        errors=(404, 429, 503),
        tag="tickets",
    ),
    Operation("GET", "/api/push/key", "The server's Web Push (VAPID) public key", tag="tickets"),
    Operation(
        "POST",
        f"/api/tickets/{TOKEN}/push",
        "Ask for Web Push notices for a ticket (a PushSubscription)",
        auth="optional",
        body=push.SUBSCRIPTION_FIELDS,
        refine=PUSH_REFINE,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "DELETE",
        f"/api/tickets/{TOKEN}/push",
        "Stop Web Push notices for a ticket",
        auth="optional",
        errors=(404, 429, 503),
        tag="tickets",
    ),
    Operation(
        "POST",
        "/api/auth/login",
        "Log in with a staff id and PIN; sets the session cookie",
        body=api.LOGIN_FIELDS,
        errors=(401, 404, 422, 429, 503),
        tag="staff",
    ),
    Operation("POST", "/api/auth/logout", "End this session", auth="staff", errors=(401, 503), tag="staff"),
    Operation("GET", "/api/auth/me", "Who this session is", auth="staff", errors=(401, 503), tag="staff"),
    Operation(
        "POST",
        f"/api/halls/{HALL}/windows/{WINDOW}/actions",
        "A window action (call_next, recall, …)",
        auth="staff",
        body=actions.ACTION_FIELDS,
        refine=ACTION_REFINE,
        errors=(401, 403, *ENGINE_ERR),
        tag="staff",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/windows/{WINDOW}/rating",
        "Rate at the window's rating pad",
        auth="optional",
        body=api.PAD_RATING_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="tickets",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/notice",
        "Set the lobby notice (manager)",
        auth="staff",
        body=api.NOTICE_FIELDS,
        errors=(*ADMIN_ERR, 409),
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/stats",
        "Figures per group (JSON, or CSV with format=csv)",
        auth="staff",
        query={
            "from": "first day, YYYY-MM-DD",
            "to": "last day, YYYY-MM-DD",
            "by": "service, window, clerk, hour, day or month",
            "format": "json or csv",
        },
        csv=True,
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/ratings",
        "Ratings of a period, newest first",
        auth="staff",
        query={"from": "first day", "to": "last day", "bad": "1: bad ratings only"},
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/history.csv",
        "A day's tickets as CSV",
        auth="staff",
        query={"day": "YYYY-MM-DD (default today)"},
        media="text/csv",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/config.toml",
        "The hall file, secrets hidden",
        auth="staff",
        media="text/plain",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/screens",
        "The connected lobby and window screens",
        auth="staff",
        answer="array",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/audit",
        "The audit log (JSON, or CSV with format=csv)",
        auth="staff",
        query={"limit": "how many entries, newest first", "format": "json or csv"},
        csv=True,
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/webhooks",
        "Each webhook receiver's last delivery and backlog",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST", f"/api/halls/{HALL}/reload", "Reload the hall files now", auth="staff", errors=ADMIN_ERR, tag="manager"
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/staff",
        "The hall's staff (never a PIN)",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/staff",
        "Add a staff member (written to the staff overlay, applied live)",
        auth="staff",
        body=staff_api.ADD_FIELDS,
        ok=201,
        errors=(*ADMIN_ERR, 409),
        tag="manager",
        refine={
            "role": {"enum": ["clerk", "desk", "admin"]},
            "id": {"pattern": staff_api.STAFF_ID_RE.pattern, "example": "s06"},
            "pin": {"minLength": staff_api.PIN_MIN, "description": "kept only as a scrypt hash"},
        },
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/staff/{{staff}}/pin",
        "Reset a staff member's PIN",
        auth="staff",
        body=staff_api.PIN_FIELDS,
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/staff/{{staff}}/disable",
        "Disable a staff member: its sessions end, its logins are refused",
        auth="staff",
        errors=(*ADMIN_ERR, 409),
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/staff/{{staff}}/enable",
        "Enable a disabled staff member again",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/windows",
        "Add a window (written to the staff overlay, applied live)",
        auth="staff",
        body=staff_api.WINDOW_FIELDS,
        ok=201,
        errors=(*ADMIN_ERR, 409),
        tag="manager",
        refine={"id": {"example": "7"}, "services": {"items": {"type": "string", "example": "register"}}},
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/windows/{WINDOW}/retire",
        "Take a window out of service (its tickets settle as on a reload)",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/windows/{WINDOW}/restore",
        "Put back a window taken out of service on the manager page",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/slots",
        "Appointment slots and places left",
        query={"date": "YYYY-MM-DD", "service": "service id(s), comma-separated"},
        errors=(404, 422, 503),
        tag="appointments",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/appointments",
        "Book an appointment",
        auth="optional",
        body=booking_api.BOOK_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="appointments",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/appointments/check-in",
        "Check in by code or ID number (kiosk)",
        auth="optional",
        answer="TicketAnswer",
        body=booking_api.CHECK_IN_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="appointments",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/appointments/{{code}}/check-in",
        "Check in by the appointment's code",
        auth="optional",
        answer="TicketAnswer",
        body=booking_api.CHECK_IN_FIELDS,
        ok=201,
        errors=(*ENGINE_ERR, 429),
        tag="appointments",
    ),
    Operation(
        "GET",
        f"/api/appointments/{TOKEN}",
        "An appointment",
        auth="optional",
        errors=(404, 429, 503),
        tag="appointments",
    ),
    Operation(
        "DELETE",
        f"/api/appointments/{TOKEN}",
        "Cancel an appointment",
        auth="optional",
        errors=(*ENGINE_ERR, 429),
        tag="appointments",
    ),
    Operation(
        "GET",
        f"/api/appointments/{TOKEN}/qr.svg",
        "The appointment's QR code (its code)",
        auth="optional",
        media="image/svg+xml",
        errors=(404, 429, 503),
        tag="appointments",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/cases",
        "Bad-rating cases, by deadline",
        auth="staff",
        query={"status": "open, …, pending or all"},
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/cases/summary",
        "The cases' two rates over a period",
        auth="staff",
        query={"from": "first day", "to": "last day"},
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "GET",
        f"/api/halls/{HALL}/cases/{{id}}",
        "One case with its history",
        auth="staff",
        errors=ADMIN_ERR,
        tag="manager",
    ),
    Operation(
        "POST",
        f"/api/halls/{HALL}/cases/{{id}}",
        "Act on a case (assign, note, answer, close, …)",
        auth="staff",
        body=case_api.CASE_FIELDS,
        errors=(*ADMIN_ERR, 409),
        tag="manager",
    ),
]
