"""The OpenAPI 3 description of the HTTP API, served at ``GET /api/openapi.json``.

Request bodies come from the very :class:`~server.validation.Field` tables the handlers
check bodies with, so the description cannot drift from what is accepted;
:data:`OPERATIONS` adds what a table does not say (who may call, what comes back).
``tests/test_openapi.py`` checks that every ``/api`` route of the app is described here
and that nothing described is missing from the app; ``tests/test_schemathesis.py``
fuzzes a real server from this document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import actions, api, audit, booking_api, case_api, cases, push, remote_api, sms, stats
from server.queue.constants import NUMBER_RE
from server.queue.ids import REQUEST_ID_RE
from server.queue.scripts import ACTIONS
from server.validation import MAX_BODY_BYTES, Field

Auth = Literal["none", "optional", "staff"]

#: What a refusal's ``code`` and ``message`` look like (CONTRACT.md, "Errors").
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "snake_case, machine-readable", "example": "unknown_ticket"},
                "message": {"type": "string", "description": "for people"},
            },
        }
    },
}

#: A ticket ``T`` (docs/protocol.md, "Objects"); ``token`` only for its visitor and staff.
TICKET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["number", "services", "priority", "status"],
    "properties": {
        "number": {"type": "string", "example": "A012"},
        "token": {"type": "string", "description": "unguessable; only for whoever took the ticket and staff"},
        "services": {"type": "array", "items": {"type": "string"}},
        "priority": {"type": "boolean"},
        "status": {
            "type": "string",
            "enum": ["waiting", "called", "serving", "done", "no_show", "suspended", "cancelled", "expired"],
        },
        "window": {"type": "string", "nullable": True},
        "issued_at": {"type": "integer", "description": "epoch ms"},
        "called_at": {"type": "integer", "nullable": True},
        "done_at": {"type": "integer", "nullable": True},
    },
}
#: What a visitor is told about a ticket: it, how many go first, the expected wait, its page.
TICKET_ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ticket"],
    "properties": {
        "ticket": {"$ref": "#/components/schemas/Ticket"},
        "ahead": {"type": "integer", "description": "tickets called before this one"},
        "eta_s": {"type": "number", "nullable": True, "description": "the expected wait in seconds"},
        "url": {"type": "string", "description": "the visitor's page, as in the QR code"},
    },
}

STATUS_TEXT = {
    200: "OK",
    201: "Created",
    400: "Malformed JSON (`bad_json`)",
    401: "Not logged in (`not_logged_in`), or a wrong PIN",
    403: "Not allowed: another hall's login, a role without the right, or a cross-site write",
    404: "Unknown hall, window, ticket, service, appointment or case",
    405: "Method not allowed",
    409: "Not possible now (duplicate, wrong state, nothing called, …); nothing changed",
    413: f"Body larger than {MAX_BODY_BYTES} bytes",
    415: "A cookie-authenticated write that is not `application/json`",
    422: "A field is missing, unknown, of the wrong type or out of range",
    429: "Too many requests from this client address (anonymous requests; staff are exempt)",
    503: "The queue store (Redis) is unavailable; retry after `Retry-After` seconds",
}

#: Refinements of body fields beyond a Field's type and length (documentation and fuzzing).
REFINE: dict[str, dict[str, Any]] = {
    "services": {"items": {"type": "string", "example": "register"}, "minItems": 1, "maxItems": 10},
    "reasons": {"items": {"type": "string", "pattern": "^[a-z_]{1,32}$"}, "maxItems": 8},
    "score": {"minimum": 1, "maximum": 5},
    "ticket": {"example": "A001"},
    "date": {"format": "date", "example": "2026-03-02"},
    "start": {"example": "09:00"},
    "lang": {"example": "zh"},
    "request_id": {"pattern": REQUEST_ID_RE.pattern, "description": "the same one again performs it once"},
}
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
#: Query parameters' schemas by name (any other is a plain string).
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "day": {"type": "string", "format": "date"},
    "date": {"type": "string", "format": "date"},
    "by": {"type": "string", "enum": list(stats.BY_VALUES)},
    "format": {"type": "string", "enum": ["json", "csv"]},
    "limit": {"type": "integer", "minimum": 1, "maximum": audit.KEEP},
    "status": {"type": "string", "enum": [*cases.STATUSES, "pending", "all"]},
    "number": {"type": "string", "pattern": NUMBER_RE.pattern},
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

PATH_EXAMPLES = {"hall": "demo", "window": "1", "token": "demo.abc", "code": "12345678", "id": "1"}


def field_schema(name: str, spec: Field, refine: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    kind = {str: "string", int: "integer", bool: "boolean", list: "array", dict: "object"}.get(spec.type)
    schema: dict[str, Any] = {"type": kind} if kind else {}  # Field(object): any JSON value
    if kind == "string":
        schema["maxLength"] = spec.max_length
    elif kind == "array":
        schema["maxItems"] = spec.max_length
    schema.update(REFINE.get(name, {}))
    schema.update((refine or {}).get(name, {}))
    return schema


def body_schema(fields: dict[str, Field], refine: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A JSON object of exactly these fields (unknown ones are refused with 422)."""
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: field_schema(name, spec, refine) for name, spec in fields.items()},
    }
    required = [name for name, spec in fields.items() if spec.required]
    if required:
        schema["required"] = required
    return schema


def _operation(op: Operation) -> dict[str, Any]:  # noqa: C901 — one branch per part of an operation the table may describe
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "example": PATH_EXAMPLES[name]}
        for name in _path_names(op.path)
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": QUERY_SCHEMAS.get(name, {"type": "string"}),
            "description": text,
        }
        for name, text in op.query.items()
    ]
    success: dict[str, Any] = {"description": STATUS_TEXT[op.ok]}
    if op.media == "application/json":
        answer: dict[str, Any] = {"type": "object"}
        if op.answer == "array":
            answer = {"type": "array", "items": {"type": "object"}}
        elif op.answer:
            answer = {"$ref": f"#/components/schemas/{op.answer}"}
        success["content"] = {"application/json": {"schema": answer}}
        if op.csv:
            success["content"]["text/csv"] = {"schema": {"type": "string"}}
    else:
        success["content"] = {op.media: {"schema": {"type": "string"}}}
    errors = set(op.errors) | {405, 503}
    if op.body is not None:
        errors |= {400, 413, 422}
        if op.auth != "none":
            errors |= {403, 415}  # a cookie session's write must be JSON, from our own origin
    if op.method in ("POST", "DELETE") and op.auth != "none":
        errors |= {403, 415}
    responses: dict[str, Any] = {str(op.ok): success}
    for status in sorted(errors):
        responses[str(status)] = {"$ref": "#/components/responses/Error"}
    described: dict[str, Any] = {
        "summary": op.summary,
        "operationId": _operation_id(op),
        "tags": [op.tag],
        "responses": responses,
    }
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body_schema(op.body, op.refine)}},
        }
    if op.auth == "staff":
        described["security"] = [{"bearer": []}, {"session": []}]
    elif op.auth == "optional":  # anonymous, or staff (exempt from the rate limit)
        described["security"] = [{}, {"bearer": []}, {"session": []}]
    return described


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _operation_id(op: Operation) -> str:
    words = [p.strip("{}").replace(".", "_").replace("-", "_") for p in op.path.split("/") if p and p != "api"]
    return op.method.lower() + "_" + "_".join(words)


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document of :data:`OPERATIONS`."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "hallq",
            "version": "1",
            "description": (
                "The hall queue's HTTP API (docs/protocol.md has the whole protocol, sockets included). "
                'Every error is `{"error": {"code", "message"}}`; a refused request changes nothing. '
                "Staff log in with POST /api/auth/login and send `Authorization: Bearer TOKEN` "
                "(or the `hallq_session` cookie, for the hall's own pages)."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the token from /api/auth/login"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hallq_session"},
            },
            "schemas": {"Error": ERROR_SCHEMA, "Ticket": TICKET_SCHEMA, "TicketAnswer": TICKET_ANSWER_SCHEMA},
            "responses": {
                "Error": {
                    "description": "Refused; nothing changed. "
                    + "; ".join(f"{status}: {text}" for status, text in STATUS_TEXT.items() if status >= 400),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    return JSONResponse(document(), headers={"Cache-Control": "no-cache"})


routes = [Route("/api/openapi.json", openapi_json)]
