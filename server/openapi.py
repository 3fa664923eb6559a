"""The OpenAPI 3 description of the HTTP API, served at ``GET /api/openapi.json``.

Request bodies are the JSON schemas of the very models (:mod:`server.ticket_bodies`,
:mod:`server.staff_bodies`, :mod:`server.hall_bodies`) the handlers read bodies with, so the
description cannot drift from what is accepted;
:data:`server.openapi_operations.OPERATIONS` adds what a model does not say (who may call, what comes back).
``tests/test_openapi.py`` checks that every ``/api`` route of the app is described here
and that nothing described is missing from the app; ``tests/test_schemathesis.py``
fuzzes a real server from this document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import audit, cases, stats
from server.bodies import MAX_BODY_BYTES
from server.openapi_operations import OPERATIONS, Operation
from server.queue.constants import NUMBER_RE

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


PATH_EXAMPLES = {
    "hall": "demo",
    "window": "1",
    "token": "demo.abc",
    "code": "12345678",
    "id": "1",
    "staff": "s06",
    "date": "2026-10-01",
    "service": "photo",
}


class OpenAPI30(GenerateJsonSchema):
    """pydantic's JSON schema in OpenAPI 3.0's dialect: ``nullable`` rather than a ``null``
    type, no per-field titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> dict[str, Any]:
        return {**self.generate_inner(schema["schema"]), "nullable": True}

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def float_schema(self, schema: core_schema.FloatSchema) -> dict[str, Any]:
        return _exclusive_bounds(super().float_schema(schema))

    def int_schema(self, schema: core_schema.IntSchema) -> dict[str, Any]:
        return _exclusive_bounds(super().int_schema(schema))


def _exclusive_bounds(schema: dict[str, Any]) -> dict[str, Any]:
    """JSON Schema's ``"exclusiveMinimum": 0`` as OpenAPI 3.0 says it: ``"minimum": 0,
    "exclusiveMinimum": true`` (a bound above 0, such as a service's expected minutes)."""
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in schema and not isinstance(schema[bound], bool):
            schema[limit], schema[bound] = schema[bound], True
    return schema


def body_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """A reference to ``model``'s schema, which is added (with the models it nests) to
    ``components``: an object of exactly its fields (unknown ones are refused with 422)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", schema_generator=OpenAPI30)
    for name, nested in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        nested.pop("description", None)  # the model's docstring speaks of the code, not the wire
        components[name] = nested
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:  # noqa: C901 — one branch per part of an operation the table may describe
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
            "content": {"application/json": {"schema": body_schema(op.body, components)}},
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
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA, "Ticket": TICKET_SCHEMA, "TicketAnswer": TICKET_ANSWER_SCHEMA}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schemas)
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
            "schemas": schemas,
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
