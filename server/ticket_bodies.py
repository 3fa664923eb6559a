"""The bodies a ticket's holder (or the kiosk, the desk, a phone) sends: tickets, ratings, a
phone number or push subscription for a ticket, appointments. Read by
:func:`server.bodies.read_body`, whose rules they follow."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from server import cases
from server.bodies import Body, IdNumber, Lang, RequestId, Services, Text, says

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
    reasons: Reasons = []  # noqa: RUF012 — a pydantic default, copied per body (ruff cannot see Body is a BaseModel)

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
