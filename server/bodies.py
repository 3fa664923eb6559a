"""The one way a JSON request body is read, and what every body shares.

:func:`read_body` (HTTP) and :func:`checked` (a pad's socket frame) refuse, before anything
changes and with a 4xx that says which field and what is wrong: a body over
:data:`MAX_BODY_BYTES` (413 ``body_too_large``), bad JSON or JSON nested thousands deep (400
``bad_json``: Python's parser would overflow its stack), anything but an object (422
``bad_body``), text that is not valid Unicode (422 ``bad_text``: a lone surrogate such as
``"\\ud800"`` is valid JSON but cannot be encoded, hashed or stored), then the model's own
refusals (422): ``unknown_field``, ``missing_field``, ``bad_field`` and the codes a field or a
domain rule says itself (``bad_reasons``, ``bad_score`` …). A ``null`` counts as absent.

The models are strict (``true`` is no number, ``"5"`` no score) and refuse unknown fields;
:mod:`server.openapi` documents each body from its model's JSON schema. Rules of the hall or
the queue (a service exists, an action is known, a request id's form) stay with the engine,
which refuses with their own codes; a field may document such a rule with ``json_schema_extra``.

The bodies themselves, one model per body, live by area: :mod:`server.ticket_bodies` (tickets,
ratings, phones, push subscriptions, appointments), :mod:`server.staff_bodies` (login, the pad,
a window's actions, staff, calendar, cases) and :mod:`server.hall_bodies` (the manager's
windows, services and opening hours).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from server.queue.constants import WINDOW_RE
from server.queue.errors import Refusal
from server.queue.ids import REQUEST_ID_RE

MAX_BODY_BYTES = 16 * 1024


class BadRequest(Refusal):
    """Refusals of a malformed request (``bad_json``, ``body_too_large``, ``bad_field`` …)."""


# --- reading -----------------------------------------------------------------------------

B = TypeVar("B", bound="Body")


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


def checked(model: type[B], body: Any) -> B:
    """``body`` (parsed JSON) as ``model``, or the :class:`BadRequest` (or domain
    :class:`Refusal`) that says what is wrong with it; see the module's text for the order."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be a JSON object")
    if not valid_text(body):
        raise BadRequest("bad_text", "the text must be valid Unicode (no lone surrogates)")
    try:
        return model.model_validate(_without_nulls(body))
    except ValidationError as exc:
        raise _refusal(exc.errors()) from None


async def read_body(request: Request, model: type[B]) -> B:
    """The request's JSON body as ``model`` (:func:`checked`); 413 ``body_too_large`` past
    :data:`MAX_BODY_BYTES`, declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY_BYTES:
            raise BadRequest("body_too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    return checked(model, parse_json(bytes(chunks)))


def _without_nulls(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` without its ``null`` members, in nested objects too: null means absent."""
    return {k: _without_nulls(v) if isinstance(v, dict) else v for k, v in value.items() if v is not None}


# pydantic's error types, said of a body's field ("services must be a list")
_SENTENCES = {
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "string_too_long": "is too long (at most {max_length})",
    "too_long": "has too many items (at most {max_length})",
    "literal_error": "must be {expected}",
}
#: The error type of a field's own sentence (:func:`says`); its code travels in the context.
_SAID = "said"


def _path(loc: Sequence[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def _refusal(errors: Sequence[Mapping[str, Any]]) -> BadRequest:
    """The one refusal a body's errors come to: its unknown fields, else its first error."""
    unknown = sorted(_path(e["loc"]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return BadRequest("unknown_field", f"unknown field(s): {', '.join(unknown)[:200]}")
    error = errors[0]
    path, kind, context = _path(error["loc"]), str(error["type"]), error.get("ctx") or {}
    if kind == "missing":
        return BadRequest("missing_field", f"{path} is required")
    if kind == _SAID:
        return BadRequest(str(context["code"]), f"{path} {context['sentence']}")
    sentence = _SENTENCES[kind].format(**context) if kind in _SENTENCES else str(error["msg"])
    return BadRequest("bad_field", f"{path} {sentence}")


def says(sentence: str, code: str = "bad_field") -> WrapValidator:
    """A field's own sentence (and refusal ``code``) for any mistake in its value, items
    included: ``services must be a list of up to 10 service ids`` rather than pydantic's words."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise said(sentence, code) from None

    return WrapValidator(check)


def said(sentence: str, code: str = "bad_field") -> PydanticCustomError:
    """The error a field's own check raises to refuse with ``sentence`` (and ``code``)."""
    return PydanticCustomError(_SAID, "{sentence}", {"code": code, "sentence": sentence})


# --- the fields bodies share ----------------------------------------------------------------


def printable(value: str) -> str:
    """A name stripped of its outer spaces; refused when empty or not printable."""
    value = value.strip()
    if not value or not value.isprintable():
        raise said("must be a printable name")
    return value


#: Text with no bound of its own (1000 characters, as for any field).
Text = Annotated[str, Field(max_length=1000)]
Lang = Annotated[str, Field(max_length=1000, json_schema_extra={"example": "zh"})]
IdNumber = Annotated[str, Field(max_length=32)]
RequestId = Annotated[
    str,
    Field(
        max_length=64,
        # checked by the engine (bad_request_id), documented here
        json_schema_extra={"pattern": REQUEST_ID_RE.pattern, "description": "the same one again performs it once"},
    ),
]
#: The services a ticket or an appointment is for (that they exist is the hall's to say).
Services = Annotated[
    list[str],
    Field(max_length=10, json_schema_extra={"minItems": 1, "items": {"type": "string", "example": "register"}}),
    says("must be a list of up to 10 service ids"),
]
#: A window's id (``7``, ``A1``).
WindowId = Annotated[
    str, Field(max_length=16, pattern=WINDOW_RE.pattern), says('must be a short window id such as "7" or "A1"')
]


class Body(BaseModel):
    """A request body: strict JSON types, no unknown field, immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
