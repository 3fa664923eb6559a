"""Hall time: business days, local hours and whether tickets may be issued. Pure."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.hall_model import WEEKDAYS, Hall


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


def issuing_open(now_s: float, hall: Hall) -> bool:
    """Whether a kiosk may issue at ``now_s``: within an opening span and before the cutoff.

    Calling is not limited by this: windows keep calling until the queue is empty.
    """
    moment = hall_time(now_s, hall)
    if moment.minute_of_day >= hall.ticket_cutoff:
        return False
    spans = hall.hours.get(moment.weekday, ())
    return any(start <= moment.minute_of_day < end for start, end in spans)
