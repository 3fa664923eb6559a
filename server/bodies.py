"""Every JSON request body as a typed model, and the one way a body is read.

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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from server import cases
from server.hall_schema.calendar import as_date
from server.hall_schema.fields import ID_RE
from server.hall_schema.staff import ROLES
from server.pins import PIN_MAX, PIN_MIN
from server.queue.constants import NUMBER_RE, WINDOW_RE
from server.queue.errors import Refusal
from server.queue.ids import REQUEST_ID_RE
from server.queue.scripts import ACTIONS

MAX_BODY_BYTES = 16 * 1024
#: A staff member's name, at most (added on the manager page).
NAME_MAX = 40


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
            raise _said(sentence, code) from None

    return WrapValidator(check)


def _said(sentence: str, code: str = "bad_field") -> PydanticCustomError:
    return PydanticCustomError(_SAID, "{sentence}", {"code": code, "sentence": sentence})


# --- the fields bodies share ----------------------------------------------------------------


def _printable(value: str) -> str:
    value = value.strip()
    if not value or not value.isprintable():
        raise _said("must be a printable name")
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
#: A rating's reasons and score: their rule is :func:`server.cases.checked_rating` (see
#: :class:`Rating`); the schema documents it.
Reasons = Annotated[
    list[str],
    Field(
        json_schema_extra={
            "items": {"type": "string", "pattern": cases.REASON_RE.pattern},
            "maxItems": cases.REASONS_MAX,
        }
    ),
    says(cases.REASONS_RULE, "bad_reasons"),
]
Score = Annotated[int, Field(json_schema_extra={"minimum": cases.SCORE_MIN, "maximum": cases.SCORE_MAX})]
#: A new PIN: its rule (length, strength) is server/staff_api.py's ``pin_problem`` (``weak_pin``).
Pin = Annotated[str, Field(json_schema_extra={"minLength": PIN_MIN, "maxLength": PIN_MAX})]


class Body(BaseModel):
    """A request body: strict JSON types, no unknown field, immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# --- tickets and ratings --------------------------------------------------------------------


class RemoteIssue(Body):
    """``POST /api/halls/{hall}/remote-tickets``: a ticket from a phone (no ``priority``: a
    priority ticket is given where staff can see why)."""

    services: Services
    lang: Lang | None = None
    id_number: IdNumber | None = None
    request_id: RequestId | None = None


class Issue(RemoteIssue):
    """``POST /api/halls/{hall}/tickets``: a ticket at the kiosk or the desk."""

    priority: bool = False
    phone: Annotated[str, Field(max_length=32)] | None = None


class IdLookup(Body):
    """``POST /api/halls/{hall}/tickets/by-id``: the desk's search by ID number."""

    id_number: IdNumber


class Rating(Body):
    """``POST /api/tickets/{token}/rating``: refused by the rating rule
    (:func:`server.cases.checked_rating`, ``bad_score`` / ``bad_reasons``) before it is counted."""

    score: Score
    reasons: Reasons = []

    @model_validator(mode="after")
    def _the_rule(self) -> Rating:
        cases.checked_rating(self.score, self.reasons)
        return self


class PadRating(Rating):
    """``POST /api/halls/{hall}/windows/{window}/rating``: a rating at the window's pad."""

    ticket: Annotated[Text, Field(json_schema_extra={"example": "A001"})]


class Phone(Body):
    """``POST /api/tickets/{token}/phone``: a number for text messages."""

    phone: Annotated[str, Field(max_length=32)]


class PushKeys(Body):
    """A PushSubscription's keys."""

    p256dh: Annotated[str, Field(max_length=200)]
    auth: Annotated[str, Field(max_length=100)]


class PushSubscription(Body):
    """``POST /api/tickets/{token}/push``: a browser's PushSubscription (its ``toJSON()``)."""

    endpoint: Annotated[
        str, Field(max_length=1000, json_schema_extra={"format": "uri", "example": "https://push.example.com/send/abc"})
    ]
    keys: PushKeys
    expiration_time: float | None = Field(None, alias="expirationTime")


# --- staff ------------------------------------------------------------------------------------


class Login(Body):
    """``POST /api/auth/login``."""

    hall: Annotated[str, Field(max_length=64, json_schema_extra={"example": "demo"})]
    staff: Annotated[str, Field(max_length=64)]
    pin: Annotated[str, Field(max_length=64)]


class PadAuth(Body):
    """A pad socket's first message when no cookie or ``?token=`` brought its session."""

    type: Literal["auth"]
    token: Text


class WindowAction(Body):
    """A clerk's window action, over HTTP or the pad socket (the engine knows the actions)."""

    action: Annotated[str, Field(max_length=32, json_schema_extra={"enum": list(ACTIONS)})]
    ticket: (
        Annotated[
            str,
            Field(
                max_length=8,
                json_schema_extra={"pattern": NUMBER_RE.pattern, "example": "A012", "description": "a ticket number"},
            ),
        ]
        | None
    ) = None
    service: Annotated[str, Field(max_length=64)] | None = None
    to_window: Annotated[str, Field(max_length=16)] | None = None
    request_id: RequestId | None = None


class Notice(Body):
    """``POST /api/halls/{hall}/notice``: the lobby's notice."""

    text: Annotated[str, Field(max_length=200)]


class NewStaff(Body):
    """``POST /api/halls/{hall}/staff``: a staff member (its PIN's strength is checked after)."""

    id: Annotated[
        str,
        Field(max_length=32, pattern=ID_RE.pattern, json_schema_extra={"example": "s06"}),
        says("must be lowercase letters, digits, '-' or '_' (at most 32)"),
    ]
    name: Annotated[str, Field(max_length=NAME_MAX), AfterValidator(_printable)]
    role: Annotated[Literal["clerk", "desk", "admin"], says(f"must be one of {', '.join(ROLES)}")]
    pin: Annotated[Pin, Field(description="kept only as a scrypt hash")]


class NewPin(Body):
    """``POST /api/halls/{hall}/staff/{staff}/pin``."""

    pin: Pin


WindowId = Annotated[
    str, Field(max_length=16, pattern=WINDOW_RE.pattern), says('must be a short window id such as "7" or "A1"')
]


class StaffWindows(Body):
    """``POST /api/halls/{hall}/staff/{staff}/windows``: the only windows a staff member may
    serve; ``[]`` (or none) for any window."""

    windows: Annotated[list[WindowId], Field(max_length=200, json_schema_extra={"example": ["1", "2"]})] = []


class NewWindow(Body):
    """``POST /api/halls/{hall}/windows``: a window and the services it serves."""

    id: Annotated[
        str,
        Field(max_length=8, pattern=WINDOW_RE.pattern, json_schema_extra={"example": "7"}),
        says('must be a short window id such as "7" or "A1"'),
    ]
    services: Annotated[
        list[Annotated[str, Field(max_length=32)]], Field(min_length=1, max_length=20), says("must list service ids")
    ]


def _day(value: str) -> str:
    if as_date(value) is None:
        raise _said("must be a date YYYY-MM-DD, e.g. 2026-10-01", "bad_date")
    return value


#: A date of the hall's calendar, ``YYYY-MM-DD``.
Day = Annotated[
    str, Field(max_length=10, json_schema_extra={"format": "date", "example": "2026-10-01"}), AfterValidator(_day)
]
#: A holiday's (or make-up day's) name: 国庆节.
DayName = Annotated[str, Field(max_length=40, json_schema_extra={"example": "国庆节"}), AfterValidator(_printable)]


class NewHoliday(Body):
    """``POST /api/halls/{hall}/calendar/holidays``: the hall closes from ``date`` to
    ``until`` (both included; one day when left out)."""

    date: Day
    until: Day | None = None
    name: DayName


class NewWorkday(Body):
    """``POST /api/halls/{hall}/calendar/workdays``: a 调休 day the hall opens with the hours
    of the weekday ``hours_of`` (default: its usual weekday's)."""

    date: Day
    hours_of: (
        Annotated[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], says("must be a weekday: mon, tue, … sun")]
        | None
    ) = None
    name: DayName | None = None


class CaseStep(Body):
    """``POST /api/halls/{hall}/cases/{id}``: a step of a bad rating's case (the case's rules
    say which fields each action needs)."""

    action: Annotated[str, Field(max_length=16)]
    owner: Annotated[str, Field(max_length=64)] | None = None
    note: Annotated[str, Field(max_length=cases.NOTE_MAX)] | None = None
    answer: Annotated[str, Field(max_length=cases.NOTE_MAX)] | None = None
    channel: Annotated[str, Field(max_length=16)] | None = None


# --- appointments -----------------------------------------------------------------------------


class NewAppointment(Body):
    """``POST /api/halls/{hall}/appointments``."""

    services: Services
    date: Annotated[str, Field(max_length=10, json_schema_extra={"format": "date", "example": "2026-03-02"})]
    start: Annotated[str, Field(max_length=5, json_schema_extra={"example": "09:00"})]
    id_number: IdNumber | None = None
    phone: Annotated[str, Field(max_length=20)] | None = None
    request_id: RequestId | None = None


class CheckIn(Body):
    """``POST …/appointments/check-in`` (by ``code`` or ``id_number``) and ``…/{code}/check-in``."""

    code: Annotated[str, Field(max_length=16)] | None = None
    id_number: IdNumber | None = None
    lang: Lang | None = None
