"""The clerk pad page (/pad/{hall}) in real headless Chromium against a real server.

Checked: the pure button/key rules (in the browser, and that they agree with caller/padlogic.py),
buttons enabled only when their action is possible, every action's outcome, the numeric-keypad
mapping, live waiting and served counts, a double tap calling one visitor, a dropped connection
retried with the same request_id acting once, logout closing the window, and the phone layout.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from caller.padlogic import KEYMAP_PATH, parse_ticket_code, parse_transfer_code
from tests.live import LiveServer
from tests.test_keypad import CutProxy, calls_of, window_of

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_MS = 10_000


@pytest.fixture
def cut_proxy(live_server: LiveServer) -> Iterator[CutProxy]:
    proxy = CutProxy(live_server.port)
    proxy.start()
    yield proxy
    proxy.stop()


def open_pad(browser: Any, base: str, staff: str, window: str, viewport: tuple[int, int] = (1024, 768)) -> Any:
    """A fresh context with the pad logged in as ``staff`` at ``window``, connected and idle."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(f"{base}/pad/demo")
    page.fill("#login-staff", staff)
    page.fill("#login-pin", "1234")
    page.click("#login button[type=submit]")
    page.click(f"#window-list [data-window='{window}']")
    # Connected, the window opened by the pad, nothing in flight.
    page.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)
    page.wait_for_function("document.body.dataset.pending === ''", timeout=TIMEOUT_MS)
    return page


def enabled(page: Any) -> set[str]:
    return set(
        page.eval_on_selector_all(
            "#actions [data-action]", "els => els.filter(b => !b.disabled).map(b => b.dataset.action)"
        )
    )


def settle(page: Any) -> None:
    """Wait until no action is in flight."""
    page.wait_for_function("document.body.dataset.pending === ''", timeout=TIMEOUT_MS)


def shows_in_hand(page: Any, number: str) -> bool:
    """Whether the pad comes to show ``number`` in hand (waiting for the window state that
    follows an answer)."""
    try:
        page.wait_for_function(
            "n => document.querySelector('#cur-number').textContent === n", arg=number, timeout=TIMEOUT_MS
        )
    except Exception:  # noqa: BLE001 — Playwright's timeout: the pad never showed it
        return False
    return True


def press(page: Any, action: str) -> None:
    page.click(f"#actions [data-action='{action}']")
    settle(page)


# --- pure rules in the browser ----------------------------------------------------------------------


def test_pad_rules_in_the_browser_agree_with_the_keypad(browser: Any) -> None:
    page = browser.new_page()
    try:
        page.set_content("<!doctype html><title>rules</title>")
        page.add_script_tag(path=str(ROOT / "kiosk/static/hq.js"))
        page.add_script_tag(path=str(ROOT / "caller/static/padlogic.js"))
        keymap = json.loads(KEYMAP_PATH.read_text(encoding="utf-8"))
        allowed = page.evaluate(
            """() => ({
                idle: HQPad.allowedActions('idle', null),
                calling: HQPad.allowedActions('calling', 'called'),
                serving: HQPad.allowedActions('serving', 'serving'),
                paused: HQPad.allowedActions('paused', null),
            })"""
        )
        on = {k: {a for a, ok in v.items() if ok} for k, v in allowed.items()}
        assert on["idle"] == {"call_next", "call", "resume", "pause"}
        assert on["calling"] == {
            "call_next",
            "recall",
            "no_show",
            "start",
            "complete",
            "transfer",
            "call",
            "suspend",
            "resume",
            "pause",
        }
        assert on["serving"] == {"call_next", "complete", "transfer", "call", "suspend", "resume", "pause"}
        assert on["paused"] == {"unpause"}

        keys = page.evaluate(
            """(km) => [
                ['Enter', 'Enter'], ['Enter', 'NumpadEnter'], ['+', 'NumpadAdd'], ['.', 'NumpadDecimal'],
                ['Delete', 'NumpadDecimal'], ['0', 'Numpad0'], ['End', 'Numpad1'], ['2', 'Digit2'],
                ['x', 'KeyX'],
            ].map(([k, c]) => HQPad.keyAction(km, k, c))""",
            keymap,
        )
        assert keys == ["call_next", "call_next", "call_next", "recall", "recall", "no_show", "start", "complete", None]

        prefixes = ["A", "B", "C", "D"]
        codes = ["A12", "d007", "1012", "45", "5012", "Z001", "A0123", "", "4", "b1"]
        js = page.evaluate("([codes, p]) => codes.map(c => HQPad.parseTicketCode(c, p))", [codes, prefixes])
        assert js == [parse_ticket_code(c, prefixes) for c in codes]
        services, windows = ["register", "transfer", "pension", "photo"], ["2", "3", "5"]
        targets = ["photo", "2", "05", "01", "9", "0", ""]
        js = page.evaluate("([t, s, w]) => t.map(c => HQPad.parseTransferCode(c, s, w))", [targets, services, windows])
        assert js == [parse_transfer_code(c, services, windows) for c in targets]

        # about:blank is not a secure context, like a pad on plain http:// in a LAN:
        # crypto.randomUUID is missing there and request ids come from getRandomValues.
        ids = page.evaluate("() => [typeof crypto.randomUUID, ...Array.from({length: 50}, () => HQ.requestId())]")
        assert ids[0] == "undefined"
        assert len(set(ids[1:])) == 50
        assert all(len(i) == 36 and i[14] == "4" for i in ids[1:])
    finally:
        page.close()


# --- live ----------------------------------------------------------------------------------------------


def test_pad_drives_a_window_and_disables_impossible_actions(browser: Any, live_server: LiveServer) -> None:
    a1 = live_server.issue(["register"])["ticket"]["number"]
    a2 = live_server.issue(["register"])["ticket"]["number"]
    page = open_pad(browser, live_server.url, "s01", "1")
    try:
        assert page.inner_text("#waiting-total") == "2"
        assert enabled(page) == {"call_next", "call", "resume", "pause"}

        press(page, "call_next")
        assert shows_in_hand(page, a1)
        assert a1 in page.inner_text("#outcome")
        assert window_of(live_server, "1")["ticket"]["number"] == a1
        assert {"recall", "no_show", "start", "complete", "transfer", "suspend"} <= enabled(page)
        assert page.inner_text("#waiting-total") == "1"
        page.wait_for_function("document.querySelector('#cur-since').textContent.includes('0:0')")

        press(page, "recall")
        assert "重呼" in page.inner_text("#outcome")
        _, state = live_server.request("GET", "/api/halls/demo/state")
        assert state["recent"][0]["type"] == "ticket.recalled"

        press(page, "start")
        page.wait_for_selector("#win-status[data-status='serving']")
        assert "recall" not in enabled(page) and "start" not in enabled(page)
        assert "complete" in enabled(page)

        # A visitor takes a ticket elsewhere: this window's waiting count follows.
        live_server.issue(["photo"])
        page.wait_for_function("document.querySelector('#waiting-total').textContent === '2'", timeout=2000)

        press(page, "complete")
        page.wait_for_function("document.querySelector('#served').textContent === '1'", timeout=2000)
        page.wait_for_function("document.body.dataset.callWait === '0'", timeout=TIMEOUT_MS)  # the pause after a call
        assert enabled(page) == {"call_next", "call", "resume", "pause"}

        press(page, "pause")
        page.wait_for_selector("#win-status[data-status='paused']")
        assert enabled(page) == {"unpause"}
        assert window_of(live_server, "1")["status"] == "paused"
        press(page, "unpause")
        page.wait_for_selector("#win-status[data-status='idle']")

        # The numeric keypad: + calls the next visitor, . recalls (NumLock on or off) — once the
        # pause between two calls of a window has passed.
        page.wait_for_function("document.body.dataset.callWait === '0'", timeout=TIMEOUT_MS)
        page.keyboard.press("NumpadAdd")
        page.wait_for_function(f"document.querySelector('#cur-number').textContent === '{a2}'", timeout=TIMEOUT_MS)
        settle(page)
        page.keyboard.press("NumpadDecimal")
        settle(page)
        _, state = live_server.request("GET", "/api/halls/demo/state")
        assert state["recent"][0]["type"] == "ticket.recalled" and state["recent"][0]["ticket"]["number"] == a2

        # 3 = transfer: the prompt takes the service position (4 = photo) and Enter.
        page.keyboard.press("Numpad3")
        page.wait_for_selector("#dlg-transfer[open]")
        page.keyboard.type("4")
        page.keyboard.press("Enter")
        settle(page)
        assert a2 in page.inner_text("#outcome")
        status, found = live_server.request(
            "GET", f"/api/halls/demo/tickets?number={a2}", token=live_server.login("desk", "1234")
        )
        assert status == 200 and found["ticket"]["services"] == ["photo"]
        assert found["ticket"]["status"] == "waiting"

        # 4 = call a number; a typed number that is not a ticket is refused before sending.
        page.keyboard.press("4")
        page.wait_for_selector("#dlg-number[open]")
        page.keyboard.type("9999")
        page.keyboard.press("Enter")
        assert page.inner_text("#number-message") != ""
        page.keyboard.press("NumpadSubtract")  # the keypad's "-" cancels
        page.wait_for_function("!document.querySelector('#dlg-number').open")
        assert page.errors == []
    finally:
        page.context.close()


def test_double_tap_on_call_next_calls_one_visitor(browser: Any, live_server_factory: Any) -> None:
    live_server = live_server_factory(min_call_interval_s=None)  # the server's guard too (demo: 3 s)
    a1 = live_server.issue(["register"])["ticket"]["number"]
    a2 = live_server.issue(["register"])["ticket"]["number"]
    page = open_pad(browser, live_server.url, "s02", "2")
    try:
        page.dblclick("#actions [data-action='call_next']")
        settle(page)
        page.wait_for_timeout(1000)  # room for a second call, were one sent
        assert shows_in_hand(page, a1)
        assert calls_of(live_server, a1) == 1
        assert calls_of(live_server, a2) == 0
        _, state = live_server.request("GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == 1
        assert [w["ticket"]["number"] for w in state["windows"] if w["ticket"]] == [a1]
    finally:
        page.context.close()


def test_dropped_connection_is_retried_with_the_same_request_id(
    browser: Any, live_server: LiveServer, cut_proxy: CutProxy
) -> None:
    a1 = live_server.issue(["register"])["ticket"]["number"]
    a2 = live_server.issue(["register"])["ticket"]["number"]
    page = open_pad(browser, cut_proxy.url, "s03", "3")
    try:
        cut_proxy.arm()
        page.click("#actions [data-action='call_next']")
        # The answer is lost and the socket cut; the pad reconnects and resends.
        page.wait_for_function(f"document.querySelector('#cur-number').textContent === '{a1}'", timeout=TIMEOUT_MS)
        settle(page)
        assert cut_proxy.cuts == 1
        sent = cut_proxy.actions("call_next")
        assert len(sent) == 2 and sent[0]["request_id"] == sent[1]["request_id"]
        assert calls_of(live_server, a1) == 1 and calls_of(live_server, a2) == 0
        assert window_of(live_server, "3")["ticket"]["number"] == a1
        assert a1 in page.inner_text("#outcome")
    finally:
        page.context.close()


def test_logout_closes_the_window_and_ends_the_session(browser: Any, live_server: LiveServer) -> None:
    live_server.issue(["register"])
    page = open_pad(browser, live_server.url, "s04", "4")
    try:
        token = json.loads(page.evaluate("sessionStorage.getItem('hallq.pad.demo')"))["token"]
        press(page, "call_next")
        # A window with a ticket in hand cannot close: the pad says so and stays.
        page.click("#logout")
        page.click(".hq-dialog [data-answer='yes']")
        page.wait_for_function("document.querySelector('#outcome').classList.contains('hq-error')")
        assert not page.is_hidden("#pad")
        press(page, "complete")
        page.click("#logout")
        page.click(".hq-dialog [data-answer='yes']")
        page.wait_for_selector("#login:not([hidden])", timeout=TIMEOUT_MS)
        assert window_of(live_server, "4")["status"] == "closed"
        status, _ = live_server.request("GET", "/api/auth/me", token=token)
        assert status == 401
        assert page.evaluate("sessionStorage.getItem('hallq.pad.demo')") is None
    finally:
        page.context.close()


def test_pad_fits_a_phone(browser: Any, live_server: LiveServer, artifacts: Path) -> None:
    live_server.issue(["register"])
    page = open_pad(browser, live_server.url, "s05", "5", viewport=(360, 640))
    try:
        press(page, "call_next")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        small = page.eval_on_selector_all(
            "button:not([hidden])",
            """els => els.filter(e => e.offsetParent !== null)
                .map(e => [e.textContent.trim(), e.getBoundingClientRect()])
                .filter(([, r]) => r.width < 48 || r.height < 48)""",
        )
        assert small == []
        page.screenshot(path=str(artifacts / "pad-360x640.png"), full_page=True)
    finally:
        page.context.close()


def test_pad_login_errors_are_clear(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 640})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/pad/demo")
        page.fill("#login-staff", "s01")
        page.fill("#login-pin", "9999")
        started = time.monotonic()
        page.click("#login button[type=submit]")
        page.wait_for_function("document.querySelector('#login-message').textContent !== ''")
        assert time.monotonic() - started < 5
        assert "密码" in page.inner_text("#login-message")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        # The desk account may not drive a window: said at once, not after a refused socket.
        page.fill("#login-staff", "desk")
        page.fill("#login-pin", "1234")
        page.click("#login button[type=submit]")
        page.wait_for_function("document.querySelector('#login-message').textContent.includes('叫号器')")
        assert page.is_hidden("#choose")
    finally:
        context.close()


# --- points 2 and 6 of issue 9: a double tap, and the queue the clerk works on ------------------------


def tap(page: Any, selector: str) -> None:
    """A real tap at the element's centre: no waiting for it to be enabled, as a finger does not wait."""
    box = page.locator(selector).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@pytest.mark.parametrize("gap_ms", [150, 400])
def test_two_taps_150_to_400_ms_apart_call_one_visitor(browser: Any, live_server: LiveServer, gap_ms: int) -> None:
    a1 = live_server.issue(["register"])["ticket"]["number"]
    a2 = live_server.issue(["register"])["ticket"]["number"]
    page = open_pad(browser, live_server.url, "s02", "2")
    try:
        tap(page, "#actions [data-action='call_next']")
        page.wait_for_timeout(gap_ms)
        tap(page, "#actions [data-action='call_next']")
        page.wait_for_timeout(600)  # room for a second call, were one sent
        settle(page)
        assert calls_of(live_server, a1) == 1 and calls_of(live_server, a2) == 0
        assert shows_in_hand(page, a1)
        # The pad says why the 叫号 button rests, with a countdown, and then gives it back.
        assert page.is_visible("#call-wait") and "秒后可再叫" in page.inner_text("#call-wait")
        assert "call_next" not in enabled(page)
        page.keyboard.press("NumpadAdd")  # the keypad's + during the pause: ignored, with a reason
        assert "请勿连按" in page.inner_text("#outcome")
        page.wait_for_function("document.body.dataset.callWait === '0'", timeout=TIMEOUT_MS)
        assert page.is_hidden("#call-wait") and "call_next" in enabled(page)
        assert calls_of(live_server, a2) == 0
        press(page, "call_next")
        assert shows_in_hand(page, a2) and calls_of(live_server, a2) == 1
        # a just_called refusal from the server reads from the catalogue, in the page's language
        text = page.evaluate("HQ.refusalText({code: 'just_called', message: 'called 1 s ago'})")
        assert text == "刚刚叫过号，请稍候再叫"
        assert page.errors == []
    finally:
        page.context.close()


def test_pad_lists_the_numbers_it_can_call_and_counts_a_combined_ticket_once(
    browser: Any, live_server: LiveServer
) -> None:
    numbers = [live_server.issue(["register"])["ticket"]["number"] for _ in range(3)]
    combo = live_server.issue(["register", "transfer"])["ticket"]["number"]
    photo = live_server.issue(["photo"])["ticket"]["number"]
    page = open_pad(browser, live_server.url, "s01", "1")
    try:
        listed = page.eval_on_selector_all("#queue-list [data-queue-number]", "els => els.map(e => e.textContent)")
        assert listed == [*numbers, combo, photo]
        assert page.inner_text("#waiting-total") == "5"  # not 6: the combined ticket is one visitor
        # A ticket issued elsewhere appears at once, in its place.
        priority = live_server.issue(["pension"], priority=True)["ticket"]["number"]
        page.wait_for_function(
            f"document.querySelector('#queue-list [data-queue-number]').textContent === '{priority}'", timeout=3000
        )
        assert page.inner_text("#waiting-total") == "6"
        # Tapping a number fills 特呼 with it; confirming calls exactly that visitor.
        page.click(f"#queue-list [data-queue-number='{combo}']")
        page.wait_for_selector("#dlg-number[open]")
        assert page.input_value("#number-input") == combo
        page.click("#form-number button[type=submit]")
        settle(page)
        assert shows_in_hand(page, combo) and calls_of(live_server, combo) == 1
        page.wait_for_function(f"!document.querySelector(\"#queue-list [data-queue-number='{combo}']\")")
        # Suspended: listed for 恢复, and a tap fills the resume prompt.
        press(page, "suspend")
        page.wait_for_selector(f"#suspended-list [data-suspended-number='{combo}']")
        page.click(f"#suspended-list [data-suspended-number='{combo}']")
        page.wait_for_selector("#dlg-number[open]")
        assert page.input_value("#number-input") == combo
        page.click("#form-number button[type=submit]")
        settle(page)
        assert window_of(live_server, "1")["ticket"]["number"] == combo
        page.wait_for_selector("#suspended-box", state="hidden")
        # a short number typed by hand is accepted: c1 → C001
        press(page, "complete")
        page.click("#actions [data-action='call']")
        page.fill("#number-input", priority.lower().replace("00", ""))
        page.click("#form-number button[type=submit]")
        settle(page)
        assert shows_in_hand(page, priority)
        assert page.errors == []
    finally:
        page.context.close()


def test_a_tap_on_a_number_lands_while_the_hall_moves_under_the_finger(browser: Any, live_server: LiveServer) -> None:
    """The lists are drawn again at every event of the hall: a number pressed as a ticket is
    issued elsewhere, and released after the list shows it, still opens 特呼 with that number
    (the button was replaced under the finger, and the tap did nothing)."""
    numbers = [live_server.issue(["register"])["ticket"]["number"] for _ in range(2)]
    page = open_pad(browser, live_server.url, "s01", "1")
    try:
        button = page.locator(f"#queue-list [data-queue-number='{numbers[1]}']")
        box = button.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        later = live_server.issue(["register"])["ticket"]["number"]  # the hall moves meanwhile
        page.wait_for_selector(f"#queue-list [data-queue-number='{later}']")
        page.mouse.up()
        page.wait_for_selector("#dlg-number[open]", timeout=3000)
        assert page.input_value("#number-input") == numbers[1]
        assert page.errors == []
    finally:
        page.context.close()


def test_a_transfer_never_strands_a_ticket_at_a_closed_window(browser: Any, live_server: LiveServer) -> None:
    """Issue 9, point 3, as a clerk meets it: a transfer to window 5 while nobody is there is
    refused on the pad with the open windows named, the visitor stays in hand; once window 5
    is open the transfer goes through; when window 5 pauses, the ticket returns to its line and
    特呼 of it works at window 1."""
    d1 = live_server.issue(["photo"])["ticket"]["number"]
    page = open_pad(browser, live_server.url, "s01", "1")
    try:
        press(page, "call_next")
        assert shows_in_hand(page, d1)

        page.keyboard.press("Numpad3")  # transfer, to window 5 (typed as 05)
        page.wait_for_selector("#dlg-transfer[open]")
        page.keyboard.type("05")
        page.keyboard.press("Enter")
        settle(page)
        outcome = page.inner_text("#outcome")
        assert "5号窗口未开放" in outcome and "window_not_open" not in outcome, outcome
        assert shows_in_hand(page, d1), "a refused transfer leaves the visitor in hand"
        assert window_of(live_server, "1")["ticket"]["number"] == d1

        s05 = live_server.login("s05")
        assert live_server.act(s05, "5", "open")[0] == 200
        page.keyboard.press("Numpad3")
        page.wait_for_selector("#dlg-transfer[open]")
        page.keyboard.type("05")
        page.keyboard.press("Enter")
        settle(page)
        assert window_of(live_server, "1")["ticket"] is None
        desk = live_server.login("desk", "1234")
        _, found = live_server.request("GET", f"/api/halls/demo/tickets?number={d1}", token=desk)
        assert found["ticket"]["to_window"] == "5"

        # window 5 pauses: its reserved visitor goes back to the photo line, callable elsewhere
        assert live_server.act(s05, "5", "pause")[0] == 200
        _, found = live_server.request("GET", f"/api/halls/demo/tickets?number={d1}", token=desk)
        assert found["ticket"]["status"] == "waiting" and "to_window" not in found["ticket"]
        page.wait_for_function("document.body.dataset.callWait === '0'", timeout=TIMEOUT_MS)
        page.keyboard.press("4")  # 特呼
        page.wait_for_selector("#dlg-number[open]")
        page.keyboard.type(d1.lower())
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.querySelector('#cur-number').textContent === '{d1}'", timeout=TIMEOUT_MS)
        assert window_of(live_server, "1")["ticket"]["number"] == d1
        assert page.errors == []
    finally:
        page.context.close()
