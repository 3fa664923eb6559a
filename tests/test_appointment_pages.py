"""Appointments in a real headless Chromium against a real ``hallq serve``: a visitor books on
the phone page, gets a code and a QR, checks in at the kiosk with the code, and the window
calls the appointment ahead of a walk-in who came earlier. And a booking cancelled on the phone."""

from __future__ import annotations

import re
from typing import Any

from tests.live import LiveServer
from tests.test_appointments_api import later_slot, open_slot
from tests.test_kiosk_pages import PHONE, TIMEOUT_MS


def book_on_phone(page: Any, server: LiveServer, day: str, start: str, service: str = "register") -> str:
    """Book (service, day, start) on /book/demo; the appointment page's code."""
    page.goto(server.url + "/book/demo")
    page.check(f"input[name=service][value={service}]")
    page.select_option("#date", day)
    page.click(f"#slots [data-start='{start}']", timeout=TIMEOUT_MS)
    page.click("#book")
    page.wait_for_url(re.compile(r"/a/demo\.[A-Za-z0-9_-]+$"), timeout=TIMEOUT_MS)
    page.wait_for_selector("#view:not([hidden]) #code", timeout=TIMEOUT_MS)
    page.wait_for_selector("#qr[src*='qr.svg']", timeout=TIMEOUT_MS)
    return str(page.inner_text("#code")).replace(" ", "")


def test_book_on_the_phone_check_in_at_the_kiosk_called_ahead_of_an_earlier_walk_in(
    browser: Any, live_server: LiveServer
) -> None:
    context = browser.new_context(viewport=PHONE, has_touch=True)
    phone = context.new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    day, start = open_slot()
    code = book_on_phone(phone, live_server, day, start)
    assert re.fullmatch(r"\d{8}", code)
    assert "已预约" in phone.inner_text("#status")

    walk_in = live_server.issue(["register"])  # came earlier, without an appointment

    kiosk = browser.new_page()
    kiosk.on("pageerror", lambda e: errors.append(str(e)))
    kiosk.goto(live_server.url + "/kiosk/demo")
    kiosk.click("#checkin-open")
    kiosk.fill("#checkin-input", code)
    kiosk.click("#checkin-go")
    kiosk.wait_for_selector("#ticket:not([hidden]) .t-number", timeout=TIMEOUT_MS)
    number = kiosk.inner_text(".t-number")
    assert number.startswith("A") and number != walk_in["ticket"]["number"]
    # the same code again is refused in words, not codes
    kiosk.click("#done")
    kiosk.click("#checkin-open")
    kiosk.fill("#checkin-input", code)
    kiosk.click("#checkin-go")
    kiosk.wait_for_selector("#checkin-message:not(:empty)", timeout=TIMEOUT_MS)
    assert "已签到" in kiosk.inner_text("#checkin-message")

    clerk = live_server.login("s01")
    status, called = live_server.act(clerk, "1", "call_next")
    assert status == 200 and called["ticket"]["number"] == number
    status, called = live_server.act(clerk, "1", "call_next")
    assert called["ticket"]["number"] == walk_in["ticket"]["number"]

    phone.reload()
    phone.wait_for_selector("#view:not([hidden])", timeout=TIMEOUT_MS)
    assert number in phone.inner_text("#status")
    assert not phone.is_hidden("#ticket-link")
    assert errors == []
    context.close()
    kiosk.close()


def test_a_booking_cancelled_on_the_phone_frees_its_place(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport=PHONE, has_touch=True)
    phone = context.new_page()
    day, start = later_slot()
    book_on_phone(phone, live_server, day, start, "photo")
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=photo")
    assert {s["start"]: s for s in body["slots"]}[start]["left"] == 3
    phone.click("#cancel")
    phone.click(".hq-dialog [data-answer=yes]")
    phone.wait_for_selector("#cancel", state="hidden", timeout=TIMEOUT_MS)
    assert "已取消" in phone.inner_text("#status")
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=photo")
    assert {s["start"]: s for s in body["slots"]}[start]["left"] == 4
    context.close()


def test_only_the_last_days_slots_are_shown_when_answers_cross(browser: Any, live_server: LiveServer) -> None:
    """A service ticked, then another day chosen at once: the first day's answer, arriving
    last, is not drawn (it once was, beside the other day's, so a visitor could pick a time of
    a day no longer shown)."""
    context = browser.new_context(viewport=PHONE, has_touch=True)
    phone = context.new_page()
    day, _start = later_slot()
    # the answer for any day but ``day`` comes 800 ms late
    phone.add_init_script(
        "const realFetch = window.fetch;"
        "window.fetch = (url, ...rest) => String(url).includes('/slots?') && !String(url).includes('date="
        + day
        + "') ? new Promise(r => setTimeout(r, 800)).then(() => realFetch(url, ...rest)) : realFetch(url, ...rest);"
    )
    phone.goto(live_server.url + "/book/demo")
    phone.check("input[name=service][value=photo]")
    phone.select_option("#date", day)
    phone.wait_for_selector("#slots [data-start='10:00']", timeout=TIMEOUT_MS)
    phone.wait_for_timeout(1500)  # the late answer has come by now
    assert phone.locator("#slots [data-start='10:00']").count() == 1
    _, body = live_server.request("GET", f"/api/halls/demo/slots?date={day}&service=photo")
    assert phone.locator("#slots .hq-btn").count() == len(body["slots"])
    context.close()
