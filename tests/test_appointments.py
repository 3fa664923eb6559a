"""Appointments (预约) on the engine against a real redis-server: slots, booking, capacity,
duplicates, cancellation, the check-in window on a settable clock, the calling order of a
checked-in appointment (ahead of earlier walk-ins of its services, behind priority and
transferred tickets), missed ones counted at rollover, and real concurrency: fifty bookings
racing for the last four places of a slot get exactly four."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from server.appointments import slots_of_day
from server.config import demo_text, load_demo, parse_hall
from server.hall_model import Hall
from server.queue.booking import Booking
from server.queue.constants import keys_prefix
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.toml_locator import ConfigError
from tests.conftest import HallClock
from tests.test_engine import clerk, refused

P = keys_prefix("demo")
TODAY = "2025-11-26"  # DEMO_MORNING: Wednesday 10:00 in Asia/Shanghai
MIN = 60.0


@pytest.fixture
def booking(engine: Engine) -> Booking:
    return Booking(engine)


async def book(booking: Booking, start: str = "10:30", services: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    answer = await booking.book(services or ["register"], TODAY, start, **kw)
    appointment: dict[str, Any] = answer["appointment"]
    return appointment


# --- the hall file ---------------------------------------------------------------------


def test_the_demo_hall_takes_appointments_as_the_contract_says(hall: Hall) -> None:
    config = hall.appointments
    assert config is not None
    assert config.services == ("register", "transfer", "pension", "photo")
    assert (config.slot_minutes, config.per_slot) == (30, 4)
    assert (config.check_in_early_min, config.check_in_late_min) == (30, 15)


def test_slots_follow_the_opening_hours() -> None:
    text = demo_text().replace('wed = ["00:00-24:00"]', 'wed = ["08:30-12:00", "13:30-17:45"]')
    hall = parse_hall(text)
    assert hall.appointments is not None
    from datetime import date

    slots = slots_of_day(hall, hall.appointments, date(2025, 11, 26))
    starts = [s.start_text for s in slots]
    assert starts[:2] == ["08:30", "09:00"] and "11:30" in starts and "12:00" not in starts
    assert starts[-1] == "17:00"  # 17:30-17:45 is shorter than a slot: not offered
    assert len(slots) == 7 + 8


def test_bad_appointment_settings_are_reported_with_their_place() -> None:
    text = (
        demo_text()
        .replace("per_slot = 4", "per_slot = 0")
        .replace("[appointments]\n", '[appointments]\nservices = ["register", "nope"]\n')
        .replace("check_in_early_min = 30", "check_in_early_min = 30\ncolour = 1")
    )
    with pytest.raises(ConfigError) as caught:
        parse_hall(text)
    found = {p.path: p for p in caught.value.problems}
    assert "appointments.per_slot" in found and found["appointments.per_slot"].line
    assert "appointments.services[1]" in found
    assert "appointments.colour" in found


def test_a_hall_without_the_section_takes_none() -> None:
    text = demo_text()
    start = text.index("[appointments]")
    end = text.index("[rules]")
    hall = parse_hall(text[:start] + text[end:])
    assert hall.appointments is None


# --- booking ---------------------------------------------------------------------------


async def test_booking_takes_a_place_and_slots_show_what_is_left(booking: Booking) -> None:
    before = {s["start"]: s for s in await booking.slots(TODAY, ["register"])}
    assert before["10:30"] == {"start": "10:30", "end": "11:00", "left": 4}
    assert before["09:00"]["left"] == 0  # its check-in closed at 09:15: no longer bookable
    appointment = await book(booking)
    assert appointment["status"] == "booked" and len(appointment["code"]) == 8
    assert appointment["start"] == "10:30" and appointment["end"] == "11:00"
    assert appointment["token"].startswith("demo.")
    after = {s["start"]: s for s in await booking.slots(TODAY, ["register"])}
    assert after["10:30"]["left"] == 3
    # places are per service
    assert {s["start"]: s for s in await booking.slots(TODAY, ["photo"])}["10:30"]["left"] == 4
    info = await booking.appointment(appointment["token"])
    assert info is not None and info["code"] == appointment["code"] and info["status"] == "booked"


async def test_a_full_slot_refuses_and_changes_nothing(booking: Booking, redis: Redis) -> None:
    for _ in range(4):
        await book(booking)
    await refused(redis, "slot_full", booking.book(["register"], TODAY, "10:30"))
    # a booking for two services needs a place in both
    await refused(redis, "slot_full", booking.book(["photo", "register"], TODAY, "10:30"))
    assert (await book(booking, services=["photo"]))["status"] == "booked"


async def test_one_booking_per_person_day_and_service(booking: Booking, redis: Redis) -> None:
    await book(booking, id_number="110101199003071234")
    error = await refused(
        redis, "duplicate", booking.book(["register"], TODAY, "11:00", id_number="110101199003071234 ")
    )
    assert error.details["start"] == "10:30"
    # another service the same day, or another person, is fine
    await book(booking, "11:00", ["photo"], id_number="110101199003071234")
    await book(booking, "11:00", id_number="110101199003075678")
    # the same phone number too
    await book(booking, "11:30", ["pension"], phone="13800000000")
    await refused(redis, "duplicate", booking.book(["pension"], TODAY, "12:00", phone="13800000000"))


async def test_a_missed_booking_still_holds_the_persons_day_and_a_cancelled_one_does_not(
    engine: Engine, booking: Booking, redis: Redis, clock: HallClock
) -> None:
    """One booking per person, date and service (docs/protocol.md); a missed appointment frees
    nothing (DOMAIN.md). Found by the day model: once the rollover had marked a 00:00 booking
    missed, the same person booked 09:30 that date, though before the rollover they could not:
    the answer depended on when the sweep ran."""
    person = "110101199003071234"
    await booking.book(["register"], "2025-11-27", "00:00", id_number=person)
    clock.advance(14 * 3600 + 30 * MIN)  # 00:30 on the 27th: its check-in time is over
    await refused(redis, "duplicate", booking.book(["register"], "2025-11-27", "09:30", id_number=person))
    clock.advance(3 * 3600)  # 03:30, past the daily reset: the rollover marks it missed
    await engine.issue(["photo"])
    error = await refused(redis, "duplicate", booking.book(["register"], "2025-11-27", "09:30", id_number=person))
    assert error.details["start"] == "00:00"
    cancelled = await booking.book(["photo"], "2025-11-27", "10:00", id_number=person)
    await booking.cancel(cancelled["appointment"]["token"])
    assert (await booking.book(["photo"], "2025-11-27", "10:30", id_number=person))["appointment"]["status"] == "booked"


async def test_bookings_outside_the_slots_are_refused(booking: Booking, redis: Redis) -> None:
    await refused(redis, "unknown_slot", booking.book(["register"], TODAY, "10:15"))
    await refused(redis, "slot_past", booking.book(["register"], TODAY, "09:00"))
    await refused(redis, "slot_past", booking.book(["register"], "2025-11-25", "15:00"))
    await refused(redis, "too_far_ahead", booking.book(["register"], "2026-01-26", "10:00"))
    await refused(redis, "bad_date", booking.book(["register"], "26/11/2025", "10:30"))
    await refused(redis, "unknown_service", booking.book(["nope"], TODAY, "10:30"))


async def test_cancelling_frees_the_place(booking: Booking, redis: Redis) -> None:
    taken = [await book(booking, id_number=f"ID{i}") for i in range(4)]
    await refused(redis, "slot_full", booking.book(["register"], TODAY, "10:30"))
    answer = await booking.cancel(taken[0]["token"])
    assert answer["appointment"]["status"] == "cancelled"
    again = await book(booking, id_number="ID0")  # the same person may book again
    assert again["status"] == "booked"
    await refused(redis, "not_booked", booking.cancel(taken[0]["token"]))
    await refused(redis, "unknown_appointment", booking.cancel("demo.nothing"))


async def test_the_same_request_id_books_once(booking: Booking) -> None:
    first = await booking.book(["register"], TODAY, "10:30", request_id="r1", caller="phone-1")
    second = await booking.book(["register"], TODAY, "10:30", request_id="r1", caller="phone-1")
    assert first["appointment"]["code"] == second["appointment"]["code"]
    assert {s["start"]: s for s in await booking.slots(TODAY, ["register"])}["10:30"]["left"] == 3


# --- check-in --------------------------------------------------------------------------


async def test_check_in_window_from_30_min_before_to_15_after(booking: Booking, redis: Redis, clock: HallClock) -> None:
    appointment = await book(booking, "11:00")  # window 10:30 .. 11:15
    await refused(redis, "too_early", booking.check_in(code=appointment["code"]))
    clock.advance(30 * MIN - 1)
    await refused(redis, "too_early", booking.check_in(code=appointment["code"]))
    clock.advance(1)
    answer = await booking.check_in(code=appointment["code"])
    ticket = answer["ticket"]
    assert ticket["status"] == "waiting" and ticket["number"] == "A001" and ticket["appointment"] is True
    assert answer["appointment"]["status"] == "checked_in" and answer["appointment"]["number"] == "A001"
    await refused(redis, "checked_in", booking.check_in(code=appointment["code"]))
    await refused(redis, "checked_in", booking.cancel(appointment["token"]))
    late = await book(booking, "11:00")
    clock.advance(45 * MIN + 1)  # 11:15:01
    await refused(redis, "too_late", booking.check_in(code=late["code"]))
    await refused(redis, "too_late", booking.cancel(late["token"]))
    info = await booking.appointment(late["token"])
    assert info is not None and info["status"] == "missed"
    await refused(redis, "unknown_appointment", booking.check_in(code="00000000"))
    with pytest.raises(Refusal) as caught:
        await booking.check_in(code="12ab")
    assert caught.value.code == "bad_code"


async def test_check_in_by_id_number_finds_todays_booking(booking: Booking, redis: Redis, clock: HallClock) -> None:
    await book(booking, "10:00", ["photo"], id_number="110101199003071234")
    await book(booking, "12:00", ["register"], id_number="110101199003071234")
    answer = await booking.check_in(id_number="110101 199003071234")
    assert answer["ticket"]["services"] == ["photo"] and answer["ticket"]["number"] == "D001"
    # the 12:00 one is not open yet
    await refused(redis, "too_early", booking.check_in(id_number="110101199003071234"))
    await refused(redis, "unknown_appointment", booking.check_in(id_number="999"))


async def test_check_in_by_id_number_for_a_slot_just_after_midnight(booking: Booking, clock: HallClock) -> None:
    """Seen in CI at 23:45 Shanghai time: the 00:00 slot's check-in had opened, but a search by
    ID number looked only in today's bookings (404). It looks in tomorrow's too near midnight."""
    clock.advance(13 * 3600 + 45 * MIN)  # 23:45
    await booking.book(["photo"], "2025-11-27", "00:00", id_number="110101199003071234")
    answer = await booking.check_in(id_number="110101199003071234")
    assert answer["ticket"]["services"] == ["photo"]
    assert answer["appointment"]["date"] == "2025-11-27"


async def test_a_checked_in_appointment_is_called_after_priority_and_transfers_before_walk_ins(
    engine: Engine, booking: Booking, hall: Hall, clock: HallClock
) -> None:
    s1, s2 = clerk(hall, "s01"), clerk(hall, "s02")
    walk_in = await engine.issue(["register"])  # A001, the earliest walk-in
    appointment = await book(booking, "10:00")
    moved = await engine.issue(["pension"])  # C001: called at window 2, transferred to register
    await engine.act("2", "call", s2, ticket=moved["ticket"]["number"])
    await engine.act("2", "transfer", s2, service="register")
    later_walk_in = await engine.issue(["register"])  # A002
    clock.advance(1)
    checked = await booking.check_in(code=appointment["code"])  # A003
    assert checked["ahead"] == 1  # only the transferred ticket: both walk-ins come after it
    priority = await engine.issue(["register"], priority=True)  # A004
    order = []
    for _ in range(5):
        clock.advance(1)
        order.append((await engine.act("1", "call_next", s1))["ticket"]["number"])
    assert order == [
        moved["ticket"]["number"],
        priority["ticket"]["number"],
        checked["ticket"]["number"],
        walk_in["ticket"]["number"],
        later_walk_in["ticket"]["number"],
    ]


async def test_missed_appointments_are_counted_at_rollover(
    engine: Engine, booking: Booking, redis: Redis, clock: HallClock
) -> None:
    kept = await book(booking, "10:00", ["register", "photo"])
    missed = await book(booking, "10:30")
    cancelled = await book(booking, "11:00", ["photo"])
    await booking.check_in(code=kept["code"])
    await booking.cancel(cancelled["token"])
    clock.advance(24 * 3600)  # the next day: the rollover counts the missed one
    await engine.issue(["register"])
    await engine.count_stats()
    stats = await redis.hgetall(P + f"stats:{TODAY}")
    assert stats["all|all|appointments_booked"] == "3"
    assert stats["all|all|appointments_checked_in"] == "1"
    assert stats["all|all|appointments_cancelled"] == "1"
    assert stats["all|all|appointments_missed"] == "1"
    assert stats["service|register|appointments_missed"] == "1"
    assert stats["service|photo|appointments_checked_in"] == "1"
    info = await booking.appointment(missed["token"])
    assert info is not None and info["status"] == "missed"
    # the missed place was not given back (the slot is over anyway), nor counted twice
    clock.advance(24 * 3600)
    await engine.issue(["register"])
    await engine.count_stats()
    assert (await redis.hgetall(P + f"stats:{TODAY}"))["all|all|appointments_missed"] == "1"


# --- real concurrency --------------------------------------------------------------------


async def test_fifty_bookings_for_the_last_four_places_get_exactly_four(redis_url: str, hall: Hall) -> None:
    """Fifty clients, each with its own connection, race for the last four places."""
    clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(50)]
    try:
        await clients[0].flushall()
        clock = HallClock()
        engines = [Booking(Engine(c, hall, secret=b"k", clock=clock)) for c in clients]
        await asyncio.gather(*(c.ping() for c in clients))

        async def attempt(b: Booking) -> str:
            try:
                await b.book(["register"], TODAY, "15:00")
                return "booked"
            except Refusal as refusal:
                return refusal.code

        results = await asyncio.gather(*(attempt(b) for b in engines))
        assert results.count("booked") == 4, results
        assert results.count("slot_full") == 46
        slots = {s["start"]: s for s in await engines[0].slots(TODAY, ["register"])}
        assert slots["15:00"]["left"] == 0
        assert await clients[0].hget(P + f"ap:slot:{TODAY}", "register|15:00") == "4"
    finally:
        for c in clients:
            await c.aclose()


def test_demo_loads() -> None:
    assert load_demo().appointments is not None
