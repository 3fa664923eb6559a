"""好差评 follow-up in real Chromium: a bad rating on the phone → a case on the manager page →
verified, rectified, answered on the phone page, called back and closed in time; both rates 100 %."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import LiveServer, admin_login
from tests.test_api import serve_and_complete

TIMEOUT_MS = 10_000


@pytest.fixture
def pages(browser: Any) -> Iterator[tuple[Any, Any]]:
    """A phone-sized page and a desktop page; page errors collected in ``page.errors``."""
    phone_context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True)
    desk_context = browser.new_context(viewport={"width": 1600, "height": 1000})
    made = []
    for context in (phone_context, desk_context):
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda e, p=page: p.errors.append(str(e)))
        made.append(page)
    yield made[0], made[1]
    phone_context.close()
    desk_context.close()


def step(manager: Any, action: str, **fields: str) -> None:
    """Pick case 1 in the list and apply ``action`` through the form."""
    manager.click("#cases-table tr[data-case='1']")
    manager.select_option("#case-action", action)
    for field, value in fields.items():
        if field == "channel":
            manager.select_option("#case-channel", value)
        else:
            manager.fill(f"#case-{field}", value)
    manager.evaluate("document.getElementById('case-status').textContent = ''")
    manager.click("#case-submit")
    manager.wait_for_function("document.getElementById('case-status').textContent !== ''", timeout=TIMEOUT_MS)
    assert manager.inner_text("#case-status") == "已完成", manager.inner_text("#case-status")


def test_a_bad_rating_on_the_phone_is_followed_up_on_the_manager_page(
    live_server: LiveServer, pages: tuple[Any, Any]
) -> None:
    phone, manager = pages
    token = live_server.issue(["register"], id_number="110101199003071234")["ticket"]["token"]
    serve_and_complete(live_server, live_server.login("s01"))

    phone.goto(f"{live_server.url}/t/{token}")
    phone.wait_for_selector("#rate:not([hidden])", timeout=TIMEOUT_MS)
    phone.click("#rate [data-score='1']")
    # a bad score asks what went wrong, and nothing is sent yet
    phone.wait_for_selector("#rate-reasons:not([hidden])")
    assert live_server.request("GET", f"/api/tickets/{token}")[1]["ticket"].get("rating") is None
    phone.check("#rate-reasons input[value='attitude']")
    phone.click("#rate-send")
    phone.click(".hq-dialog [data-answer='no']")  # changed their mind: still nothing sent
    assert live_server.request("GET", f"/api/tickets/{token}")[1]["ticket"].get("rating") is None
    phone.click("#rate-send")
    phone.click(".hq-dialog [data-answer='yes']")
    phone.wait_for_selector("#case-answer:not([hidden])", timeout=TIMEOUT_MS)
    assert "正在核实" in phone.inner_text("#case-answer-text")
    rated = live_server.request("GET", f"/api/tickets/{token}")[1]["ticket"]
    assert rated["rating"] == 1

    admin_login(manager, live_server)
    row = manager.wait_for_selector("#cases-table tr[data-case='1']", timeout=TIMEOUT_MS)
    text = row.inner_text()
    assert "A001" in text and "态度" in text and "是" in text, text  # reasons in words; named
    assert row.get_attribute("data-overdue") == "0" and row.get_attribute("data-status") == "open"
    assert manager.inner_text("#cases-count") == "1"

    # a step out of order is refused with the catalogue's words, and changes nothing
    manager.click("#cases-table tr[data-case='1']")
    manager.select_option("#case-action", "close")
    manager.click("#case-submit")
    manager.wait_for_function("document.getElementById('case-status').textContent !== ''", timeout=TIMEOUT_MS)
    assert "不能进行这一步" in manager.inner_text("#case-status")

    step(manager, "assign", owner="s02")
    step(manager, "verify", note="核实：窗口人员态度生硬")
    step(manager, "rectify", note="已约谈并培训")
    step(manager, "answer", answer="已整改，感谢您的监督", channel="phone_page")
    manager.wait_for_selector("#cases-table tr[data-case='1'][data-status='answered']", timeout=TIMEOUT_MS)
    step(manager, "call_back", note="电话回访，群众满意")
    step(manager, "close")
    manager.wait_for_selector("#cases-empty:not([hidden])", timeout=TIMEOUT_MS)
    manager.wait_for_function("document.getElementById('cases-in-time').textContent === '100 %'", timeout=TIMEOUT_MS)
    assert manager.inner_text("#cases-called-back") == "100 %"

    # the visitor reopens the ticket page and reads the answer
    phone.goto(f"{live_server.url}/t/{token}")
    phone.wait_for_selector("#case-answer:not([hidden])", timeout=TIMEOUT_MS)
    assert phone.inner_text("#case-answer-text") == "已整改，感谢您的监督"
    assert phone.errors == [] and manager.errors == []
