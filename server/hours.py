"""Hall time: business days, local hours and whether tickets may be issued. Pure.

The hall's day follows its calendar (``[calendar]`` and the manager's calendar overlay): on a
holiday it has no opening span (no ticket, no appointment slot, the remote ticket refused), on
a 调休 working day the spans of the weekday it follows (``hours_of``, usually Monday's); on
every other date its weekday's ``[hall.hours]``. The ticket cutoff applies on every opening
day alike; the daily reset runs every day at its time, holiday or not.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from server.hall_model import WEEKDAYS, Hall, Holiday
from server.queue.errors import Refusal


@dataclass(frozen=True)
class HallTime:
    """A moment as the hall sees it."""

    day: str
    """Business day (YYYY-MM-DD): the local date, shifted back by the daily reset time,
    so tickets taken at 01:00 still belong to the evening before when reset is 03:00."""
    hour: str
    """Local hour "00".."23"."""
    minute_of_day: int
    weekday: str


def hall_time(now_s: float, hall: Hall) -> HallTime:
    """Where ``now_s`` (epoch seconds) falls in ``hall``'s local time."""
    local = datetime.fromtimestamp(now_s, zoneinfo.ZoneInfo(hall.timezone))
    business = (local - timedelta(minutes=hall.daily_reset)).date()
    return HallTime(
        day=business.isoformat(),
        hour=f"{local.hour:02d}",
        minute_of_day=local.hour * 60 + local.minute,
        weekday=WEEKDAYS[local.weekday()],
    )


def business_day_start_ms(day: date, hall: Hall) -> int:
    """When business day ``day`` begins (epoch ms): its local date at the daily reset time, so a
    rating given at 01:00 belongs to the day before, as :func:`hall_time` says."""
    midnight = datetime.combine(day, datetime.min.time(), zoneinfo.ZoneInfo(hall.timezone))
    return int((midnight + timedelta(minutes=hall.daily_reset)).timestamp() * 1000)


def calendar_date(now_s: float, hall: Hall) -> date:
    """The hall's local calendar date at ``now_s`` (not the business day)."""
    return datetime.fromtimestamp(now_s, zoneinfo.ZoneInfo(hall.timezone)).date()


def day_spans(hall: Hall, day: date) -> tuple[tuple[int, int], ...]:
    """The opening spans (minutes of the day) of the local date ``day``: none on a holiday,
    the followed weekday's on a 调休 working day, else its weekday's."""
    if hall.calendar.holiday(day) is not None:
        return ()
    workday = hall.calendar.workday(day)
    return tuple(hall.hours.get(workday.hours_of if workday else WEEKDAYS[day.weekday()], ()))


def holiday_at(now_s: float, hall: Hall) -> Holiday | None:
    """The holiday of the hall's local date at ``now_s``, or None."""
    return hall.calendar.holiday(calendar_date(now_s, hall))


def closed_for(holiday: Holiday, day: date | None = None) -> Refusal:
    """The ``hall_closed`` refusal of a holiday (on ``day``, when it is not today), naming it."""
    when = "today" if day is None else f"on {day.isoformat()}"
    said = (
        f"the hall is closed {when} for {holiday.name} / {'今日' if day is None else day.isoformat()}{holiday.name}休息"
    )
    return Refusal("hall_closed", said, {"holiday": holiday.name})


def issuing_open(now_s: float, hall: Hall) -> bool:
    """Whether a kiosk may issue at ``now_s``: within an opening span of the day (per the
    calendar, :func:`day_spans`) and before the cutoff.

    Calling is not limited by this: windows keep calling until the queue is empty.
    """
    moment = hall_time(now_s, hall)
    if moment.minute_of_day >= hall.ticket_cutoff:
        return False
    spans = day_spans(hall, calendar_date(now_s, hall))
    return any(start <= moment.minute_of_day < end for start, end in spans)
