"""Appointments (预约) through a real ``hallq serve``: slots, booking, refusals that change
nothing, cancellation, check-in by code and by ID number, the ticket's place ahead of an
earlier walk-in, and fifty concurrent HTTP bookings for the last four places of a slot."""

from __future__ import annotations

import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from tests.live import LiveServer
from tests.test_api import assert_error, seq_of

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def open_slot(offset_slots: int = 0) -> tuple[str, str]:
    """(date, start) of a slot whose check-in window is open now: the first slot starting
    within the next 30 minutes (its window opened at most 30 minutes ago), ``offset_slots`` on."""
    ahead = datetime.now(SHANGHAI) + timedelta(minutes=30 + 30 * offset_slots)
    start = ahead.replace(minute=ahead.minute - ahead.minute % 30, second=0, microsecond=0)
    return start.date().isoformat(), start.strftime("%H:%M")


def later_slot() -> tuple[str, str]:
    """(date, start) of a slot tomorrow: bookable, its check-in not open yet."""
    tomorrow = (datetime.now(SHANGHAI) + timedelta(days=1)).date().isoformat()
    return tomorrow, "10:00"


def book(server: LiveServer, day: str, start: str, services: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    status, body = server.request(
        "POST",
        "/api/halls/demo/appointments",
        {"services": services or ["register"], "date": day, "start": start, **extra},
    )
    assert status == 201, body
    appointment: dict[str, Any] = body["appointment"]
    assert set(appointment) >= {"code", "token", "date", "start", "end", "services", "status"}
    assert body["url"].endswith("/a/" + appointment["token"])
    return appointment


def test_slots_booking_and_cancelling(live_server: LiveServer) -> None:
    day, start = later_slot()
    status, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=register")
    assert status == 200
    slots = {s["start"]: s for s in body["slots"]}
    assert slots["10:00"] == {"start": "10:00", "end": "10:30", "left": 4} and len(slots) == 48
    appointment = book(live_server, day, start, id_number="110101199003071234")
    assert appointment["status"] == "booked"
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=register")
    assert {s["start"]: s for s in body["slots"]}["10:00"]["left"] == 3
    # refusals: each changes nothing (seq stays)
    before = seq_of(live_server)
    path = "/api/halls/demo/appointments"
    assert_error(
        live_server.request(
            "POST", path, {"services": ["register"], "date": day, "start": "11:00", "id_number": "110101199003071234"}
        ),
        409,
        "duplicate",
    )
    assert_error(
        live_server.request("POST", path, {"services": ["register"], "date": day, "start": "10:10"}),
        404,
        "unknown_slot",
    )
    assert_error(
        live_server.request("POST", path, {"services": ["register"], "date": "tomorrow", "start": "10:00"}),
        422,
        "bad_date",
    )
    assert_error(
        live_server.request("POST", path, {"services": ["haircut"], "date": day, "start": "10:00"}),
        404,
        "unknown_service",
    )
    assert_error(live_server.request("POST", path, {"services": ["register"], "date": day}), 422, "missing_field")
    assert_error(live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=nope"), 404, "unknown_service")
    assert_error(
        live_server.request("POST", f"/api/halls/demo/appointments/{appointment['code']}/check-in"), 409, "too_early"
    )
    assert seq_of(live_server) == before
    status, body = live_server.request("GET", f"/api/appointments/{appointment['token']}")
    assert status == 200 and body["appointment"]["code"] == appointment["code"]
    status, body = live_server.request("DELETE", f"/api/appointments/{appointment['token']}")
    assert status == 200 and body["appointment"]["status"] == "cancelled"
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=register")
    assert {s["start"]: s for s in body["slots"]}["10:00"]["left"] == 4
    assert_error(live_server.request("DELETE", f"/api/appointments/{appointment['token']}"), 409, "not_booked")
    assert_error(
        live_server.request("GET", "/api/appointments/demo.AAAAAAAAAAAAAAAAAAAAAAAA"), 404, "unknown_appointment"
    )


def test_check_in_is_called_ahead_of_an_earlier_walk_in(live_server: LiveServer) -> None:
    day, start = open_slot()
    appointment = book(live_server, day, start)
    walk_in = live_server.issue(["register"])
    status, body = live_server.request("POST", f"/api/halls/demo/appointments/{appointment['code']}/check-in")
    assert status == 201, body
    assert body["ahead"] == 0 and body["ticket"]["appointment"] is True and body["url"].startswith("http")
    assert_error(
        live_server.request("POST", f"/api/halls/demo/appointments/{appointment['code']}/check-in"), 409, "checked_in"
    )
    clerk = live_server.login("s01")
    status, called = live_server.act(clerk, "1", "call_next")
    assert status == 200 and called["ticket"]["number"] == body["ticket"]["number"]
    status, called = live_server.act(clerk, "1", "call_next")
    assert called["ticket"]["number"] == walk_in["ticket"]["number"]
    # the appointment's page tells the visitor their ticket
    status, info = live_server.request("GET", f"/api/appointments/{appointment['token']}")
    assert info["appointment"]["status"] == "checked_in" and info["appointment"]["number"] == body["ticket"]["number"]
    # statistics per service and day (the slot's date)
    admin = live_server.login("admin", "admin1234")
    status, stats = live_server.request("GET", f"/api/halls/demo/stats?from={day}&to={day}&by=service", token=admin)
    assert status == 200, stats
    register = {g["key"]: g for g in stats["groups"]}["register"]
    assert register["appointments"] == {"booked": 1, "cancelled": 0, "checked_in": 1, "missed": 0}


def test_check_in_by_id_number_at_the_kiosk(live_server: LiveServer) -> None:
    day, start = open_slot()
    book(live_server, day, start, ["photo"], id_number="110101199003071234")
    path = "/api/halls/demo/appointments/check-in"
    assert_error(live_server.request("POST", path, {"id_number": "999"}), 404, "unknown_appointment")
    assert_error(live_server.request("POST", path, {}), 422, "bad_code")
    status, body = live_server.request("POST", path, {"id_number": "110101199003071234", "lang": "en"})
    assert status == 201 and body["ticket"]["services"] == ["photo"] and body["ticket"]["lang"] == "en"
    # typed again by anyone: refused without naming the person's ticket number
    status, again = live_server.request("POST", path, {"id_number": "110101199003071234"})
    assert status == 409 and again["error"]["code"] == "checked_in"
    assert "number" not in again["error"] and body["ticket"]["number"] not in again["error"]["message"]
    # the desk (a staff session) is told the number
    desk = live_server.login("desk")
    status, again = live_server.request("POST", path, {"id_number": "110101199003071234"}, token=desk)
    assert status == 409 and again["error"]["number"] == body["ticket"]["number"]


def test_fifty_concurrent_bookings_for_the_last_four_places(live_server: LiveServer) -> None:
    """The desk's token is exempt from the anonymous rate limit: fifty requests at once."""
    desk = live_server.login("desk")
    day, _ = later_slot()

    def attempt(_: int) -> int:
        status, _body = live_server.request(
            "POST", "/api/halls/demo/appointments", {"services": ["pension"], "date": day, "start": "14:00"}, token=desk
        )
        return status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(attempt, range(50)))
    assert statuses.count(201) == 4 and statuses.count(409) == 46, statuses
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=pension")
    assert {s["start"]: s for s in body["slots"]}["14:00"]["left"] == 0
