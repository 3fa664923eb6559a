"""Appointment slots (预约) as plain functions of the hall file and a clock. Pure.

A slot is a span of ``appointments.slot_minutes`` inside one of the hall's opening spans on
a local date; a span's remainder shorter than a slot is not offered. A booking's check-in
window runs from ``check_in_early_min`` before the slot's start to ``check_in_late_min``
after it. Times are local to the hall (``hall.timezone``); the engine turns them into
epoch milliseconds for the Lua scripts, which compare them with the action's ``now``.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from server.hall_model import Appointments, Hall
from server.hours import day_spans

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
START_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class Slot:
    """One bookable slot: its local date and minutes of the day."""

    day: str
    start: int
    end: int

    @property
    def start_text(self) -> str:
        return _hhmm(self.start)

    @property
    def end_text(self) -> str:
        return _hhmm(self.end)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_day(text: str) -> date | None:
    """A ``YYYY-MM-DD`` date, or None when it is not one."""
    if not isinstance(text, str) or not DATE_RE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def slots_of_day(hall: Hall, config: Appointments, day: date) -> list[Slot]:
    """Every slot of ``day`` in order: ``slot_minutes`` steps through each opening span of
    the day as the calendar has it (none on a holiday; a 调休 day's followed weekday's)."""
    spans = day_spans(hall, day)
    out: list[Slot] = []
    for begin, end in spans:
        start = begin
        while start + config.slot_minutes <= end:
            out.append(Slot(day.isoformat(), start, start + config.slot_minutes))
            start += config.slot_minutes
    return out


def find_slot(hall: Hall, config: Appointments, day: date, start: str) -> Slot | None:
    """The slot of ``day`` that starts at ``start`` ("HH:MM"), or None."""
    return next((s for s in slots_of_day(hall, config, day) if s.start_text == start), None)


def epoch_ms(hall: Hall, day: str, minutes: int) -> int:
    """The epoch milliseconds of ``minutes`` past local midnight of ``day`` (may pass 24:00)."""
    midnight = datetime.fromisoformat(day).replace(tzinfo=zoneinfo.ZoneInfo(hall.timezone))
    return int((midnight + timedelta(minutes=minutes)).timestamp() * 1000)


def check_in_window(hall: Hall, config: Appointments, slot: Slot) -> tuple[int, int]:
    """(from, until) epoch ms: check-in is allowed while from <= now <= until."""
    return (
        epoch_ms(hall, slot.day, slot.start - config.check_in_early_min),
        epoch_ms(hall, slot.day, slot.start + config.check_in_late_min),
    )


def local_date(hall: Hall, now_s: float) -> date:
    """The hall's local calendar date at ``now_s`` (not the business day)."""
    return datetime.fromtimestamp(now_s, zoneinfo.ZoneInfo(hall.timezone)).date()


def bookable_days(hall: Hall, config: Appointments, now_s: float) -> list[date]:
    """Today and the next ``days_ahead`` local dates."""
    today = local_date(hall, now_s)
    return [today + timedelta(days=n) for n in range(config.days_ahead + 1)]


def booking_closed(hall: Hall, config: Appointments, slot: Slot, now_s: float) -> bool:
    """Whether a slot can no longer be booked: its check-in window has closed."""
    return now_s * 1000 > check_in_window(hall, config, slot)[1]
