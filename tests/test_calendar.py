"""The hall's calendar: holidays close it, 调休 working days open it with a weekday's hours;
checked as check-config checks; ticket issuing, slots, remote tickets and case deadlines follow."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Awaitable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from server import calendar_overlay, cases
from server.appointments import slots_of_day
from server.config import demo_text, load_demo, load_hall, parse_hall
from server.hall_model import WEEKDAYS, Calendar, Hall, Holiday, Remote, Workday
from server.hours import business_day_start_ms, day_spans, hall_time, holiday_at, issuing_open
from server.queue.booking import Booking
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.remote import remote_refusal
from server.toml_locator import ConfigError
from tests.conftest import DEMO_MORNING, HallClock

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: A hall open Monday to Friday, 09:00–12:00 and 13:30–17:00, tickets until 16:30, with the
#: 2026 National Day week (Thu 1 – Wed 7 Oct) and its make-up Sunday 27 Sep and Saturday 10 Oct.
OFFICE = """
ticket_cutoff = "16:30"
daily_reset = "03:00"

[hall.hours]
mon = ["09:00-12:00", "13:30-17:00"]
tue = ["09:00-12:00", "13:30-17:00"]
wed = ["09:00-12:00", "13:30-17:00"]
thu = ["09:00-12:00", "13:30-17:00"]
fri = ["09:00-12:00", "13:30-17:00"]
"""

CALENDAR = """
[calendar]
holidays = [{ date = 2026-10-01, until = 2026-10-07, name = "国庆节" }]
workdays = [{ date = 2026-09-27, name = "国庆调休" }, { date = "2026-10-10", hours_of = "fri" }]
"""


def office_text(calendar: str = CALENDAR) -> str:
    """The demo hall file with office hours and ``calendar`` appended."""
    text = demo_text()
    start, end = text.index('ticket_cutoff = "23:59"'), text.index("[[services]]")
    return text[:start] + OFFICE.strip() + "\n\n" + text[end:] + calendar


def problems_of(calendar: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_hall(office_text(calendar))
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


OFFICE_HALL = parse_hall(office_text())


@pytest.fixture
def office() -> Hall:
    return OFFICE_HALL


def at(day: str, hhmm: str) -> float:
    """Epoch seconds of ``hhmm`` on ``day`` in Shanghai."""
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=SHANGHAI).timestamp()


# --- the hall file's [calendar], checked as check-config checks -------------------------------


def test_the_calendar_is_read_with_its_defaults(office: Hall) -> None:
    assert office.calendar.holidays == (Holiday(date(2026, 10, 1), date(2026, 10, 7), "国庆节"),)
    assert office.calendar.workdays == (
        Workday(date(2026, 9, 27), "mon", "国庆调休"),  # no hours_of: the first weekday with hours
        Workday(date(2026, 10, 10), "fri"),
    )
    assert parse_hall(office_text("")).calendar == Calendar()


def test_check_config_says_what_is_wrong_with_the_calendar() -> None:
    found = problems_of(
        """
[calendar]
holidays = [
  { date = 2026-10-01, until = 2026-10-07, name = "国庆节" },
  { date = 2026-10-03, name = "again" },
  { date = "2026-13-01", name = "bad" },
  { date = 2026-05-05, until = 2026-05-01, name = "backwards" },
  { date = 2026-01-01, until = 2026-12-31, name = "a year" },
  { date = 2026-02-01, name = "" },
]
workdays = [{ date = 2026-10-02 }, { date = 2026-09-27 }, { date = 2026-09-27 }, { date = 2026-09-28, hours_of = "xx" }]
"""
    )
    expected = [
        "calendar.holidays[1].date: 2026-10-03 is already a holiday (holidays[0])",
        "calendar.holidays[2].date: bad date '2026-13-01': expected YYYY-MM-DD, e.g. 2026-10-01",
        "calendar.holidays[3].until: 2026-05-01 is before the holiday's first day 2026-05-05",
        "calendar.holidays[4].until: a holiday lasts at most 31 days",
        "calendar.holidays[5].name: must be a name of 1 to 40 characters, e.g. 国庆节",
        "calendar.workdays[0].date: 2026-10-02 is both a holiday and a working day",
        "calendar.workdays[2].date: 2026-09-27 is listed twice as a working day",
        "calendar.workdays[3].hours_of: must be a weekday: one of mon, tue, wed, thu, fri, sat, sun",
    ]
    assert sorted(found) == sorted(expected)


def test_a_working_day_must_follow_a_weekday_with_hours() -> None:
    found = problems_of('[calendar]\nworkdays = [{ date = 2026-09-27, hours_of = "sun" }]\n')
    assert found == ["calendar.workdays[0].hours_of: sun has no opening hours in [hall.hours]"]


# --- the day it makes ----------------------------------------------------------------------------


def test_a_holiday_has_no_hours_and_a_make_up_day_has_a_weekdays(office: Hall) -> None:
    weekday = office.hours["mon"]
    assert day_spans(office, date(2026, 9, 30)) == weekday  # an ordinary Wednesday
    assert day_spans(office, date(2026, 10, 1)) == ()  # 国庆节 (a Thursday)
    assert day_spans(office, date(2026, 10, 7)) == ()  # its last day
    assert day_spans(office, date(2026, 10, 8)) == weekday
    assert day_spans(office, date(2026, 9, 26)) == ()  # an ordinary Saturday
    assert day_spans(office, date(2026, 9, 27)) == weekday  # the make-up Sunday
    assert day_spans(office, date(2026, 10, 10)) == office.hours["fri"]


def test_issuing_follows_the_calendar_and_the_cutoff(office: Hall) -> None:
    assert issuing_open(at("2026-09-30", "10:00"), office)
    assert not issuing_open(at("2026-10-02", "10:00"), office)
    assert holiday_at(at("2026-10-02", "10:00"), office) == office.calendar.holidays[0]
    assert holiday_at(at("2026-10-08", "00:30"), office) is None  # the local date, not the business day
    assert issuing_open(at("2026-09-27", "09:00"), office)  # a Sunday that works
    assert not issuing_open(at("2026-09-27", "12:30"), office)  # over lunch, as on a Monday
    assert not issuing_open(at("2026-09-27", "16:30"), office)  # the cutoff holds on it too
    assert not issuing_open(at("2026-09-26", "10:00"), office)


def test_appointment_slots_follow_the_calendar(office: Hall) -> None:
    config = office.appointments
    assert config is not None
    assert slots_of_day(office, config, date(2026, 10, 2)) == []
    sunday = slots_of_day(office, config, date(2026, 9, 27))
    assert [s.start_text for s in sunday[:2]] == ["09:00", "09:30"]
    assert sunday == [dataclasses.replace(s, day="2026-09-27") for s in slots_of_day(office, config, date(2026, 9, 28))]


def test_remote_tickets_follow_the_calendar(office: Hall) -> None:
    early = dataclasses.replace(office, remote=dataclasses.replace(office.remote or Remote(), within_hours=False))
    assert remote_refusal(at("2026-09-27", "07:30"), early) is None  # before opening on a make-up day
    assert remote_refusal(at("2026-10-02", "07:30"), early) == (
        "remote_closed",
        "remote tickets are not issued at this hour / 当前时段不可远程取号",
    )


def test_case_deadlines_count_working_days_of_the_calendar(office: Hall) -> None:
    def deadline(rated: str) -> date:
        ms = cases.deadline_ms(int(at(rated, "10:00") * 1000), office, 5)
        return (datetime.fromtimestamp(ms / 1000, SHANGHAI) - timedelta(days=1)).date()

    # Wed 30 Sep: the holiday week does not count; Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13
    assert deadline("2026-09-30") == date(2026, 10, 13)
    # Fri 25 Sep: Sun 27 (调休), Mon 28, Tue 29, Wed 30, then Thu 8 Oct
    assert deadline("2026-09-25") == date(2026, 10, 8)


def test_a_case_deadline_follows_the_calendar_as_it_is_now(office: Hall) -> None:
    """The deadline is worked out when read: a holiday declared after the rating moves it,
    taking it away moves it back; the case's own follow_up_days stay its rule."""
    opened = [{"id": 1, "rated_at": int(at("2026-09-14", "10:00") * 1000), "follow_up_days": 5}]
    later = {"id": 2, "rated_at": int(at("2026-09-14", "11:00") * 1000), "follow_up_days": 3}

    def last_days(hall: Hall) -> list[date]:
        found = cases.dated([*opened, later], hall)
        return [(datetime.fromtimestamp(c["deadline"] / 1000, SHANGHAI) - timedelta(days=1)).date() for c in found]

    assert last_days(office) == [date(2026, 9, 21), date(2026, 9, 17)]  # Mon 14: Mon 21; 3 days: Thu 17
    mid_autumn = Holiday(first=date(2026, 9, 17), last=date(2026, 9, 18), name="中秋节")
    declared = dataclasses.replace(
        office, calendar=dataclasses.replace(office.calendar, holidays=(mid_autumn, *office.calendar.holidays))
    )
    assert last_days(declared) == [date(2026, 9, 23), date(2026, 9, 21)]  # Thu 17, Fri 18 no longer count
    hall_rule = dataclasses.replace(office, follow_up_days=1)  # a case stored without days: the hall's
    assert cases.dated([{"id": 3, "rated_at": opened[0]["rated_at"]}], hall_rule)[0]["deadline"] == (
        cases.deadline_ms(opened[0]["rated_at"], office, 1)
    )


@settings(max_examples=200, deadline=None)
@given(
    rated=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    days=st.integers(1, 10),
    closed=st.sets(st.dates(date(2026, 1, 1), date(2027, 3, 1)), max_size=40),
    extra=st.sets(st.dates(date(2026, 1, 1), date(2027, 3, 1)).filter(lambda d: d.weekday() >= 5), max_size=10),
)
def test_a_deadline_is_the_nth_working_day_after_the_rating(
    rated: date, days: int, closed: set[date], extra: set[date]
) -> None:
    workdays = extra - closed
    weekdays = WEEKDAYS[:5]
    last = cases.deadline_day(rated, days, weekdays, closed, workdays)
    between = [rated + timedelta(days=n) for n in range(1, (last - rated).days + 1)]
    working = [d for d in between if cases.working_day(d, weekdays, closed, workdays)]
    assert len(working) == days and working[-1] == last


@settings(max_examples=200, deadline=None)
@given(
    day=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    holidays=st.lists(st.tuples(st.dates(date(2026, 1, 1), date(2026, 12, 31)), st.integers(0, 9)), max_size=6),
    workdays=st.sets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=8),
)
def test_the_hall_opens_exactly_on_the_working_days_deadlines_count(
    day: date, holidays: list[tuple[date, int]], workdays: set[date]
) -> None:
    """One calendar, two readings: the day's opening spans (kiosk, slots) and the working days
    of case deadlines agree on every date."""
    spans = tuple(Holiday(first, first + timedelta(days=n), "假") for first, n in holidays)
    closed = frozenset(d for h in spans for d in h.days())
    make_up = tuple(Workday(d, "mon") for d in sorted(workdays - closed))
    hall = dataclasses.replace(OFFICE_HALL, calendar=Calendar(spans, make_up))
    working = cases.working_day(day, cases.open_weekdays(hall), closed, {w.day for w in make_up})
    assert bool(day_spans(hall, day)) == working


# --- the overlay ---------------------------------------------------------------------------------


def test_the_overlay_adds_to_the_hall_files_calendar() -> None:
    text = calendar_overlay.dumps(
        [{"date": "2026-05-01", "until": "2026-05-05", "name": '劳动节 "May"'}], [{"date": "2026-04-26"}]
    )
    hall = parse_hall(office_text(), calendar=text)
    assert [h.name for h in hall.calendar.holidays] == ['劳动节 "May"', "国庆节"]
    assert [w.day for w in hall.calendar.workdays] == [date(2026, 4, 26), date(2026, 9, 27), date(2026, 10, 10)]
    assert calendar_overlay.entries_of(text, "holidays")[0]["until"] == date(2026, 5, 5)
    clash = calendar_overlay.dumps([{"date": "2026-09-27", "name": "x"}], [])
    with pytest.raises(ConfigError) as caught:
        parse_hall(office_text(), calendar=clash)
    assert "2026-09-27 is both a holiday and a working day" in str(caught.value.problems)
    with pytest.raises(ConfigError):
        parse_hall(office_text(), calendar="[[staff]]\nid = 'x'\n")


def test_check_config_reads_the_calendar_overlay_beside_the_hall_file(tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(office_text(), encoding="utf-8")
    overlay = calendar_overlay.beside(hall_file)
    assert overlay == tmp_path / "hall.calendar.toml"
    command = [sys.executable, "-m", "server.cli", "check-config", str(hall_file)]
    overlay.write_text(calendar_overlay.dumps([], [{"date": "2026-10-03"}]), encoding="utf-8")
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 1
    assert "2026-10-03 is both a holiday and a working day" in checked.stderr
    overlay.write_text(calendar_overlay.dumps([{"date": "2026-05-01", "name": "劳动节"}], []), encoding="utf-8")
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "with the calendar overlay" in checked.stdout and "2 holidays, 2 调休 working days" in checked.stdout
    assert load_hall(hall_file).calendar.holiday(date(2026, 5, 1)) is not None


# --- the engine ----------------------------------------------------------------------------------


async def test_a_holiday_refuses_tickets_with_its_name(redis: Redis, clock: HallClock) -> None:
    today = datetime.fromtimestamp(DEMO_MORNING, SHANGHAI).date().isoformat()
    hall = parse_hall(demo_text() + f'\n[calendar]\nholidays = [{{ date = {today}, name = "国庆节" }}]\n')
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    refusal = await _refusal(engine.issue(["register"]))
    assert (refusal.code, refusal.details) == ("hall_closed", {"holiday": "国庆节"})
    assert refusal.message == "the hall is closed today for 国庆节 / 今日国庆节休息"
    snapshot = await engine.snapshot()
    assert (snapshot["issuing_open"], snapshot["holiday"]) == (False, "国庆节")
    clock.advance(24 * 3600)  # the next day is an ordinary one
    assert (await engine.issue(["register"]))["ticket"]["number"] == "A001"
    assert (await engine.snapshot())["holiday"] is None


async def _refusal(action: Awaitable[object]) -> Refusal:
    with pytest.raises(Refusal) as caught:
        await action
    return caught.value


async def test_appointments_cannot_be_booked_on_a_holiday(redis: Redis, clock: HallClock) -> None:
    tomorrow = (datetime.fromtimestamp(DEMO_MORNING, SHANGHAI).date() + timedelta(days=1)).isoformat()
    hall = parse_hall(demo_text() + f'\n[calendar]\nholidays = [{{ date = {tomorrow}, name = "元旦" }}]\n')
    booking = Booking(Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0))
    refusal = await _refusal(booking.book(["register"], tomorrow, "09:00", id_number="11010519491231002X"))
    assert (refusal.code, refusal.details) == ("hall_closed", {"holiday": "元旦"})
    assert "2025-11-27" in refusal.message


async def test_a_booking_made_before_a_holiday_was_declared_cannot_check_in_on_it(
    redis: Redis, clock: HallClock
) -> None:
    engine = Engine(redis, parse_hall(demo_text()), secret=b"k", clock=clock, min_call_interval_s=0)
    today = datetime.fromtimestamp(DEMO_MORNING, SHANGHAI).date().isoformat()
    booked = await Booking(engine).book(["register"], today, "10:00")
    code = booked["appointment"]["code"]
    text = demo_text() + f'\n[calendar]\nholidays = [{{ date = {today}, name = "停电" }}]\n'
    closed = Engine(redis, parse_hall(text), secret=b"k", clock=clock, min_call_interval_s=0)
    refusal = await _refusal(Booking(closed).check_in(code=code))
    assert (refusal.code, refusal.details) == ("hall_closed", {"holiday": "停电"})
    assert (await Booking(engine).check_in(code=code))["ticket"]["status"] == "waiting"  # the booking stays


@given(st.integers(min_value=1_700_000_000_000, max_value=1_900_000_000_000))
def test_a_moment_falls_in_the_business_day_that_hall_time_names(now_ms: int) -> None:
    """The cases' summary counts a period's business days [day at reset, next day at reset):
    seen failing as a bad rating given at 00:05, before the 03:00 reset, left out of "today"."""
    hall = load_demo()
    day = date.fromisoformat(hall_time(now_ms / 1000, hall).day)
    assert business_day_start_ms(day, hall) <= now_ms < business_day_start_ms(day + timedelta(days=1), hall)
