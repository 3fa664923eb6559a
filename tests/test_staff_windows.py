"""The windows a clerk may serve (``[[staff]] windows``), set in the hall file or on the manager
page, and a clerk's sessions ending at a PIN reset or a disable: refused at once on HTTP and on
the pad socket, an open pad closed with the right close code (server/actions.py, server/pad_watch.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server import staff_overlay
from server.config import demo_text, load_hall, parse_hall
from server.edge import CLOSE_CODES
from server.embedded import EmbeddedRedis
from server.toml_locator import ConfigError
from tests.live import LiveServer, admin_login, fresh_database

TIMEOUT_MS = 10_000
S01 = '[[staff]]\nid = "s01"\n'


def with_windows(text: str, staff_id: str, windows: str) -> str:
    """The demo hall file with ``windows = …`` on ``staff_id``'s table."""
    marker = f'id = "{staff_id}"\n'
    assert marker in text
    return text.replace(marker, f"{marker}windows = {windows}\n", 1)


# --- the hall file and check-config -------------------------------------------------------------


def test_a_clerks_windows_come_from_the_hall_file_and_the_overlay() -> None:
    hall = parse_hall(with_windows(demo_text(), "s01", '["1", "2"]'))
    s01, s02 = hall.staff_member("s01"), hall.staff_member("s02")
    assert s01 is not None and s01.windows == ("1", "2") and s01.may_serve("2") and not s01.may_serve("3")
    assert s02 is not None and s02.windows is None and s02.may_serve("5")
    # the overlay replaces the file's list; an empty list gives back any window
    changed = parse_hall(with_windows(demo_text(), "s01", '["1", "2"]'), S01 + 'windows = ["5"]\n')
    assert changed.staff_member("s01").windows == ("5",)  # type: ignore[union-attr]
    back = parse_hall(with_windows(demo_text(), "s01", '["1", "2"]'), S01 + "windows = []\n")
    assert back.staff_member("s01").windows is None  # type: ignore[union-attr]
    # a window added by the overlay may be named; a window it retires may not
    added = '[[windows]]\nid = "7"\nservices = ["photo"]\n'
    assert parse_hall(demo_text(), added + S01 + 'windows = ["7"]\n').staff_member("s01").windows == ("7",)  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as caught:
        parse_hall(with_windows(demo_text(), "s01", '["1"]'), '[[windows]]\nid = "1"\nclosed = true\n')
    assert any("windows: unknown window '1'" in str(p) for p in caught.value.problems), caught.value.problems


def test_check_config_names_unknown_and_malformed_windows_with_their_line(tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    text = with_windows(demo_text(), "s01", '["1", "9", "1"]')
    text = with_windows(text, "s02", "[]")
    text = with_windows(text, "s03", '"3"')
    hall_file.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_hall(hall_file)
    messages = [str(p) for p in caught.value.problems]
    assert any("staff[0].windows: unknown window '9'" in m for m in messages), messages
    assert any("staff[0].windows: window '1' listed twice" in m for m in messages), messages
    assert any("staff[1].windows: must list at least one window" in m for m in messages), messages
    assert any('staff[2].windows: must be a list of window ids such as ["1", "2"]' in m for m in messages), messages
    checked = subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(hall_file)], capture_output=True, text=True
    )
    assert checked.returncode == 1
    line = text.splitlines().index('windows = ["1", "9", "1"]') + 1
    assert (
        f":line {line}: staff[0].windows: unknown window" in checked.stderr and "unknown window '9'" in checked.stderr
    ), checked.stderr


# --- live: a real hallq serve ---------------------------------------------------------------------


def pad(stack: ExitStack, server: LiveServer, token: str, window: str) -> ClientConnection:
    """A pad socket at ``window`` (closed with ``stack``), logged in by the first message."""
    socket = stack.enter_context(connect(f"{server.ws_url}/ws/halls/demo/windows/{window}", open_timeout=10))
    socket.send(json.dumps({"type": "auth", "token": token}))
    return socket


def closed_with(socket: ClientConnection, timeout: float = 10.0) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes the socket: its close code and the messages before it."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            seen.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
    except ConnectionClosed:
        return (socket.close_code, seen)
    except TimeoutError:
        pass
    return None, seen


def errors_in(seen: list[dict[str, Any]]) -> list[str]:
    return [m["error"]["code"] for m in seen if m.get("type") == "error"]


def test_the_manager_assigns_windows_and_the_clerk_is_refused_elsewhere(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text(), encoding="utf-8")
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file), workers=2)
    server.start()
    stack = ExitStack()
    try:
        number = server.issue(["register"])["ticket"]["number"]
        admin = server.login("admin", "admin1234")
        clerk = server.login("s01")
        url = "/api/halls/demo/staff/s01/windows"
        open_pad = pad(stack, server, clerk, "3")
        assert json.loads(open_pad.recv(timeout=10))["type"] == "window_state"

        # refused: nothing written, nothing recorded
        for body, status, code in (
            ({"windows": ["9"]}, 422, "bad_staff"),
            ({"windows": ["1 1"]}, 422, "bad_field"),
            ({"windows": "1"}, 422, "bad_field"),
            ({"rooms": ["1"]}, 422, "unknown_field"),
        ):
            answer = server.request("POST", url, body, admin)
            assert answer[0] == status and answer[1]["error"]["code"] == code, (body, answer)
        assert server.request("POST", "/api/halls/demo/staff/nobody/windows", {"windows": ["1"]}, admin)[0] == 404
        assert server.request("POST", url, {"windows": ["1"]}, clerk)[1]["error"]["code"] == "forbidden"
        assert server.request("POST", url, {"windows": ["1"]})[1]["error"]["code"] == "not_logged_in"
        assert not staff_overlay.beside(hall_file).exists()

        status, answer = server.request("POST", url, {"windows": ["1", "2", "1"]}, admin)
        assert status == 200 and answer["staff"]["windows"] == ["1", "2"], answer
        # the open pad at window 3 is closed at once, as forbidden (final: it stops reconnecting)
        code, seen = closed_with(open_pad)
        assert code == CLOSE_CODES["forbidden"] and "window_not_allowed" in errors_in(seen), (code, seen)
        # HTTP: refused with nothing changed, whatever the worker
        for _ in range(4):
            status, refused = server.act(clerk, "3", "call_next")
            assert status == 403 and refused["error"]["code"] == "window_not_allowed", refused
            assert refused["error"]["windows"] == ["1", "2"]
        _, state = server.request("GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == 1 and all(w["status"] == "closed" for w in state["windows"]), state
        # a new pad socket at window 3 is refused; at window 2 it works
        code, seen = closed_with(pad(stack, server, clerk, "3"))
        assert code == CLOSE_CODES["forbidden"] and errors_in(seen) == ["window_not_allowed"], (code, seen)
        # a browser holding a manager's session cookie: with ?auth=message the pad is the clerk's own
        shared = {"Cookie": f"hallq_session={admin}", "Origin": server.url}
        socket = stack.enter_context(
            connect(f"{server.ws_url}/ws/halls/demo/windows/3?auth=message", additional_headers=shared)
        )
        socket.send(json.dumps({"type": "auth", "token": clerk}))
        code, seen = closed_with(socket)
        assert code == CLOSE_CODES["forbidden"] and errors_in(seen) == ["window_not_allowed"], (code, seen)
        status, called = server.act(clerk, "2", "call_next")
        assert status == 200 and called["ticket"]["number"] == number, called
        status, me = server.request("GET", "/api/auth/me", None, clerk)
        assert me["staff"]["windows"] == ["1", "2"]
        _, listed = server.request("GET", "/api/halls/demo/staff", None, admin)
        assert {s["id"]: s["windows"] for s in listed["staff"]}["s01"] == ["1", "2"]

        # window 2 taken from them with a visitor in hand: only leaving it stays theirs to try
        assert server.request("POST", url, {"windows": ["1"]}, admin)[0] == 200
        assert server.act(clerk, "2", "complete")[1]["error"]["code"] == "window_not_allowed"
        status, refused = server.act(clerk, "2", "close")
        assert status == 409 and refused["error"]["code"] != "window_not_allowed", refused  # the state says no

        # any window again
        assert server.request("POST", url, {"windows": []}, admin)[1]["staff"]["windows"] is None
        assert server.act(clerk, "2", "complete")[0] == 200
        assert server.act(clerk, "2", "close")[0] == 200
        assert load_hall(hall_file).staff_member("s01").windows is None  # type: ignore[union-attr]
        _, audit = server.request("GET", "/api/halls/demo/audit", None, admin)
        actions = [(e["action"], e["detail"]) for e in audit["entries"] if e["action"] == "staff_windows"]
        assert actions == [
            ("staff_windows", "s01: any window"),
            ("staff_windows", "s01: 1"),
            ("staff_windows", "s01: 1, 2"),
        ]
    finally:
        stack.close()
        server.stop()


def test_a_pin_reset_or_a_disable_ends_the_clerks_sessions_on_every_worker(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    server = LiveServer(fresh_database(redis_server), tmp_path, workers=2)
    server.start()
    stack = ExitStack()
    try:
        admin = server.login("admin", "admin1234")
        for change, body, staff in (("pin", {"pin": "7391"}, "s01"), ("disable", None, "s02")):
            tokens = [server.login(staff) for _ in range(3)]
            pads = [pad(stack, server, token, "3" if staff == "s01" else "4") for token in tokens]
            for socket in pads:
                assert json.loads(socket.recv(timeout=10))["type"] == "window_state"
            status, _ = server.request("POST", f"/api/halls/demo/staff/{staff}/{change}", body, admin)
            assert status == 200
            for token in tokens:  # at once: every request of every token, whichever worker answers
                for _ in range(3):
                    assert server.request("GET", "/api/auth/me", None, token)[0] == 401
                    assert server.act(token, "1", "open")[1]["error"]["code"] == "not_logged_in"
            for socket in pads:
                code, seen = closed_with(socket)
                assert code == CLOSE_CODES["unauthorized"] and "not_logged_in" in errors_in(seen), (code, seen)
        # the new PIN logs in and works; the admin's own session went on
        assert server.act(server.login("s01", "7391"), "1", "open")[0] == 200
        assert server.request("GET", "/api/auth/me", None, admin)[0] == 200
    finally:
        stack.close()
        server.stop()


def test_the_manager_assigns_windows_on_the_page_and_the_pad_sends_the_clerk_back(
    redis_server: EmbeddedRedis, tmp_path: Path, browser: Any
) -> None:
    server = LiveServer(fresh_database(redis_server), tmp_path)
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    # the manager's own browser: a pad socket takes the session cookie of its browser
    manager = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    try:
        clerk_pad = context.new_page()
        clerk_pad.on("pageerror", lambda e: errors.append(str(e)))
        clerk_pad.goto(f"{server.url}/pad/demo")
        clerk_pad.fill("#login-staff", "s01")
        clerk_pad.fill("#login-pin", "1234")
        clerk_pad.click("#login button[type=submit]")
        clerk_pad.click("#window-list [data-window='4']")
        clerk_pad.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)

        page = manager.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        admin_login(page, server)
        row = "#staff-table tr[data-staff='s01']"
        page.wait_for_selector(row, timeout=TIMEOUT_MS)
        assert page.get_attribute(f"{row} input.staff-windows", "placeholder") == "全部窗口"
        page.fill(f"{row} input.staff-windows", "9")
        page.dispatch_event(f"{row} button[data-action='m_staff_windows_save']", "click")
        page.wait_for_function(
            "document.getElementById('staff-problems').textContent.includes(\"unknown window '9'\")",
            timeout=TIMEOUT_MS,
        )
        other = "#staff-table tr[data-staff='s02'] input.staff-windows"
        page.fill(other, "3")  # typed in another row, not saved yet
        page.fill(f"{row} input.staff-windows", "1，2")
        page.dispatch_event(f"{row} button[data-action='m_staff_windows_save']", "click")
        page.wait_for_function(  # the saved row shows what the server kept
            f"document.querySelector(\"{row} input.staff-windows\").value === '1, 2'", timeout=TIMEOUT_MS
        )
        page.wait_for_function("document.getElementById('staff-status').textContent.includes('s01')")
        assert page.input_value(other) == "3"  # the table was drawn again, the typing stayed

        # the pad at window 4 is sent back to choosing, with only the clerk's windows and why
        clerk_pad.wait_for_selector("body[data-screen='choose']", timeout=TIMEOUT_MS)
        clerk_pad.wait_for_function(
            "document.getElementById('choose-message').textContent.includes('不能在4号窗口')", timeout=TIMEOUT_MS
        )
        _, state = server.request("GET", "/api/halls/demo/state")  # and left window 4, free for one of theirs
        assert {w["id"]: w["status"] for w in state["windows"]}["4"] == "closed", state
        windows = clerk_pad.eval_on_selector_all("#window-list [data-window]", "bs => bs.map(b => b.dataset.window)")
        assert windows == ["1", "2"], windows
        clerk_pad.goto(f"{server.url}/pad/demo?window=5")  # asked for by address: refused the same way
        clerk_pad.wait_for_function(
            "document.getElementById('choose-message').textContent.includes('不能在5号窗口')", timeout=TIMEOUT_MS
        )
        clerk_pad.click("#window-list [data-window='2']")
        clerk_pad.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)
        status, listed = server.request("GET", "/api/halls/demo/staff", None, server.login("admin", "admin1234"))
        assert status == 200 and {s["id"]: s["windows"] for s in listed["staff"]}["s01"] == ["1", "2"]
    finally:
        manager.close()
        context.close()
        server.stop()
    assert errors == [], f"JavaScript errors on the page: {errors}"
