"""好差评 follow-up: the pure rules of a bad-rating case. No I/O.

Under 国办发〔2019〕51号 every bad rating (差评) is verified, rectified and answered
(核实、整改、反馈), and every named bad rating is called back. A case is opened by
``rate.lua`` in the same script as the rating (one source of truth, exactly once);
:mod:`server.casebook` reads and changes cases in Redis with these rules.

The life of a case::

    open --verify--> verified --rectify--> rectified --answer--> answered --close--> closed

``assign`` (set the owner) and ``call_back`` (the visitor was phoned) are allowed in any
state but ``closed``; a named case (the visitor left an ID number) cannot be closed
before it was called back (实名差评回访率 100 %).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from server.hall_model import WEEKDAYS, Hall
from server.queue.constants import BAD_MAX
from server.queue.errors import Refusal

#: Working days to close a case when the hall file has no ``[ratings] follow_up_days``.
DEFAULT_FOLLOW_UP_DAYS = 5

STATUSES = ("open", "verified", "rectified", "answered", "closed")
ACTIONS = ("assign", "verify", "rectify", "answer", "call_back", "close")
#: How an answer reached the visitor: their ticket's phone page, or a call.
CHANNELS = ("phone_page", "call_back")
#: The state each step of the loop moves from, and to.
STEPS: Mapping[str, tuple[str, str]] = {
    "verify": ("open", "verified"),
    "rectify": ("verified", "rectified"),
    "answer": ("rectified", "answered"),
    "close": ("answered", "closed"),
}
NOTE_MAX = 500


class CaseError(Refusal):
    """A refused case action (``invalid_transition``, ``case_closed`` …): nothing changed."""


SCORE_MIN, SCORE_MAX = 1, 5
REASONS_MAX = 8
REASON_RE = re.compile(r"^[a-z_]{1,32}$")
#: What a rating's reasons must be, said of them.
REASONS_RULE = f"must be up to {REASONS_MAX} short codes like long_wait"


def checked_rating(score: int, reasons: Iterable[object] = ()) -> list[str]:
    """A rating's reasons as stored, once the rating passes its rule: a whole ``score`` from
    :data:`SCORE_MIN` to :data:`SCORE_MAX` (else ``bad_score``), at most :data:`REASONS_MAX`
    reasons, each a short code like ``long_wait`` (else ``bad_reasons``)."""
    if isinstance(score, bool) or not isinstance(score, int) or not SCORE_MIN <= score <= SCORE_MAX:
        raise Refusal("bad_score", f"score must be a whole number from {SCORE_MIN} to {SCORE_MAX}")
    codes = [str(r) for r in reasons]
    if len(codes) > REASONS_MAX or not all(REASON_RE.fullmatch(r) for r in codes):
        raise Refusal("bad_reasons", f"reasons {REASONS_RULE}")
    return codes


def is_bad(score: int) -> bool:
    """Whether a score (1..5) is a bad rating."""
    return score <= BAD_MAX


def working_day(
    day: date, open_weekdays: Collection[str], holidays: Collection[date] = (), workdays: Collection[date] = ()
) -> bool:
    """Whether the hall works on ``day``: a 调休 working day always, a holiday never,
    else the weekdays it opens."""
    if day in workdays:
        return True
    if day in holidays:
        return False
    return WEEKDAYS[day.weekday()] in open_weekdays


def deadline_day(
    rated: date,
    days: int,
    open_weekdays: Collection[str],
    holidays: Collection[date] = (),
    workdays: Collection[date] = (),
) -> date:
    """The last day to settle a case rated on ``rated``: the ``days``-th working day after it.

    The day of the rating does not count (rated on a Friday with 5 days and Mon–Fri
    opening: the next Friday). With no working day at all (a hall that never opens) the
    calendar days count, so a deadline always exists.
    """
    if not open_weekdays and not workdays:
        return rated + timedelta(days=days)
    day, left = rated, days
    for _ in range(days * 30 + 366):  # bounded: a year of holidays cannot loop forever
        if left <= 0:
            break
        day += timedelta(days=1)
        if working_day(day, open_weekdays, holidays, workdays):
            left -= 1
    return day


def open_weekdays(hall: Hall) -> frozenset[str]:
    """The weekdays the hall opens (any opening span)."""
    return frozenset(day for day, spans in hall.hours.items() if spans)


@dataclass(frozen=True)
class WorkingDays:
    """The hall's working days as its calendar says now, read once for many deadlines."""

    timezone: zoneinfo.ZoneInfo
    weekdays: frozenset[str]
    holidays: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def of(cls, hall: Hall, holidays: Collection[date] = (), workdays: Collection[date] = ()) -> WorkingDays:
        """``hall``'s opening weekdays and calendar (holidays, 调休 working days), with any
        ``holidays`` and ``workdays`` given besides."""
        return cls(
            timezone=zoneinfo.ZoneInfo(hall.timezone),
            weekdays=open_weekdays(hall),
            holidays=hall.calendar.holiday_dates() | frozenset(holidays),
            workdays=hall.calendar.workday_dates() | frozenset(workdays),
        )

    def deadline_ms(self, rated_ms: int, days: int) -> int:
        """The end (local midnight) of :func:`deadline_day` of the local date of ``rated_ms``."""
        rated = datetime.fromtimestamp(rated_ms / 1000, self.timezone).date()
        last = deadline_day(rated, days, self.weekdays, self.holidays, self.workdays)
        end = datetime.combine(last + timedelta(days=1), time(0), self.timezone)
        return int(end.timestamp() * 1000)


def deadline_ms(
    rated_ms: int, hall: Hall, days: int, holidays: Collection[date] = (), workdays: Collection[date] = ()
) -> int:
    """The deadline as epoch ms: the end (local midnight) of :func:`deadline_day` of the
    local date of ``rated_ms`` in the hall's time zone. The hall's calendar (holidays,
    调休 working days) counts, with any ``holidays`` and ``workdays`` given besides."""
    return WorkingDays.of(hall, holidays, workdays).deadline_ms(rated_ms, days)


def dated(found: Iterable[Mapping[str, Any]], hall: Hall) -> list[dict[str, Any]]:
    """The cases, each with its ``deadline`` (epoch ms) as ``hall``'s calendar says now: its
    ``follow_up_days`` working days after the rating (the hall's ``[ratings] follow_up_days``
    for a case stored without them), by :func:`deadline_ms`.

    A deadline is worked out on every read and never stored, so the calendar is its one
    source: a holiday declared (or removed) after a case was opened moves the case's deadline,
    and the list by deadline, ``overdue`` and the rates (:func:`summary`) follow at once.
    """
    working = WorkingDays.of(hall)
    return [
        {**case, "deadline": working.deadline_ms(int(case["rated_at"]), _days(case, hall.follow_up_days))}
        for case in found
    ]


def _days(case: Mapping[str, Any], default: int) -> int:
    # the local rule in force when the case was opened (rate.lua stores it): a later change
    # of [ratings] follow_up_days is not a reason to move an open case's deadline
    days = case.get("follow_up_days")
    return days if isinstance(days, int) and not isinstance(days, bool) and days > 0 else default


def overdue(case: Mapping[str, Any], now_ms: int) -> bool:
    """A case is overdue once its deadline passed before it was rectified."""
    if case.get("rectified_at") is not None:
        return False
    return now_ms > int(case["deadline"])


def in_time(case: Mapping[str, Any]) -> bool:
    """Whether a case was rectified (or closed) by its deadline."""
    settled = case.get("rectified_at") or case.get("closed_at")
    return settled is not None and int(settled) <= int(case["deadline"])


def apply(  # noqa: C901 — the case state machine: one branch per transition, each with its own refusal
    case: Mapping[str, Any],
    action: str,
    fields: Mapping[str, Any],
    *,
    staff: str,
    now_ms: int,
    staff_ids: Collection[str] = (),
    reachable: bool = False,
) -> dict[str, Any]:
    """``case`` after ``action`` by ``staff`` at ``now_ms``, with one more history entry.

    ``fields``: ``owner`` (assign: a staff id of ``staff_ids``), ``note`` (verify, rectify,
    call_back: what was found / done / said), ``answer`` and ``channel`` (answer:
    ``phone_page`` only when ``reachable`` — the visitor's ticket page still exists — else
    ``call_back``, which also marks the case called back). Raises :class:`CaseError`.
    """
    status = str(case["status"])
    if action not in ACTIONS:
        raise CaseError("unknown_action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if status == "closed":
        raise CaseError("case_closed", "this case is closed")
    new = {**case, "history": list(case.get("history") or [])}
    entry: dict[str, Any] = {"at": now_ms, "action": action, "staff": staff}
    if action == "assign":
        owner = _text(fields, "owner", 64)
        if owner not in staff_ids:
            raise CaseError("unknown_staff", f"no staff member {owner!r} in this hall")
        new["owner"] = entry["owner"] = owner
    elif action == "call_back":
        note = _text(fields, "note", NOTE_MAX, required=False)
        new["called_back"] = True
        new["called_back_at"] = now_ms
        entry["note"] = note
    else:
        before, after = STEPS[action]
        if status != before:
            raise CaseError("invalid_transition", f"{action} needs a case that is {before}, this one is {status}")
        if action in ("verify", "rectify"):
            note = _text(fields, "note", NOTE_MAX)
            new[f"{action}_note"] = entry["note"] = note
        elif action == "answer":
            answer = _text(fields, "answer", NOTE_MAX)
            channel = fields.get("channel") or ("phone_page" if reachable else "call_back")
            if channel not in CHANNELS:
                raise CaseError("bad_channel", f"channel must be one of {', '.join(CHANNELS)}")
            if channel == "phone_page" and not reachable:
                raise CaseError("page_gone", "the visitor's ticket page is gone: answer by a call-back")
            new["answer"] = entry["answer"] = answer
            new["channel"] = entry["channel"] = channel
            new["answered_at"] = now_ms
            if channel == "call_back":
                new["called_back"] = True
                new["called_back_at"] = now_ms
        elif action == "close":
            if case.get("named") and not case.get("called_back"):
                raise CaseError("call_back_required", "a named bad rating must be called back before closing")
            new["closed_at"] = now_ms
        if action == "rectify":
            new["rectified_at"] = now_ms
        new["status"] = after
    new["history"].append(entry)
    return new


def _text(fields: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = fields.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise CaseError("bad_field", f"{name} must be text of 1 to {limit} characters")
    return value.strip()


@dataclass(frozen=True)
class Summary:
    """The two follow-up rates of a period (None when there is nothing to count)."""

    due: int
    in_time: int
    named: int
    called_back: int

    @property
    def in_time_rate(self) -> float | None:
        return round(self.in_time / self.due, 4) if self.due else None

    @property
    def called_back_rate(self) -> float | None:
        return round(self.called_back / self.named, 4) if self.named else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "due": self.due,
            "in_time": self.in_time,
            "in_time_rate": self.in_time_rate,
            "named": self.named,
            "called_back": self.called_back,
            "called_back_rate": self.called_back_rate,
        }


def summary(cases: Iterable[Mapping[str, Any]], *, start_ms: int, end_ms: int, now_ms: int) -> Summary:
    """Rates over cases of the period ``[start_ms, end_ms)``.

    Both count the bad ratings given in the period. "Rectified in time": of those that are
    due (deadline passed, or already rectified or closed — a case still within its time and
    not yet rectified is not counted either way), those rectified or closed by the deadline.
    "Named called back": of the named ones, those called back.
    """
    due = timely = named = called = 0
    for case in cases:
        if not start_ms <= int(case["rated_at"]) < end_ms:
            continue
        if int(case["deadline"]) < now_ms or case.get("rectified_at") or case.get("closed_at"):
            due += 1
            timely += in_time(case)
        if case.get("named"):
            named += 1
            called += bool(case.get("called_back"))
    return Summary(due=due, in_time=timely, named=named, called_back=called)
