"""The bodies staff send: login, the pad's first frame and a window's actions, the lobby's
notice, staff members and their PINs and windows, the calendar's days, a bad rating's case.
Read by :func:`server.bodies.read_body` (or :func:`server.bodies.checked` on the pad socket),
whose rules they follow; the manager's windows, services and hours are :mod:`server.hall_bodies`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from server import cases
from server.bodies import Body, RequestId, Text, WindowId, printable, said, says
from server.hall_schema.calendar import as_date
from server.hall_schema.fields import ID_RE
from server.hall_schema.staff import ROLES
from server.pins import PIN_MAX, PIN_MIN
from server.queue.constants import NUMBER_RE
from server.queue.scripts import ACTIONS

#: A staff member's name, at most (added on the manager page).
NAME_MAX = 40
#: A new PIN: its rule (length, strength) is server/staff_api.py's ``pin_problem`` (``weak_pin``).
Pin = Annotated[str, Field(json_schema_extra={"minLength": PIN_MIN, "maxLength": PIN_MAX})]


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
    name: Annotated[str, Field(max_length=NAME_MAX), AfterValidator(printable)]
    role: Annotated[Literal["clerk", "desk", "admin"], says(f"must be one of {', '.join(ROLES)}")]
    pin: Annotated[Pin, Field(description="kept only as a scrypt hash")]


class NewPin(Body):
    """``POST /api/halls/{hall}/staff/{staff}/pin``."""

    pin: Pin


class StaffWindows(Body):
    """``POST /api/halls/{hall}/staff/{staff}/windows``: the only windows a staff member may
    serve; ``[]`` (or none) for any window."""

    windows: Annotated[list[WindowId], Field(max_length=200, json_schema_extra={"example": ["1", "2"]})] = []  # noqa: RUF012 — a pydantic default, copied per body (ruff cannot see Body is a BaseModel)


def _day(value: str) -> str:
    if as_date(value) is None:
        raise said("must be a date YYYY-MM-DD, e.g. 2026-10-01", "bad_date")
    return value


#: A date of the hall's calendar, ``YYYY-MM-DD``.
Day = Annotated[
    str, Field(max_length=10, json_schema_extra={"format": "date", "example": "2026-10-01"}), AfterValidator(_day)
]
#: A holiday's (or make-up day's) name: 国庆节.
DayName = Annotated[str, Field(max_length=40, json_schema_extra={"example": "国庆节"}), AfterValidator(printable)]


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
