"""``[calendar]``: public holidays (the hall is closed) and 调休 make-up working days (it opens
with an ordinary weekday's hours)::

    [calendar]
    holidays = [{ date = 2026-10-01, until = 2026-10-07, name = "国庆节" }]
    workdays = [{ date = 2026-09-27, hours_of = "mon", name = "国庆节调休" }]

A date is a TOML date or a ``"YYYY-MM-DD"`` string. ``until`` (a holiday's last day, at most
:data:`LONGEST` days on) and a working day's ``hours_of`` (default: the first of Monday to
Friday with opening hours) and ``name`` may be left out. Checked across the lists: a date in two
holidays, a working day listed twice, a date both a holiday and a working day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

from server.hall_model import WEEKDAYS, Calendar, Holiday, Workday
from server.hall_schema.base import Loc, Section, collecting, fail, said

#: The longest holiday, in days (a typo such as 2027 for 2026 would close the hall for a year).
LONGEST = 31
NAME_MAX = 40


def as_date(value: Any) -> date | None:
    """``value`` as a date: a TOML date, or a ``YYYY-MM-DD`` string; None when it is neither."""
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _date(value: Any) -> date:
    day = as_date(value)
    if day is None:
        raise fail(((), f"bad date {str(value)[:40]!r}: expected YYYY-MM-DD, e.g. 2026-10-01"))
    return day


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise fail(((), f"must be a name of 1 to {NAME_MAX} characters, e.g. 国庆节"))
    return value.strip()


def _weekday(value: Any) -> str:
    if value not in WEEKDAYS:
        raise fail(((), f"must be a weekday: one of {', '.join(WEEKDAYS)}"))
    return str(value)


Day = Annotated[date, BeforeValidator(_date)]
Name = Annotated[str, BeforeValidator(_name)]


class HolidayTable(Section):
    """One holiday: ``date``, optional ``until`` (its last day), ``name``."""

    date: Day
    until: Day | None = None
    name: Name

    def build(self) -> Holiday:
        return Holiday(first=self.date, last=self.until or self.date, name=self.name)


class WorkdayTable(Section):
    """One 调休 working day: ``date``, optional ``hours_of`` (a weekday) and ``name``."""

    date: Day
    hours_of: Annotated[str, BeforeValidator(_weekday)] | None = None
    name: Name | None = None


def _span_problems(tables: Any) -> list[tuple[Loc, str]]:
    """A holiday that ends before it starts, or lasts more than :data:`LONGEST` days."""
    found: list[tuple[Loc, str]] = []
    for index, table in enumerate(tables if isinstance(tables, list) else []):
        if not isinstance(table, dict):
            continue
        first, last = as_date(table.get("date")), as_date(table.get("until"))
        if first is None or last is None:
            continue
        if last < first:
            found.append(((index, "until"), f"{last} is before the holiday's first day {first}"))
        elif last - first >= timedelta(days=LONGEST):
            found.append(((index, "until"), f"a holiday lasts at most {LONGEST} days"))
    return found


def _days_of(table: Any) -> list[date]:
    first = as_date(table.get("date")) if isinstance(table, dict) else None
    if first is None:
        return []
    last = as_date(table.get("until")) or first
    if last < first or last - first >= timedelta(days=LONGEST):
        return [first]
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def clashes(root: Any) -> list[tuple[Loc, str]]:
    """Across ``[calendar]``'s lists: a date in two holidays, a working day listed twice, a
    date both a holiday and a working day (each said once, at the later entry)."""
    if not isinstance(root, dict):
        return []
    found: list[tuple[Loc, str]] = []
    holidays: dict[date, int] = {}
    listed = root.get("holidays")
    for index, table in enumerate(listed if isinstance(listed, list) else []):
        for day in _days_of(table):
            if day in holidays and holidays[day] != index:
                found.append((("holidays", index, "date"), f"{day} is already a holiday (holidays[{holidays[day]}])"))
                break
            holidays.setdefault(day, index)
    workdays: set[date] = set()
    listed = root.get("workdays")
    for index, table in enumerate(listed if isinstance(listed, list) else []):
        for day in _days_of({"date": table.get("date")} if isinstance(table, dict) else None):
            if day in holidays:
                found.append((("workdays", index, "date"), f"{day} is both a holiday and a working day"))
            elif day in workdays:
                found.append((("workdays", index, "date"), f"{day} is listed twice as a working day"))
            workdays.add(day)
    return found


class CalendarTable(Section):
    """``[calendar]``: ``holidays`` and ``workdays`` (调休), each a list of tables."""

    holidays: Annotated[
        list[HolidayTable], said('must be a list of holidays like { date = 2026-10-01, name = "国庆节" }')
    ] = []  # noqa: RUF012 — a pydantic default is copied, never shared
    workdays: Annotated[list[WorkdayTable], said("must be a list of working days like { date = 2026-09-27 }")] = []  # noqa: RUF012

    def build(self, hours: Mapping[str, Any]) -> Calendar:
        """The hall's calendar; a working day without ``hours_of`` follows the first weekday
        from Monday to Friday that has opening hours in ``hours`` (Monday when none has)."""
        usual = usual_weekday(hours)
        return Calendar(
            holidays=tuple(sorted((h.build() for h in self.holidays), key=lambda h: h.first)),
            workdays=tuple(
                sorted(
                    (Workday(day=w.date, hours_of=w.hours_of or usual, name=w.name or "") for w in self.workdays),
                    key=lambda w: w.day,
                )
            ),
        )


def _across_entries(value: Any) -> list[tuple[Loc, str]]:
    if not isinstance(value, dict):
        return []
    return [(("holidays", *loc), text) for loc, text in _span_problems(value.get("holidays"))] + clashes(value)


#: ``[calendar]`` with its checks across entries (they add to the entries' own problems).
CalendarField = Annotated[CalendarTable, collecting(_across_entries)]


def usual_weekday(hours: Mapping[str, Any]) -> str:
    """The weekday a working day without ``hours_of`` follows: the first of Monday to Friday
    with opening hours (Monday when none has)."""
    return next((day for day in WEEKDAYS[:5] if hours.get(day)), "mon")


def unopened(calendar: CalendarTable, hours: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Working days that would follow a weekday without opening hours (the hall would stay shut)."""
    return [
        (("workdays", index, "hours_of"), f"{followed} has no opening hours in [hall.hours]")
        for index, w in enumerate(calendar.workdays)
        if not hours.get(followed := w.hours_of or usual_weekday(hours))
    ]
