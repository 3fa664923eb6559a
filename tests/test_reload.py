"""Changing the hall without a restart: SIGHUP and the manager's button reload the hall
file on every worker, keep the live queue, tell screens (``hall.config``), and keep the
old file when the new one is broken."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from server.config import demo_text, load_demo, parse_hall
from server.hall_model import config_hash
from server.reload import changes_warnings, read_halls
from tests.live import LiveServer
from tests.test_sockets import display_url, open_socket

NEW_NAME = "参保登记（新）"


def hall_file(tmp_path: Path, text: str | None = None) -> Path:
    path = tmp_path / "hall.toml"
    path.write_text(text if text is not None else demo_text(), encoding="utf-8")
    return path


def renamed(text: str) -> str:
    assert text.count('"参保登记"') == 1
    return text.replace('"参保登记"', f'"{NEW_NAME}"')


def service_name(server: LiveServer) -> str:
    status, config = server.request("GET", "/api/halls/demo")
    assert status == 200
    return str(next(s for s in config["services"] if s["id"] == "register")["name"]["zh"])


def every_worker_says(server: LiveServer, expected: str, timeout: float = 10.0) -> None:
    """Twenty answers in a row (spread over the workers) name ``expected``."""
    deadline = time.monotonic() + timeout
    streak = 0
    while streak < 20:
        assert time.monotonic() < deadline, f"workers still disagree: {service_name(server)!r}"
        streak = streak + 1 if service_name(server) == expected else 0
        if not streak:
            time.sleep(0.1)


# --- pure parts ------------------------------------------------------------------------


def test_a_broken_or_renamed_file_is_refused_with_its_place(tmp_path: Path) -> None:
    broken = hall_file(tmp_path, demo_text().replace("[[services]]", "[[services]\n", 1))
    halls, problems = read_halls([str(broken)], {"demo"})
    assert halls == [] and problems and problems[0].startswith(str(broken))
    other = hall_file(tmp_path, demo_text().replace('id = "demo"', 'id = "north"', 1))
    _halls, problems = read_halls([str(other)], {"demo"})
    assert problems and "restart" in problems[0]
    _halls, problems = read_halls([str(tmp_path / "missing.toml")], {"demo"})
    assert problems and "missing.toml" in problems[0]


def test_the_hash_follows_the_text_and_warnings_name_what_is_taken_away() -> None:
    demo = load_demo()
    assert config_hash(demo) == config_hash(parse_hall(demo_text()))
    changed = parse_hall(renamed(demo_text()))
    assert config_hash(changed) != config_hash(demo)
    assert changes_warnings(demo, changed, {"register": 3}) == []
    fewer = dataclasses.replace(
        demo, services=tuple(s for s in demo.services if s.id != "photo"), windows=demo.windows[:4]
    )
    notes = changes_warnings(demo, fewer, {"photo": 2})
    assert any("photo" in n and "2 ticket" in n for n in notes), notes
    assert any("window '5'" in n for n in notes), notes


# --- a live server ----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
async def test_sighup_reloads_every_worker_and_keeps_the_queue(
    live_server_factory: Any, tmp_path: Path, workers: int
) -> None:
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path), workers=workers)
    tickets = [await asyncio.to_thread(server.issue, ["register"]) for _ in range(3)]
    status, version_before = await asyncio.to_thread(server.request, "GET", "/api/version")
    assert status == 200 and version_before["version"] and version_before["halls"]["demo"]
    async with open_socket(display_url(server)) as display:
        snapshot = await display.recv()
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == 3

        path.write_text(renamed(demo_text()), encoding="utf-8")
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGHUP)  # the parent: uvicorn's supervisor
        event = await display.until(lambda m: m.get("type") == "hall.config", timeout=10)
        assert event["seq"] == 4 and event["hash"] != version_before["halls"]["demo"]
        await asyncio.to_thread(every_worker_says, server, NEW_NAME)
        # both workers reloaded; only one event went out
        assert await display.quiet(1.0) == []

        status, state = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == 3, "the live queue survives a reload"
        for ticket in tickets:
            status, found = await asyncio.to_thread(server.request, "GET", f"/api/tickets/{ticket['ticket']['token']}")
            assert status == 200 and found["ticket"]["status"] == "waiting"
        status, version_after = await asyncio.to_thread(server.request, "GET", "/api/version")
        assert version_after["halls"]["demo"] == event["hash"]

        # a broken file keeps the running one, says why in the log, and sends no event
        path.write_text(demo_text().replace("[[services]]", "[[services]\n", 1), encoding="utf-8")
        os.kill(server.process.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "not reloaded" not in server.log_path.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert "keeping the old config" in server.log_path.read_text()
        assert await display.quiet(0.5) == []
        await asyncio.to_thread(every_worker_says, server, NEW_NAME)
    status, clerk_ok = await asyncio.to_thread(
        server.act, await asyncio.to_thread(server.login, "s01"), "1", "call_next"
    )
    assert status == 200 and clerk_ok["ticket"]["number"] == "A001"


async def test_a_reload_that_drops_a_service_expires_its_waiting_tickets(
    live_server_factory: Any, tmp_path: Path
) -> None:
    from tests.test_clerk_day import without_photo_text

    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    photo = await asyncio.to_thread(server.issue, ["photo"])
    register = await asyncio.to_thread(server.issue, ["register"])
    async with open_socket(display_url(server)) as display:
        assert (await display.recv())["type"] == "snapshot"
        path.write_text(without_photo_text(), encoding="utf-8")
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGHUP)
        expired = await display.until(lambda m: m.get("type") == "ticket.expired", timeout=10)
        assert expired["ticket"]["number"] == photo["ticket"]["number"]
        assert expired["reason"] == "service_removed"
    status, found = await asyncio.to_thread(server.request, "GET", f"/api/tickets/{photo['ticket']['token']}")
    assert status == 200 and found["ticket"]["status"] == "expired"
    status, found = await asyncio.to_thread(server.request, "GET", f"/api/tickets/{register['ticket']['token']}")
    assert status == 200 and found["ticket"]["status"] == "waiting", "the rest of the queue stays"


async def test_the_manager_button_reloads_or_says_why_not(live_server_factory: Any, tmp_path: Path) -> None:
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path), workers=2)
    admin = await asyncio.to_thread(server.login, "admin", "admin1234")
    clerk = await asyncio.to_thread(server.login, "s01")
    await asyncio.to_thread(server.issue, ["register"])
    async with open_socket(display_url(server)) as display:
        assert (await display.recv())["type"] == "snapshot"
        # refused requests change nothing
        status, body = await asyncio.to_thread(server.request, "POST", "/api/halls/demo/reload")
        assert status == 401 and body["error"]["code"] == "not_logged_in"
        status, body = await asyncio.to_thread(server.request, "POST", "/api/halls/demo/reload", None, clerk)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body = await asyncio.to_thread(server.request, "POST", "/api/halls/demo/reload", None, admin)
        assert status == 200 and body["changed"] is False

        path.write_text("this is not = = toml", encoding="utf-8")
        status, body = await asyncio.to_thread(server.request, "POST", "/api/halls/demo/reload", None, admin)
        assert status == 422 and body["error"]["code"] == "bad_hall_file"
        assert body["error"]["problems"] and str(path) in body["error"]["problems"][0]
        assert await display.quiet(0.5) == []

        path.write_text(renamed(demo_text()), encoding="utf-8")
        status, body = await asyncio.to_thread(server.request, "POST", "/api/halls/demo/reload", None, admin)
        assert status == 200 and body["changed"] is True
        event = await display.until(lambda m: m.get("type") == "hall.config", timeout=10)
        assert event["hash"] == body["hash"]
        # the other worker got no request: it reloads from the event
        await asyncio.to_thread(every_worker_says, server, NEW_NAME)
    status, audit = await asyncio.to_thread(server.request, "GET", "/api/halls/demo/audit", None, admin)
    actions = [e["action"] for e in audit["entries"]]
    assert actions[:2] == ["reload", "reload_failed"]


@pytest.mark.usefixtures("browser")
def test_an_open_lobby_reloads_itself_at_a_quiet_moment(live_server_factory: Any, tmp_path: Path, page: Any) -> None:
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    admin = server.login("admin", "admin1234")
    page.goto(f"{server.url}/display/demo?sound=0")
    page.wait_for_function("document.documentElement.getAttribute('data-seq') !== null")
    page.evaluate("window.__before = true")
    path.write_text(renamed(demo_text()), encoding="utf-8")
    status, _body = server.request("POST", "/api/halls/demo/reload", None, admin)
    assert status == 200
    page.wait_for_function("window.__before === undefined", timeout=15000)
    page.wait_for_function(f"document.body.textContent.indexOf('{NEW_NAME}') >= 0", timeout=10000)


@pytest.mark.usefixtures("browser")
def test_a_page_whose_socket_opens_after_a_reload_reloads_itself(
    live_server_factory: Any, tmp_path: Path, page: Any
) -> None:
    """The page is drawn with the old hall file; the reload's hall.config comes before its
    socket's snapshot, so it is never replayed to it. The snapshot names the hall file the
    server serves now, and the page reloads. (Seen as a manager page that stayed on the old
    hall file when a reload came just as it connected.)"""
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    admin = server.login("admin", "admin1234")
    held: list[Any] = []
    page.route_web_socket(re.compile(r".*/ws/halls/demo/display.*"), lambda ws: held.append(ws))  # held
    page.goto(f"{server.url}/display/demo?sound=0")
    page.wait_for_function("window.HallqReload !== undefined")
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the lobby opened no socket"
        page.wait_for_timeout(50)
    page.evaluate("window.__before = true")
    path.write_text(renamed(demo_text()), encoding="utf-8")
    status, _body = server.request("POST", "/api/halls/demo/reload", None, admin)
    assert status == 200
    held[0].connect_to_server()  # now: its snapshot comes after the hall.config event
    page.wait_for_function("window.__before === undefined", timeout=10000)
    page.wait_for_function(f"document.body.textContent.indexOf('{NEW_NAME}') >= 0", timeout=10000)


@pytest.mark.usefixtures("browser")
def test_a_page_waits_while_someone_types(live_server_factory: Any, tmp_path: Path, page: Any) -> None:
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    admin = server.login("admin", "admin1234")
    page.add_init_script("window.HALLQ_RELOAD_IDLE_MS = 1500")
    page.goto(f"{server.url}/admin/demo")
    page.fill("#login-pin", "admin1234")
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("window.HallqReload && document.getElementById('conn').dataset.status === 'online'")
    page.evaluate("window.__before = true")
    page.click("#notice-text")
    page.keyboard.type("今天下午")
    path.write_text(renamed(demo_text()), encoding="utf-8")
    status, _body = server.request("POST", "/api/halls/demo/reload", None, admin)
    assert status == 200
    page.wait_for_function("document.documentElement.getAttribute('data-reload') === 'pending'", timeout=10000)
    page.wait_for_timeout(3000)
    assert page.evaluate("window.__before") is True, "a page must not reload under a typing manager"
    page.evaluate("document.activeElement.blur()")
    page.wait_for_function("window.__before === undefined", timeout=10000)


def test_a_page_waits_for_the_answer_to_a_change_it_sent(live_server_factory: Any, tmp_path: Path, page: Any) -> None:
    """A reload due while a change is on its way waits for the answer (the manager's change
    confirmed, the kiosk's ticket shown). Seen as a manager-page click lost to the page's own
    reload under load."""
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    admin = server.login("admin", "admin1234")
    page.add_init_script("window.HALLQ_RELOAD_IDLE_MS = 1")
    page.goto(f"{server.url}/admin/demo")
    page.fill("#login-pin", "admin1234")
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("window.HallqReload && document.getElementById('conn').dataset.status === 'online'")
    # every change's answer comes 3 s late
    page.evaluate(
        "window.__before = true; const realFetch = window.fetch;"
        "window.fetch = (url, options) => options && options.method && options.method !== 'GET'"
        " ? new Promise(r => setTimeout(r, 3000)).then(() => realFetch(url, options)) : realFetch(url, options);"
        "window.__answer = HQ.api('POST', '/api/halls/demo/notice', {text: '今天下午'}, "
        "sessionStorage.getItem('hallq.admin.token.demo')).then(r => { window.__status = r.status; });"
        "document.activeElement.blur();"
    )
    path.write_text(renamed(demo_text()), encoding="utf-8")
    status, _body = server.request("POST", "/api/halls/demo/reload", None, admin)
    assert status == 200
    page.wait_for_function("document.documentElement.getAttribute('data-reload') === 'pending'", timeout=10000)
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__before") is True, "a page must not reload while a change awaits its answer"
    page.wait_for_function("window.__before === undefined", timeout=10000)  # once answered
    status, state = server.request("GET", "/api/halls/demo/state")
    assert status == 200 and "今天下午" in str(state)  # the change was made


@pytest.mark.usefixtures("browser")
def test_a_page_reloads_when_the_server_comes_back_with_another_hall_file(
    live_server_factory: Any, tmp_path: Path, page: Any
) -> None:
    path = hall_file(tmp_path)
    server: LiveServer = live_server_factory(config=str(path))
    page.goto(f"{server.url}/display/demo/windows/1?sound=0")
    page.wait_for_function("document.documentElement.getAttribute('data-seq') !== null")
    page.wait_for_timeout(500)  # the page has learnt the version it was loaded with
    page.evaluate("window.__before = true")
    server.stop()
    path.write_text(renamed(demo_text()), encoding="utf-8")  # changed while hallq was down: no event
    server.start()
    page.wait_for_function("window.__before === undefined", timeout=20000)
    page.wait_for_function(f"document.body.textContent.indexOf('{NEW_NAME}') >= 0", timeout=10000)
