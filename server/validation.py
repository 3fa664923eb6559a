"""Reading a JSON request body strictly: size, syntax, depth, known fields, types, text.

Everything a client can send is refused here with a 4xx and a clear message before it
reaches Redis: a body nested thousands deep (Python's parser would overflow its stack),
and text that is not valid Unicode (a lone surrogate such as ``"\\ud800"`` is valid
JSON, but cannot be encoded, hashed or stored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from server.queue.errors import Refusal

MAX_BODY_BYTES = 16 * 1024


class BadRequest(Refusal):
    """Refusals of a malformed request (``bad_json``, ``body_too_large``, ``bad_field`` …)."""


@dataclass(frozen=True)
class Field:
    """One accepted body field: its type, whether it must be present, a length bound."""

    type: type
    required: bool = False
    max_length: int = 1000


def valid_text(value: Any) -> bool:
    """False when ``value`` holds (at any depth) a string that is not valid Unicode."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, list):
        return all(valid_text(item) for item in value)
    if isinstance(value, dict):
        return all(valid_text(k) and valid_text(v) for k, v in value.items())
    return True


def parse_json(data: bytes | str) -> Any:
    """JSON text as Python values; 400 ``bad_json`` for bad syntax or nesting too deep."""
    try:
        return json.loads(data or b"{}")
    except RecursionError as exc:
        raise BadRequest("bad_json", "the JSON is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("bad_json", f"the body is not valid JSON: {exc}") from exc


def check_fields(body: Any, fields: dict[str, Field]) -> dict[str, Any]:
    """``body`` if it is an object of exactly the known fields with the right types."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be a JSON object")
    if not valid_text(body):
        raise BadRequest("bad_text", "the text must be valid Unicode (no lone surrogates)")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise BadRequest("unknown_field", f"unknown field(s): {', '.join(unknown)[:200]}")
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
        raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY_BYTES:
            raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    return check_fields(parse_json(bytes(chunks)), fields)
