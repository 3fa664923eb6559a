"""The request bodies of the manager's window, service and opening-hours changes (:mod:`server.hall_api`),
beside :mod:`server.bodies` (whose reading rules, :class:`~server.bodies.Body` and
:func:`~server.bodies.says`, they share). The models check only shapes; the hall's rules
(a prefix not taken, a name in every language, spans that do not overlap) are
``check-config``'s, run on the merged hall."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from server.bodies import Body, WindowId, says
from server.hall_schema.counters import KINDS
from server.hall_schema.fields import ID_RE
from server.queue.constants import WINDOW_RE

#: A service's names per language: ``{"zh": "社保卡", "en": "Social security card"}``.
ServiceNames = Annotated[
    dict[str, Annotated[str, Field(min_length=1, max_length=40)]],
    Field(min_length=1, max_length=8, json_schema_extra={"example": {"zh": "社保卡", "en": "Social security card"}}),
    says('must be names per language, e.g. {"zh": "社保卡", "en": "Social security card"}'),
]
#: A service's ticket letter.
Prefix = Annotated[
    str, Field(pattern="^[A-Z]$", json_schema_extra={"example": "E"}), says("must be one capital letter A–Z")
]
#: A service's kind: done on the spot (即办件) or promised by a date (承诺件).
Kind = Annotated[Literal["instant", "promised"], says(f"must be one of {', '.join(KINDS)}")]
#: One weekday's opening spans, ``["08:30-12:00", "13:30-17:30"]``.
Spans = Annotated[
    list[Annotated[str, Field(max_length=11)]],
    Field(max_length=8, json_schema_extra={"example": ["08:30-12:00", "13:30-17:30"]}),
    says('must be a list of spans like "08:30-12:00"'),
]


class WeekSpans(Body):
    """The opening spans per weekday; a weekday left out (or ``[]``) has no opening."""

    mon: Spans | None = None
    tue: Spans | None = None
    wed: Spans | None = None
    thu: Spans | None = None
    fri: Spans | None = None
    sat: Spans | None = None
    sun: Spans | None = None


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


class NewService(Body):
    """``POST /api/halls/{hall}/services``: a service and the windows that serve it (it joins
    each window's last tier: a comprehensive window stays one tier)."""

    id: Annotated[
        str,
        Field(max_length=32, pattern=ID_RE.pattern, json_schema_extra={"example": "card"}),
        says("must be lowercase letters, digits, '-' or '_' (at most 32)"),
    ]
    prefix: Prefix
    name: ServiceNames
    kind: Kind = "instant"
    windows: Annotated[list[WindowId], Field(min_length=1, max_length=200, json_schema_extra={"example": ["1", "2"]})]


class ServiceWording(Body):
    """``POST /api/halls/{hall}/services/{service}/name``: the service's names, as the kiosk,
    the screens and the calls say it."""

    name: ServiceNames


class ServiceSettings(Body):
    """``POST /api/halls/{hall}/services/{service}/settings``: any of the service's ticket
    letter, kind, expected handling minutes and daily quota (``0``: no quota); a field left
    out stays as it is."""

    prefix: Prefix | None = None
    kind: Kind | None = None
    expected_minutes: (
        Annotated[
            float,
            Field(gt=0, le=480, json_schema_extra={"example": 8}),
            says("must be a number of minutes above 0, at most 480"),
        ]
        | None
    ) = None
    daily_quota: (
        Annotated[
            int,
            Field(ge=0, le=999, json_schema_extra={"example": 50}),
            says("must be a whole number from 0 (no quota) to 999"),
        ]
        | None
    ) = None


class OpeningHours(Body):
    """``POST /api/halls/{hall}/hours``: the opening spans per weekday (a weekday left out has
    no opening) and the time the kiosk stops issuing."""

    hours: Annotated[WeekSpans, Field(json_schema_extra={"example": {"mon": ["08:30-12:00", "13:30-17:30"]}})]
    ticket_cutoff: Annotated[
        str, Field(pattern="^[0-2][0-9]:[0-5][0-9]$", json_schema_extra={"example": "17:00"}), says('must be "HH:MM"')
    ]
