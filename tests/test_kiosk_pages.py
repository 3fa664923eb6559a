"""Kiosk, desk and visitor pages in real headless Chromium against a real server.

The whole journey (kiosk ticket → visitor's phone → the pad calls it → the phone shows the window
within a second and the lobby shows the call), the desk cancelling a ticket, thermal print layouts,
a 360×640 phone, the duplicate-ticket and closed-hall messages, the priority confirmation, the
kiosk's timeout, languages, the visitor's side paths (suspend, no-show, done + rating, cancel) and an
unknown ticket link.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.pages import package_dir
from tests.live import LiveServer, no_show_hall
from tests.test_pad_page import open_pad

TIMEOUT_MS = 10_000
PHONE = {"width": 360, "height": 640}
MM = 96 / 25.4  # CSS pixels per millimetre


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page in a 360×640 phone-sized context; page errors are collected in ``page.errors``."""
    context = browser.new_context(viewport=PHONE, has_touch=True)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def take_ticket(page: Any, services: list[str], *, id_number: str | None = None) -> dict[str, Any]:
    """Choose services on the kiosk page and take a ticket; the ticket screen as a dict."""
    for service in services:
        page.click(f"[data-service='{service}']")
    if id_number:
        page.click(".issue-id > summary")
        page.fill("[data-id-number]", id_number)
    page.click("[data-submit]")
    page.wait_for_selector("#ticket:not([hidden]) .t-number", timeout=TIMEOUT_MS)
    return {
        "number": page.inner_text(".t-number"),
        "ahead": int(page.get_attribute(".t-ahead", "data-ahead") or "-1"),
        "url": page.inner_text(".t-url"),
    }


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def small_targets(page: Any) -> list[Any]:
    """Visible buttons, links and summaries smaller than 48×48 CSS px."""
    return list(
        page.eval_on_selector_all(
            "button, a[href], summary",
            """els => els.filter(e => e.offsetParent !== null)
                .map(e => [e.textContent.trim(), Math.round(e.getBoundingClientRect().width),
                           Math.round(e.getBoundingClientRect().height)])
                .filter(([, w, h]) => w < 48 || h < 48)""",
        )
    )


def token_of(url: str) -> str:
    return url.rsplit("/t/", 1)[1]


# --- the journey -----------------------------------------------------------------------------------


def test_kiosk_ticket_is_followed_on_the_phone_and_called_within_a_second(
    browser: Any, live_server: LiveServer, phone: Any, artifacts: Path
) -> None:
    base = live_server.url
    ahead_numbers = [live_server.issue(["register"])["ticket"]["number"] for _ in range(2)]
    lobby_context = browser.new_context(viewport={"width": 1920, "height": 1080})
    lobby = lobby_context.new_page()
    lobby.goto(f"{base}/display/demo")
    kiosk_context = browser.new_context(viewport={"width": 1080, "height": 1920})
    kiosk = kiosk_context.new_page()
    pad = None
    try:
        kiosk.goto(f"{base}/kiosk/demo")
        ticket = take_ticket(kiosk, ["register"])
        assert ticket["ahead"] == 2
        kiosk.wait_for_function("document.querySelector('.t-qr').naturalWidth > 0")  # the QR code loads
        assert ticket["url"] == f"{base}/t/{token_of(ticket['url'])}"
        kiosk.screenshot(path=str(artifacts / "kiosk-ticket.png"))

        phone.goto(ticket["url"])
        phone.wait_for_selector("#ahead[data-ahead='2']", timeout=TIMEOUT_MS)
        assert phone.inner_text("#number") == ticket["number"]
        assert "2" in phone.inner_text("#ahead")
        assert re.search(r"\d+ 分钟|即将", phone.inner_text("#eta"))
        assert phone.is_visible("#ready")  # ≤ 3 ahead: get ready

        # Two other windows call the visitors ahead: the phone counts down live.
        clerk = live_server.login("s02")
        for number, window in zip(ahead_numbers, ("2", "3"), strict=True):
            token = clerk if window == "2" else live_server.login("s03")
            status, answer = live_server.act(token, window, "call_next")
            assert status == 200 and answer["ticket"]["number"] == number
        phone.wait_for_selector("#ahead[data-ahead='0']", timeout=TIMEOUT_MS)

        pad = open_pad(browser, base, "s01", "1")
        started = time.monotonic()
        pad.click("#actions [data-action='call_next']")
        phone.wait_for_selector("#callout:not([hidden])[data-window='1']", timeout=1000)
        called_after = time.monotonic() - started
        assert "1号窗口" in phone.inner_text("#callout-window")
        assert phone.get_attribute("#callout", "class").count("v-flash") == 1
        lobby.wait_for_selector(f"#now[data-number='{ticket['number']}'][data-window='1']", timeout=1000)
        assert called_after < 1.0
        phone.screenshot(path=str(artifacts / "visitor-called-360.png"))
        assert phone.errors == []
    finally:
        if pad is not None:
            pad.context.close()
        kiosk_context.close()
        lobby_context.close()


def test_desk_cancels_a_ticket_and_the_next_kiosk_ticket_has_fewer_ahead(browser: Any, live_server: LiveServer) -> None:
    base = live_server.url
    numbers = [live_server.issue(["register"])["ticket"]["number"] for _ in range(3)]
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        kiosk = context.new_page()
        kiosk.goto(f"{base}/kiosk/demo")
        before = take_ticket(kiosk, ["register"])
        assert before["ahead"] == 3
        kiosk.click("#done")

        desk = context.new_page()
        desk.goto(f"{base}/desk/demo")
        desk.fill("#login-staff", "desk")
        desk.fill("#login-pin", "1234")
        desk.click("#login button[type=submit]")
        desk.wait_for_selector("#desk:not([hidden])")
        desk.wait_for_selector("#queue tr[data-service='register'] td.num >> text='4'", timeout=TIMEOUT_MS)
        desk.fill("#find-number", numbers[1].lower())
        desk.click("#find button[type=submit]")
        desk.wait_for_selector("#find-result:not([hidden])")
        assert desk.inner_text("#found-number").startswith(numbers[1])
        assert desk.inner_text("#found-ahead") == "1"
        desk.click("#cancel-ticket")
        desk.click(".hq-dialog [data-answer='yes']")
        desk.wait_for_function(
            f"document.querySelector('#find-message').textContent.includes('{numbers[1]}')", timeout=TIMEOUT_MS
        )
        assert desk.inner_text("#found-status") == "已取消"
        desk.wait_for_selector("#queue tr[data-service='register'] td.num >> text='3'", timeout=TIMEOUT_MS)

        kiosk.wait_for_selector("#start:not([hidden])")
        after = take_ticket(kiosk, ["register"])
        # One more ticket in front (the previous kiosk ticket), one less (the cancelled one).
        assert after["ahead"] == before["ahead"]

        # The desk issues on a visitor's behalf too, and may reprint.
        desk.click("#issue [data-service='photo']")
        desk.click("#issue [data-submit]")
        desk.wait_for_selector("#issued:not([hidden]) .t-number")
        assert desk.inner_text("#issued .t-number").startswith("D")
    finally:
        context.close()


# --- print -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("paper, printable_mm", [("80", 72), ("58", 48)])
def test_thermal_print_layout_fits_the_paper(
    browser: Any, live_server: LiveServer, artifacts: Path, paper: str, printable_mm: int
) -> None:
    width_px = round(int(paper) * MM)
    context = browser.new_context(viewport={"width": width_px, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/kiosk/demo?paper={paper}")
        take_ticket(page, ["register", "photo"])
        page.wait_for_function("document.querySelector('.t-qr').complete")
        page.emulate_media(media="print")
        page.screenshot(path=str(artifacts / f"ticket-{paper}mm-print.png"), full_page=True)
        box = page.evaluate(
            """() => {
                const t = document.querySelector('.ticket').getBoundingClientRect();
                const inside = [...document.querySelectorAll('.ticket *')].filter(e => {
                    const r = e.getBoundingClientRect();
                    return r.width > 0 && (r.left < t.left - 0.5 || r.right > t.right + 0.5);
                }).map(e => e.className || e.tagName);
                const shown = [...document.querySelectorAll('header, #print, #done, .issue')]
                    .filter(e => e.getBoundingClientRect().height > 0).map(e => e.id || e.className);
                return {width: t.width, overflow: inside, shown,
                        scroll: document.documentElement.scrollWidth, qr: document.querySelector('.t-qr')
                            .getBoundingClientRect().width};
            }"""
        )
        assert box["width"] <= printable_mm * MM + 1
        assert box["overflow"] == []
        assert box["shown"] == []  # only the ticket prints
        assert box["scroll"] <= width_px
        assert box["qr"] >= 25 * MM  # big enough to scan from paper
        pdf = page.pdf(prefer_css_page_size=True)
        media_box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", pdf)
        assert media_box is not None
        assert abs(float(media_box.group(1)) - int(paper) / 25.4 * 72) < 1.5  # the @page width in pt
        assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) == 1  # one ticket, one page
    finally:
        context.close()


def test_plain_browser_print_shows_only_the_ticket(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 800, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/kiosk/demo")
        take_ticket(page, ["pension"])
        page.emulate_media(media="print")
        assert page.is_hidden("header") and page.is_hidden("#done")
        assert page.is_visible(".ticket .t-number")
        assert page.evaluate("document.querySelector('.ticket').getBoundingClientRect().width") <= 90 * MM + 1
    finally:
        context.close()


# --- phone layout, messages, timeouts, languages -------------------------------------------------------


def test_pages_fit_a_360_px_phone_with_large_targets(live_server: LiveServer, phone: Any, artifacts: Path) -> None:
    base = live_server.url
    phone.goto(f"{base}/kiosk/demo")
    phone.wait_for_selector("[data-service='register']")
    phone.click(".issue-id > summary")
    assert no_horizontal_scroll(phone) and small_targets(phone) == []
    phone.screenshot(path=str(artifacts / "kiosk-360.png"), full_page=True)
    phone.click(".issue-id > summary")
    ticket = take_ticket(phone, ["register", "transfer", "pension", "photo"])
    assert no_horizontal_scroll(phone) and small_targets(phone) == []

    phone.goto(ticket["url"])
    phone.wait_for_selector("#view:not([hidden])")
    assert no_horizontal_scroll(phone) and small_targets(phone) == []
    phone.screenshot(path=str(artifacts / "visitor-360.png"), full_page=True)

    phone.goto(f"{base}/desk/demo")
    phone.wait_for_selector("#login:not([hidden])")
    assert no_horizontal_scroll(phone) and small_targets(phone) == []
    phone.fill("#login-staff", "desk")
    phone.fill("#login-pin", "1234")
    phone.click("#login button[type=submit]")
    phone.wait_for_selector("#desk:not([hidden]) #queue tbody tr")
    assert no_horizontal_scroll(phone) and small_targets(phone) == []
    phone.screenshot(path=str(artifacts / "desk-360.png"), full_page=True)
    assert phone.errors == []


def test_duplicate_ticket_is_refused_without_naming_the_open_ticket(
    browser: Any, live_server: LiveServer, phone: Any
) -> None:
    first = live_server.issue(["register"], id_number="110101199003074514")["ticket"]
    phone.goto(f"{live_server.url}/kiosk/demo")
    phone.wait_for_selector("[data-service='register']")
    phone.click("[data-service='register']")
    phone.click(".issue-id > summary")
    # The on-screen keypad types the number (a kiosk has no keyboard), shown masked as typed.
    seen = []
    for ch in "110101199003074514":
        phone.click(f".issue-keypad .issue-key >> text='{ch}'")
        seen.append(phone.input_value("[data-id-number]"))
    assert seen[-1] == "1101**********4514"
    assert all("1990" not in shown for shown in seen)  # the birth date never shows
    phone.click("[data-submit]")
    phone.wait_for_function("document.querySelector('[data-issue-message]').textContent !== ''")
    message = phone.inner_text("[data-issue-message]")
    assert "您已有一张未办结的号" in message and first["number"] not in message
    assert phone.is_hidden("#ticket")
    # The anonymous answer names no ticket and carries no token …
    status, body = live_server.request(
        "POST", "/api/halls/demo/tickets", {"services": ["register"], "id_number": "110101199003074514"}
    )
    assert status == 409 and body["error"]["code"] == "duplicate_ticket"
    assert first["number"] not in str(body) and first["token"] not in str(body)
    # … while the desk, logged in, may find the holder's ticket by the ID number.
    desk = live_server.login("desk", "1234")
    status, found = live_server.request(
        "POST", "/api/halls/demo/tickets/by-id", {"id_number": "110101199003074514"}, token=desk
    )
    assert status == 200 and [t["ticket"]["number"] for t in found["tickets"]] == [first["number"]]
    assert live_server.request("POST", "/api/halls/demo/tickets/by-id", {"id_number": "110101199003074514"})[0] == 401
    # A mistyped ID number is caught before asking the server.
    phone.fill("[data-id-number]", "1234")
    phone.click("[data-submit]")
    assert "15 或 18 位" in phone.inner_text("[data-issue-message]")


def test_desk_finds_tickets_by_short_number_and_by_id_number(browser: Any, live_server: LiveServer) -> None:
    first = live_server.issue(["register"], id_number="11010119900307451X")["ticket"]["number"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/desk/demo")
        page.fill("#login-staff", "desk")
        page.fill("#login-pin", "1234")
        page.click("#login button[type=submit]")
        page.wait_for_selector("#desk:not([hidden])")
        page.fill("#find-number", "a1")  # the short form the docs promise: a1 → A001
        page.click("#find button[type=submit]")
        page.wait_for_selector("#find-result:not([hidden])")
        assert page.inner_text("#found-number").startswith(first) and page.input_value("#find-number") == first
        page.reload()
        page.wait_for_selector("#desk:not([hidden])")
        page.type("#find-id-number", "11010119900307451x")
        assert page.input_value("#find-id-number") == "1101**********451X"
        page.click("#find-id button[type=submit]")
        page.wait_for_selector(f"#find-id-result [data-found-number='{first}']")
        page.wait_for_selector("#find-result:not([hidden])")
        assert page.inner_text("#found-number").startswith(first)
    finally:
        context.close()


def test_priority_lane_needs_a_confirmation(live_server: LiveServer, phone: Any) -> None:
    phone.goto(f"{live_server.url}/kiosk/demo")
    phone.click("[data-service='pension']")
    phone.click("[data-priority]")
    phone.click(".hq-dialog [data-answer='no']")
    assert phone.get_attribute("[data-priority]", "aria-pressed") == "false"
    phone.click("[data-priority]")
    assert "绿色通道" in phone.inner_text(".hq-dialog")
    phone.click(".hq-dialog [data-answer='yes']")
    assert phone.get_attribute("[data-priority]", "aria-pressed") == "true"
    take_ticket(phone, [])
    assert phone.is_visible(".t-priority")
    token = token_of(phone.inner_text(".t-url"))
    status, answer = live_server.request("GET", f"/api/tickets/{token}")
    assert status == 200 and answer["ticket"]["priority"] is True


def test_kiosk_returns_to_the_start_screen_by_itself(live_server: LiveServer, phone: Any) -> None:
    phone.goto(f"{live_server.url}/kiosk/demo?timeout=5")
    take_ticket(phone, ["photo"])
    assert "秒后返回首页" in phone.inner_text("#countdown")
    phone.wait_for_selector("#start:not([hidden])", timeout=8000)
    assert phone.get_attribute("[data-service='photo']", "aria-pressed") == "false"
    assert phone.is_hidden("#ticket")


def test_language_switch_and_the_phone_follows_the_kiosk_language(
    browser: Any, live_server: LiveServer, phone: Any
) -> None:
    phone.goto(f"{live_server.url}/kiosk/demo")
    phone.click("[data-lang-switch]")
    assert phone.evaluate("document.documentElement.lang") == "en"
    assert phone.inner_text(".issue-title") == "Choose your service"
    assert "Insurance registration" in phone.inner_text("[data-service='register']")
    ticket = take_ticket(phone, ["register"])
    # A new visitor's phone shows the ticket in the language chosen at the kiosk.
    context = browser.new_context(viewport=PHONE)
    try:
        visitor = context.new_page()
        visitor.goto(ticket["url"])
        visitor.wait_for_selector("#view:not([hidden])")
        visitor.wait_for_function("document.documentElement.lang === 'en'")
        assert "ahead" in visitor.inner_text("#ahead") or "next" in visitor.inner_text("#ahead")
        visitor.click("[data-lang-switch]")
        assert "前面" in visitor.inner_text("#ahead") or "下一位" in visitor.inner_text("#ahead")
    finally:
        context.close()


@pytest.fixture
def closed_hall(tmp_path: Path) -> str:
    """The demo hall with its ticket cutoff at midnight: issuing is closed all day."""
    text = (package_dir("server", "") / "demo_hall.toml").read_text(encoding="utf-8")
    path = tmp_path / "closed.toml"
    path.write_text(text.replace('ticket_cutoff = "23:59"', 'ticket_cutoff = "00:00"'), encoding="utf-8")
    return str(path)


def test_kiosk_says_issuing_has_closed(live_server_factory: Any, closed_hall: str, phone: Any) -> None:
    server = live_server_factory(config=closed_hall)
    phone.goto(f"{server.url}/kiosk/demo")
    phone.wait_for_selector("#closed:not([hidden])", timeout=TIMEOUT_MS)
    assert phone.inner_text("#closed h2") == "已停止取号"
    phone.click("[data-lang-switch]")
    assert phone.inner_text("#closed h2") == "Ticket issuing has closed for today"
    assert phone.is_hidden("#start")


# --- the visitor's side paths ----------------------------------------------------------------------------


def test_visitor_sees_suspension_done_rating_and_cancel(live_server: LiveServer, phone: Any) -> None:
    answer = live_server.issue(["register"])
    token, number = answer["ticket"]["token"], answer["ticket"]["number"]
    clerk = live_server.login("s01")
    phone.goto(f"{live_server.url}/t/{token}")
    phone.wait_for_selector("#ahead[data-ahead='0']")
    assert phone.is_visible("#cancel")

    assert live_server.act(clerk, "1", "call_next")[0] == 200
    phone.wait_for_selector("#callout:not([hidden])[data-window='1']")
    assert phone.is_hidden("#cancel")
    assert live_server.act(clerk, "1", "suspend")[0] == 200
    phone.wait_for_function("document.body.dataset.status === 'suspended'")
    assert "1号窗口" in phone.inner_text("#notice") and "无需重新取号" in phone.inner_text("#notice")
    # Back with the documents: the clerk resumes the ticket and serves it at once.
    assert live_server.act(clerk, "1", "resume", ticket=number)[0] == 200
    phone.wait_for_function("document.body.dataset.status === 'serving'")
    assert phone.is_hidden("#notice")
    assert "办理" in phone.inner_text("#callout")
    assert live_server.act(clerk, "1", "complete")[0] == 200
    phone.wait_for_selector("#rate:not([hidden])")
    # Done is a calm final state: a thank-you and the rating, no alert box, no sound to turn on.
    assert phone.is_visible("#done") and "感谢" in phone.inner_text("#done")
    assert phone.is_hidden("#notice") and phone.is_hidden("#sound")
    phone.click("#rate [data-score='5']")
    phone.click(".hq-dialog [data-answer='yes']")  # a rating is confirmed before it is sent
    phone.wait_for_function("document.querySelector('#rate-message').textContent.includes('感谢')")
    assert phone.get_attribute("#rate [data-score='5']", "aria-pressed") == "true"
    assert live_server.request("POST", f"/api/tickets/{token}/rating", {"score": 3})[0] == 409  # once

    # Another ticket: the visitor gives up and cancels it, after a confirmation.
    other = live_server.issue(["photo"])["ticket"]["token"]
    phone.goto(f"{live_server.url}/t/{other}")
    phone.wait_for_selector("#cancel:not([hidden])")
    phone.click("#cancel")
    phone.click(".hq-dialog [data-answer='no']")
    assert live_server.request("GET", f"/api/tickets/{other}")[1]["ticket"]["status"] == "waiting"
    phone.click("#cancel")
    phone.click(".hq-dialog [data-answer='yes']")
    phone.wait_for_function("document.body.dataset.status === 'cancelled'")
    assert "已取消" in phone.inner_text("#notice")
    assert phone.errors == []


def test_visitor_is_told_about_a_missed_call(live_server_factory: Any, phone: Any, tmp_path: Path) -> None:
    # A no-show is allowed 1 s after the call here (15 s in the bundled file).
    live_server: LiveServer = live_server_factory(config=no_show_hall(tmp_path, 1))
    answer = live_server.issue(["register"])
    for _ in range(4):
        live_server.issue(["register"])
    phone.goto(f"{live_server.url}/t/{answer['ticket']['token']}")
    phone.wait_for_selector("#ahead[data-ahead='0']")
    clerk = live_server.login("s01")
    assert live_server.act(clerk, "1", "call_next")[0] == 200
    phone.wait_for_selector("#callout:not([hidden])")
    deadline = time.monotonic() + 10
    while True:  # refused (too_early) until 1 s after the call
        status, body = live_server.act(clerk, "1", "no_show")
        if status != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200, body
    phone.wait_for_function("document.body.dataset.status === 'waiting'")
    assert "顺延" in phone.inner_text("#notice")
    assert int(phone.get_attribute("#ahead", "data-ahead") or "0") >= 1


def test_visitor_is_told_about_a_transfer(live_server: LiveServer, phone: Any) -> None:
    answer = live_server.issue(["register"])
    clerk = live_server.login("s01")
    phone.goto(f"{live_server.url}/t/{answer['ticket']['token']}")
    phone.wait_for_selector("#ahead[data-ahead='0']")
    assert live_server.act(clerk, "1", "call_next")[0] == 200
    phone.wait_for_selector("#callout:not([hidden])")
    assert live_server.act(clerk, "1", "transfer", service="photo")[0] == 200
    phone.wait_for_function("document.body.dataset.status === 'waiting'")
    notice = phone.inner_text("#notice")
    assert "照片采集" in notice and "无需重新取号" in notice
    # Opening the page afresh still says so (the ticket is marked as transferred).
    phone.reload()
    phone.wait_for_selector("#view:not([hidden])")
    assert "照片采集" in phone.inner_text("#notice")
    # In English, the service is named in English too.
    phone.click("[data-lang-switch]")
    assert "Photo capture" in phone.inner_text("#notice")
    assert not re.search(r"[\u4e00-\u9fff]", phone.inner_text("#notice"))


def test_unknown_ticket_gets_a_clear_page(live_server: LiveServer, phone: Any) -> None:
    response = phone.goto(f"{live_server.url}/t/demo.no-such-ticket-token")
    assert response is not None and response.status == 404
    assert phone.is_visible("#missing")
    assert phone.inner_text("#missing h2") == "未找到这张号"
    assert phone.is_hidden("#view")
    phone.click("[data-lang-switch]")
    assert phone.inner_text("#missing h2") == "Ticket not found"
    assert no_horizontal_scroll(phone)
    assert phone.errors == []


# --- details a hall notices ---------------------------------------------------------------------


def test_a_lost_answer_is_retried_with_the_same_request_id_and_makes_no_ghost_ticket(
    live_server: LiveServer, phone: Any
) -> None:
    bodies: list[dict[str, Any]] = []

    def lose_first_answer(route: Any) -> None:
        bodies.append(json.loads(route.request.post_data or "{}"))
        if len(bodies) == 1:
            route.fetch()  # the server issues the ticket …
            route.abort("connectionreset")  # … and the answer never reaches the kiosk
        else:
            route.continue_()

    phone.route("**/api/halls/demo/tickets", lose_first_answer)
    phone.goto(f"{live_server.url}/kiosk/demo")
    ticket = take_ticket(phone, ["register"])
    assert len(bodies) == 2 and bodies[0]["request_id"] == bodies[1]["request_id"]
    _, state = live_server.request("GET", "/api/halls/demo/state")
    assert state["waiting"]["register"] == 1  # one ticket, not two
    assert ticket["number"] == "A001"
    # the next visitor's tap is a new action with a new id
    phone.click("#done")
    take_ticket(phone, ["register"])
    assert len(bodies) == 3 and bodies[2]["request_id"] != bodies[0]["request_id"]


def test_the_ticket_shows_the_halls_time_not_the_browsers(browser: Any, live_server: LiveServer) -> None:
    # A kiosk PC left on New York time, in a hall in Asia/Shanghai.
    context = browser.new_context(viewport=PHONE, timezone_id="America/New_York")
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/kiosk/demo")
        take_ticket(page, ["photo"])
        issued_ms = int(page.get_attribute(".t-time", "data-issued-at") or "0")
        hall_clock = datetime.fromtimestamp(issued_ms / 1000, ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
        assert page.inner_text(".t-time") == hall_clock
        browser_clock = datetime.fromtimestamp(issued_ms / 1000, ZoneInfo("America/New_York")).strftime("%H:%M")
        assert browser_clock not in page.inner_text(".t-time")
    finally:
        context.close()


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080)])
def test_kiosk_is_a_touch_layout_that_fills_the_screen(
    browser: Any, live_server: LiveServer, artifacts: Path, size: tuple[int, int]
) -> None:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/kiosk/demo")
        page.wait_for_selector("[data-service='register']")
        targets = page.eval_on_selector_all(
            "button, summary",
            """els => els.filter(e => e.offsetParent !== null)
                .map(e => [e.textContent.trim(), e.getBoundingClientRect().width, e.getBoundingClientRect().height])""",
        )
        assert targets and [t for t in targets if t[1] < 64 or t[2] < 64] == []
        # the services use the screen, not its top third; text is readable from a step back
        bottom = page.evaluate("document.querySelector('[data-submit]').getBoundingClientRect().bottom")
        assert bottom >= 0.9 * size[1]
        services = page.evaluate(
            "Math.max(...[...document.querySelectorAll('[data-service]')].map(b => b.getBoundingClientRect().bottom))"
        )
        assert services >= 0.5 * size[1]
        font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.issue-name')).fontSize)")
        assert font >= 32
        page.screenshot(path=str(artifacts / f"kiosk-{size[0]}x{size[1]}.png"))
        # large text for elderly visitors: a toggle, everything bigger, and 取号 still in reach
        page.click("#big-text")
        big = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.issue-name')).fontSize)")
        assert big >= 1.3 * font and page.get_attribute("#big-text", "aria-pressed") == "true"
        assert page.evaluate("document.querySelector('[data-submit]').getBoundingClientRect().bottom") <= size[1]
        assert no_horizontal_scroll(page)
        page.screenshot(path=str(artifacts / f"kiosk-{size[0]}x{size[1]}-large-text.png"))
        # the next visitor starts with normal text
        take_ticket(page, ["photo"])
        page.click("#done")
        assert page.get_attribute("#big-text", "aria-pressed") == "false"
    finally:
        context.close()
