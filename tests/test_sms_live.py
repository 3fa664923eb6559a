"""Text messages against a real ``hallq serve`` and the stand-in gateway on a loopback port.

A visitor leaves a number; clerks call; the gateway gets "3 ahead" and "your turn at
window 1", signed, with the number. A gateway that hangs never slows a call, and its
failures are counted. The number is never in the server's log unmasked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import demo_text
from tests.live import LiveServer
from tests.sms_gateway import Gateway

PHONE = "13812345678"


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    gateway = Gateway()
    gateway.start()
    monkeypatch.setenv("HALLQ_SMS_SECRET", gateway.secret)
    monkeypatch.setenv("HALLQ_SMS_LEASE_S", "2")
    yield gateway
    gateway.delay = 0
    gateway.stop()


def hall_file(tmp_path: Path, gateway: Gateway, timeout_s: float = 5) -> str:
    text = demo_text() + (
        "\n[sms]\n"
        f'url = "{gateway.url}"\n'
        'method = "PUT"\n'
        f'signature_header = "{Gateway.HEADER}"\n'
        'body = \'{"to":"{phone}","text":"{text}","ticket":"{number}","window":"{window}","ahead":"{ahead}"}\'\n'
        f"timeout_s = {timeout_s}\n"
    )
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def counted(server: LiveServer, kind: str, outcome: str) -> float:
    status, text = server.request("GET", "/metrics")
    assert status == 200
    found = re.search(rf'hallq_sms_messages_total{{hall="demo",kind="{kind}",outcome="{outcome}"}} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


def test_a_visitor_gets_ahead_and_your_turn(tmp_path: Path, live_server_factory: Any, gateway: Gateway) -> None:
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway))
    tickets = [server.issue(["register"], lang="en") for _ in range(5)]
    mine = tickets[4]["ticket"]
    path = f"/api/tickets/{mine['token']}/phone"
    assert server.request("POST", path, {"phone": "138 1234"}) == (
        422,
        {
            "error": {
                "code": "bad_phone",
                "message": "a mobile number has 11 digits and starts with 1, e.g. 138 1234 5678",
            }
        },
    )
    status, body = server.request("POST", path, {"phone": "+86 138-1234-5678"})
    assert (status, body) == (201, {"phone": "138****5678"})
    assert server.request("GET", path)[1] == {"phone": "138****5678", "sms": True}
    time.sleep(0.5)
    assert gateway.received() == []  # 4 ahead: nothing yet

    clerks = {w: server.login(f"s0{w}") for w in "1234"}
    assert server.act(clerks["1"], "1", "call_next")[0] == 200  # A001: 3 ahead of A005 now
    (first,) = gateway.wait_for(1)
    assert first.method == "PUT" and first.valid
    assert first.body["to"] == PHONE and first.body["ticket"] == "A005" and first.body["ahead"] == "3"
    assert "3 ahead of number A005" in first.body["text"]
    for window in "234":
        assert server.act(clerks[window], window, "call_next")[0] == 200
    status, answer = server.act(clerks["1"], "1", "call_next")
    assert status == 200 and answer["ticket"]["number"] == "A005"
    messages = gateway.wait_for(2)
    time.sleep(0.5)
    assert len(gateway.received()) == 2, [m.body for m in gateway.received()]  # each once
    second = messages[1]
    assert second.valid and second.body["to"] == PHONE
    assert second.body["window"] == "1" and "your turn at window 1" in second.body["text"]
    assert counted(server, "ahead", "ok") == 1.0 and counted(server, "called", "ok") == 1.0

    # the ticket done: its number is forgotten
    assert server.act(clerks["1"], "1", "complete")[0] == 200
    deadline = time.monotonic() + 5
    while server.request("GET", path)[1]["phone"] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.request("GET", path)[1]["phone"] is None
    log = server.log_path.read_text()
    assert PHONE not in log and "138****5678" in log


def test_refusals(tmp_path: Path, live_server_factory: Any, gateway: Gateway) -> None:
    demo: LiveServer = live_server_factory()
    token = demo.issue(["register"])["ticket"]["token"]
    status, body = demo.request("POST", f"/api/tickets/{token}/phone", {"phone": PHONE})
    assert (status, body["error"]["code"]) == (409, "no_sms")
    assert demo.request("POST", "/api/tickets/" + "x" * 30 + "/phone", {"phone": PHONE})[0] == 404
    # a number given with the ticket: refused before anything changes
    before = demo.request("GET", "/api/halls/demo/state")[1]["seq"]
    status, body = demo.request("POST", "/api/halls/demo/tickets", {"services": ["register"], "phone": PHONE})
    assert (status, body["error"]["code"]) == (409, "no_sms")
    assert demo.request("GET", "/api/halls/demo/state")[1]["seq"] == before
    demo.stop()
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway))
    token = server.issue(["register"])["ticket"]["token"]
    assert server.request("DELETE", f"/api/tickets/{token}")[0] == 200  # cancelled
    status, body = server.request("POST", f"/api/tickets/{token}/phone", {"phone": PHONE})
    assert (status, body["error"]["code"]) == (409, "ticket_ended")
    token = server.issue(["register"])["ticket"]["token"]
    assert server.request("POST", f"/api/tickets/{token}/phone", {"phone": PHONE})[0] == 201
    assert server.request("DELETE", f"/api/tickets/{token}/phone") == (200, {"phone": None})
    assert server.request("GET", f"/api/tickets/{token}/phone")[1]["phone"] is None
    # ... or with the ticket itself (the kiosk's or the desk's POST)
    before = server.request("GET", "/api/halls/demo/state")[1]["seq"]
    status, body = server.request("POST", "/api/halls/demo/tickets", {"services": ["register"], "phone": "12345"})
    assert (status, body["error"]["code"]) == (422, "bad_phone")
    assert server.request("GET", "/api/halls/demo/state")[1]["seq"] == before
    status, body = server.request("POST", "/api/halls/demo/tickets", {"services": ["photo"], "phone": PHONE})
    assert status == 201 and body["phone"] == "138****5678"
    deadline = time.monotonic() + 10  # nobody ahead for photo: "0 ahead" at once
    while not any(m.body["ticket"] == "D001" for m in gateway.received()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m.body["to"] for m in gateway.received() if m.body["ticket"] == "D001"] == [PHONE]


def test_a_hanging_gateway_never_slows_a_call(tmp_path: Path, live_server_factory: Any, gateway: Gateway) -> None:
    gateway.delay = 3.0  # longer than the hall's timeout
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway, timeout_s=1))
    tokens = [server.issue(["register"])["ticket"]["token"] for _ in range(6)]
    for token in tokens:
        assert server.request("POST", f"/api/tickets/{token}/phone", {"phone": PHONE})[0] == 201
    clerks = {w: server.login(f"s0{w}") for w in "1234"}
    slowest = 0.0
    for window in "12341234":
        started = time.monotonic()
        assert server.act(clerks[window], window, "call_next")[0] == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)
    assert slowest < 0.5, slowest
    deadline = time.monotonic() + 10
    while counted(server, "called", "network_error") < 6 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted(server, "called", "network_error") == 6
    assert counted(server, "ahead", "network_error") >= 3
    log = server.log_path.read_text()
    assert "failed" in log and "138****5678" in log and PHONE not in log


def test_the_phone_page_leaves_and_deletes_a_number(
    tmp_path: Path, live_server_factory: Any, gateway: Gateway, browser: Any
) -> None:
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway))
    token = server.issue(["register"])["ticket"]["token"]
    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/t/{token}")
        page.wait_for_selector("#sms:not([hidden])")
        assert "3" in page.inner_text("#sms-note")
        page.fill("#sms-phone", "138 1234")
        page.click("#sms-form button[type=submit]")
        page.wait_for_function("document.getElementById('sms-message').textContent.length > 0")
        assert "11" in page.inner_text("#sms-message")  # err_bad_phone, in the page's words
        page.fill("#sms-phone", "13812345678")
        page.click("#sms-form button[type=submit]")
        page.wait_for_selector("#sms-left:not([hidden])")
        assert "138****5678" in page.inner_text("#sms-left")
        assert page.input_value("#sms-phone") == ""
        (message,) = gateway.wait_for(1)  # nobody ahead: "0 ahead" at once
        assert message.body["to"] == PHONE and message.valid
        page.reload()
        page.wait_for_selector("#sms-left:not([hidden])")
        assert PHONE not in page.content()
        page.click("#sms-delete")
        page.wait_for_selector("#sms-form:not([hidden])")
        assert server.request("GET", f"/api/tickets/{token}/phone")[1]["phone"] is None
        assert errors == []
    finally:
        context.close()


def test_two_workers_send_each_message_once(tmp_path: Path, live_server_factory: Any, gateway: Gateway) -> None:
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway), workers=2)
    tokens = [server.issue(["register"])["ticket"]["token"] for _ in range(4)]
    for index, token in enumerate(tokens):
        phone = f"1391234567{index}"
        assert server.request("POST", f"/api/tickets/{token}/phone", {"phone": phone})[0] == 201
    gateway.wait_for(4)  # each has at most 3 ahead: "ahead" at once
    clerks = {w: server.login(f"s0{w}") for w in "1234"}
    for window in "1234":
        assert server.act(clerks[window], window, "call_next")[0] == 200
    gateway.wait_for(8)
    time.sleep(1.0)
    messages = gateway.received()
    sent = sorted((m.body["to"], m.body["ticket"], m.body["window"]) for m in messages)
    assert len(messages) == 8, sent
    assert sorted((m.body["to"], m.body["ticket"]) for m in messages if m.body["window"]) == [
        (f"1391234567{i}", f"A00{i + 1}") for i in range(4)
    ]
    assert all(m.valid for m in messages)


def test_the_desk_leaves_a_number_for_a_found_ticket(
    tmp_path: Path, live_server_factory: Any, gateway: Gateway, browser: Any
) -> None:
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway))
    ticket = server.issue(["register"])["ticket"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/desk/demo")
        page.fill("#login-staff", "desk")
        page.fill("#login-pin", "1234")
        page.click("#login button[type=submit]")
        page.wait_for_selector("#desk:not([hidden])")
        page.fill("#find-number", ticket["number"])
        page.click("#find button[type=submit]")
        page.wait_for_selector("#found-sms:not([hidden])")
        page.fill("#found-sms-phone", "139 8765 4321")
        page.click("#found-sms button[type=submit]")
        page.wait_for_function("document.getElementById('found-sms-message').textContent.indexOf('139****4321') >= 0")
        assert page.input_value("#found-sms-phone") == ""
        assert server.request("GET", f"/api/tickets/{ticket['token']}/phone")[1]["phone"] == "139****4321"
        (message,) = gateway.wait_for(1)
        assert message.body["to"] == "13987654321"
    finally:
        context.close()


def test_the_kiosk_takes_a_number_with_the_ticket(
    tmp_path: Path, live_server_factory: Any, gateway: Gateway, browser: Any
) -> None:
    server: LiveServer = live_server_factory(config=hall_file(tmp_path, gateway))
    context = browser.new_context(viewport={"width": 1080, "height": 1920})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.url}/kiosk/demo")
        page.click("[data-service='register']")
        page.click(".issue-phone > summary")
        page.type("[data-phone]", "1381234")
        page.click("[data-submit]")
        page.wait_for_function("document.querySelector('[data-issue-message]').textContent.length > 0")
        assert "11" in page.inner_text("[data-issue-message]")
        assert server.request("GET", "/api/halls/demo/state")[1]["seq"] == 0  # nothing issued
        page.type("[data-phone]", "5678")
        assert page.input_value("[data-phone]") == "138****5678"  # the people behind see no number
        page.click("[data-submit]")
        page.wait_for_selector("#ticket:not([hidden]) .t-number")
        (message,) = gateway.wait_for(1)
        assert message.body["to"] == PHONE and message.body["ticket"] == "A001"
        assert errors == []
    finally:
        context.close()
