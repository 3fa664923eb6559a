"""Reading a JSON request body strictly: size, syntax, known fields, types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from server.queue.errors import Refusal

MAX_BODY_BYTES = 16 * 1024


class BadRequest(Refusal):
    """400/413/422 refusals of a malformed request."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(code, message, status=status)


@dataclass(frozen=True)
class Field:
    """One accepted body field: its type, whether it must be present, a length bound."""

    type: type
    required: bool = False
    max_length: int = 1000


def check_fields(body: Any, fields: dict[str, Field]) -> dict[str, Any]:
    """``body`` if it is an object of exactly the known fields with the right types."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest("unknown_field", f"unknown field(s): {', '.join(unknown)}")
    for name, spec in fields.items():
        if name not in body or body[name] is None:
            if spec.required:
                raise BadRequest("missing_field", f"{name} is required")
            continue
        value = body[name]
        # bool is an int in Python; a JSON true is never a number here
        if not isinstance(value, spec.type) or (spec.type is int and isinstance(value, bool)):
            raise BadRequest("bad_field", f"{name} must be {spec.type.__name__}")
        if isinstance(value, str | list) and len(value) > spec.max_length:
            raise BadRequest("bad_field", f"{name} is too long (at most {spec.max_length})")
    return {k: v for k, v in body.items() if v is not None}


async def read_json(request: Request, fields: dict[str, Field]) -> dict[str, Any]:
    """The request's JSON body, checked; 413 when larger than :data:`MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY_BYTES:
            raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes", 413)
    import json

    try:
        body = json.loads(chunks or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("bad_json", f"the body is not valid JSON: {exc}", 400) from exc
    return check_fields(body, fields)
