"""Staff changes from the manager page: the overlay beside the hall file, checked as
``hallq check-config`` checks, applied live, audited (server/staff_overlay.py, server/staff_api.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from server import staff_overlay
from server.config import demo_text, load_hall, parse_hall
from server.embedded import EmbeddedRedis
from server.pins import hash_pin
from server.staff_api import pin_problem
from server.toml_locator import ConfigError
from tests.live import LiveServer, admin_login, fresh_database

HASH = hash_pin("2580", n=2**10)
TIMEOUT_MS = 10_000


def overlay(*entries: dict[str, object]) -> str:
    return staff_overlay.dumps([dict(e) for e in entries])


def test_the_overlay_adds_changes_and_disables_staff_by_id() -> None:
    text = overlay(
        {"id": "s06", "name": "新人", "role": "clerk", "pin_hash": HASH},
        {"id": "s01", "disabled": True},
        {"id": "s02", "pin_hash": HASH},
    )
    hall = parse_hall(demo_text(), text)
    s06, s01, s02 = (hall.staff_member(i) for i in ("s06", "s01", "s02"))
    assert s06 is not None and s06.check_pin("2580") and not s06.disabled and s06.name == "新人"
    assert s01 is not None and s01.disabled and s01.name == "李明"  # kept: statistics still name them
    assert s02 is not None and s02.check_pin("2580") and not s02.check_pin("1234")
    # the config hash covers the overlay: a staff change is a config change every worker follows
    assert hall.source_text != parse_hall(demo_text()).source_text


def test_the_merged_staff_get_check_configs_rules_and_messages() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), overlay({"id": "s07", "name": "x", "role": "boss", "pin_hash": "1234"}))
    messages = [str(p) for p in caught.value.problems]
    assert any(".role: must be one of clerk, desk, admin" in m for m in messages), messages
    assert any(".pin_hash: must be a scrypt hash made by `hallq hash-pin`" in m for m in messages), messages
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), "[hall]\nid = 'x'\n[[staff]]\nname = 'no id'\npin = '1234'\n")
    messages = [str(p) for p in caught.value.problems]
    assert "(staff overlay) hall.id: unknown key 'id'; expected one of hours, ticket_cutoff" in messages
    assert "(staff overlay) staff[0]: must be a table with an id" in messages
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), "[[staff]\n")
    assert str(caught.value.problems[0]).startswith("(staff overlay): is not valid TOML")


def test_the_overlay_adds_windows_and_closes_the_hall_files() -> None:
    text = staff_overlay.dumps(
        [],
        [{"id": "7", "services": ["photo"]}, {"id": "1", "closed": True}, {"id": "5", "services": ["register"]}],
    )
    hall = parse_hall(demo_text().replace('id = "2"', "id = 2"), text)  # a number id in the hall file
    assert [w.id for w in hall.windows] == ["2", "3", "4", "5", "7"]
    assert hall.window("7").tiers == (("photo",),)  # type: ignore[union-attr]
    assert hall.window("5").tiers == (("register",),)  # type: ignore[union-attr]  # services replace tiers
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), staff_overlay.dumps([], [{"id": w, "closed": True} for w in "12345"]))
    assert any("at least one [[windows]] table is required" in str(p) for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), '[[windows]]\nid = "8"\nservices = ["nope"]\nclosed = "yes"\n')
    messages = [str(p) for p in caught.value.problems]
    assert "(staff overlay) windows[0].closed: must be true or false" in messages
    assert any("unknown service 'nope'" in m for m in messages), messages


def test_the_overlay_file_round_trips_any_name() -> None:
    name = 'Ann "A" \\ 张\t三\x7f'
    text = overlay({"id": "s06", "name": name, "role": "clerk", "pin_hash": HASH, "disabled": False})
    assert staff_overlay.entries_of(text) == [
        {"id": "s06", "name": name, "role": "clerk", "pin_hash": HASH, "disabled": False}
    ]
    entries = staff_overlay.change(staff_overlay.entries_of(text), "s06", disabled=True)
    entries = staff_overlay.change(entries, "s01", pin_hash=HASH)
    assert [(e["id"], e.get("disabled")) for e in entries] == [("s06", True), ("s01", None)]


def test_check_config_reads_the_overlay_beside_the_hall_file(tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text(), encoding="utf-8")
    assert staff_overlay.beside(hall_file) == tmp_path / "hall.staff.toml"
    staff_overlay.write(staff_overlay.beside(hall_file), overlay({"id": "s06", "name": "新人", "role": "clerk"}))
    with pytest.raises(ConfigError):
        load_hall(hall_file)
    command = [sys.executable, "-m", "server.cli", "check-config", str(hall_file)]
    checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 1
    assert ".pin_hash: must be a scrypt hash made by `hallq hash-pin`" in checked.stderr
    staff_overlay.write(
        staff_overlay.beside(hall_file), overlay({"id": "s06", "name": "新人", "role": "clerk", "pin_hash": HASH})
    )
    hall = load_hall(hall_file)
    assert hall.staff_member("s06") is not None and hall.source_path == str(hall_file)
    checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 0 and "with the staff overlay" in checked.stdout


def test_weak_pins_are_refused() -> None:
    for pin in ("", "123", "1111", "1234", "4321", "0123", "s06x" * 9, "12 45", "s06"):
        assert pin_problem(pin, "s06x" if pin == "s06x" else "s06"), pin
    for pin in ("2580", "7391", "a9!x"):
        assert pin_problem(pin, "s06") is None, pin


def click_until(page: Any, button: str, done: str) -> None:
    """Click ``button`` until ``done`` shows: the manager page reloads itself at a quiet moment
    after each change (hall.config), and a click that lands as it goes is lost with it."""
    for _ in range(3):
        try:
            # an event: no waiting for a layout to be stable
            page.dispatch_event(button, "click", timeout=5000)
            page.wait_for_selector(done, timeout=5000)
            return
        except PlaywrightTimeout:
            if page.query_selector(done):  # done, and the page reloaded meanwhile
                return
    said = page.evaluate("() => ['staff-status', 'windows-status'].map(id => document.getElementById(id)?.textContent)")
    raise AssertionError(f"{done} never showed; the page said {said}")


# --- live: a real hallq serve ------------------------------------------------------------------


def test_the_manager_adds_resets_and_disables_a_clerk_live(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text(), encoding="utf-8")
    written = hall_file.read_bytes()
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file))
    server.start()
    try:
        waiting = [server.issue(["register"])["ticket"]["number"] for _ in range(3)]
        admin = server.login("admin", "admin1234")
        staff_url = "/api/halls/demo/staff"

        def audit_actions() -> list[tuple[str, str | None]]:
            status, body = server.request("GET", "/api/halls/demo/audit", None, admin)
            assert status == 200
            return [(e["action"], e.get("detail")) for e in body["entries"] if e["action"].startswith("staff_")]

        # refused: nothing written, nothing recorded
        for body, status, code in (
            ({"id": "s06", "name": "新人", "role": "clerk", "pin": "1111"}, 422, "weak_pin"),
            ({"id": "s06", "name": "新人", "role": "clerk", "pin": ""}, 422, "weak_pin"),
            ({"id": "s01", "name": "李明", "role": "clerk", "pin": "2580"}, 409, "staff_exists"),
            ({"id": "s06", "name": "新人", "role": "boss", "pin": "2580"}, 422, "bad_field"),
            ({"id": "S 06", "name": "新人", "role": "clerk", "pin": "2580"}, 422, "bad_field"),
        ):
            answer = server.request("POST", staff_url, body, admin)
            assert answer[0] == status and answer[1]["error"]["code"] == code, (body, answer)
        assert server.request("POST", f"{staff_url}/nobody/pin", {"pin": "2580"}, admin)[1]["error"]["code"] == (
            "unknown_staff"
        )
        assert server.request("POST", f"{staff_url}/nobody/disable", None, admin)[0] == 404
        assert server.request("POST", f"{staff_url}/admin/disable", None, admin)[0] == 409
        clerk = server.login("s01")
        assert server.request("GET", staff_url, None, clerk)[0] == 403
        assert (
            server.request("POST", staff_url, {"id": "s09", "name": "x", "role": "clerk", "pin": "2580"}, clerk)[0]
            == 403
        )
        assert not staff_overlay.beside(hall_file).exists()
        assert audit_actions() == []

        # added: logs in and calls at once
        status, added = server.request(
            "POST", staff_url, {"id": "s06", "name": "新人", "role": "clerk", "pin": "2580"}, admin
        )
        assert status == 201, added
        assert added["staff"] == {
            "id": "s06",
            "name": "新人",
            "role": "clerk",
            "disabled": False,
            "added": True,
            "windows": None,
        }
        s06 = server.login("s06", "2580")
        status, called = server.act(s06, "3", "call_next")
        assert status == 200, called
        assert called["ticket"]["number"] == waiting[0]
        overlay_text = staff_overlay.beside(hall_file).read_text(encoding="utf-8")
        assert "scrypt$" in overlay_text and "2580" not in overlay_text
        assert hall_file.read_bytes() == written  # the hand-written file is never rewritten

        # PIN reset: the old one fails, the new one works
        assert server.request("POST", f"{staff_url}/s06/pin", {"pin": "1234"}, admin)[0] == 422
        assert server.request("POST", f"{staff_url}/s06/pin", {"pin": "7391"}, admin)[0] == 200
        status, _ = server.request("POST", "/api/auth/login", {"hall": "demo", "staff": "s06", "pin": "2580"})
        assert status == 401
        s06_again = server.login("s06", "7391")

        # disabled: every session refused at once, no login; enabled again: logs in
        status, body = server.request("GET", staff_url, None, admin)
        assert status == 200 and "pin_hash" not in str(body)
        assert server.request("POST", f"{staff_url}/s06/disable", None, admin)[1]["staff"]["disabled"] is True
        for token in (s06, s06_again):
            assert server.request("GET", "/api/auth/me", None, token)[0] == 401
            assert server.act(token, "3", "complete")[0] == 401
        status, _ = server.request("POST", "/api/auth/login", {"hall": "demo", "staff": "s06", "pin": "7391"})
        assert status == 401
        assert server.request("POST", f"{staff_url}/s06/enable", None, admin)[0] == 200
        server.login("s06", "7391")

        # the queue went on through every change
        status, state = server.request("GET", "/api/halls/demo/state")
        assert status == 200
        assert state["waiting"]["register"] == 2, state
        assert audit_actions() == [
            ("staff_enable", "s06"),
            ("staff_disable", "s06"),
            ("staff_pin", "s06"),
            ("staff_add", "s06 (clerk, 新人)"),
        ]
        status, csv_text = server.request("GET", "/api/halls/demo/audit?format=csv", None, admin)
        assert "2580" not in str(csv_text) and "7391" not in str(csv_text)
        assert load_hall(hall_file).staff_member("s06") is not None  # check-config agrees
    finally:
        server.stop()


def test_the_manager_adds_a_clerk_on_the_page_who_calls_on_the_pad(
    redis_server: EmbeddedRedis, tmp_path: Path, browser: Any
) -> None:
    server = LiveServer(fresh_database(redis_server), tmp_path)  # the demo hall: its overlay in this data folder
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    try:
        number = server.issue(["register"])["ticket"]["number"]
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        admin_login(page, server)
        page.wait_for_selector("#staff-table tr[data-staff='s01']", timeout=TIMEOUT_MS)

        page.fill("#staff-id", "s06")
        page.fill("#staff-name", "新人")
        page.select_option("#staff-role", "clerk")
        page.fill("#staff-pin", "1111")
        page.click("#staff-add")
        page.wait_for_function(
            "document.getElementById('staff-status').textContent.includes('密码太弱')", timeout=TIMEOUT_MS
        )
        assert page.query_selector("#staff-table tr[data-staff='s06']") is None
        page.fill("#staff-pin", "2580")
        page.click("#staff-add")
        page.wait_for_selector("#staff-table tr[data-staff='s06'][data-disabled='false']", timeout=TIMEOUT_MS)
        assert "窗口人员" in page.inner_text("#staff-table tr[data-staff='s06']")
        assert (tmp_path / staff_overlay.DEMO_FILE).exists()

        pad = context.new_page()
        pad.on("pageerror", lambda e: errors.append(str(e)))
        pad.goto(f"{server.url}/pad/demo")
        pad.fill("#login-staff", "s06")
        pad.fill("#login-pin", "2580")
        pad.click("#login button[type=submit]")
        pad.click("#window-list [data-window='3']")
        pad.wait_for_selector("#win-status[data-status='idle']", timeout=TIMEOUT_MS)
        pad.wait_for_function("document.body.dataset.pending === ''", timeout=TIMEOUT_MS)
        pad.click("#actions [data-action='call_next']")
        pad.wait_for_function(f"document.querySelector('#cur-number').textContent === '{number}'", timeout=TIMEOUT_MS)

        click_until(
            page,
            "#staff-table tr[data-staff='s06'] button[data-action='m_staff_disable']",
            "#staff-table tr[data-staff='s06'][data-disabled='true']",
        )
        status, _ = server.request("POST", "/api/auth/login", {"hall": "demo", "staff": "s06", "pin": "2580"})
        assert status == 401

        # a window added on the page, then taken out of service and put back
        page.fill("#window-id", "7")
        page.check("#window-services input[value='photo']")
        page.click("#window-add")
        page.wait_for_selector("#manage-windows-table tr[data-window='7'][data-retired='false']", timeout=TIMEOUT_MS)
        assert "照片采集" in page.inner_text("#manage-windows-table tr[data-window='7']")
        click_until(
            page,
            "#manage-windows-table tr[data-window='7'] button[data-action='m_win_retire']",
            "#manage-windows-table tr[data-window='7'][data-retired='true']",
        )
        _, config = server.request("GET", "/api/halls/demo")
        assert "7" not in [w["id"] for w in config["windows"]]
        click_until(
            page,
            "#manage-windows-table tr[data-window='7'] button[data-action='m_win_restore']",
            "#manage-windows-table tr[data-window='7'][data-retired='false']",
        )
    finally:
        context.close()
        server.stop()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def test_the_manager_adds_and_retires_windows_live(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    server = LiveServer(fresh_database(redis_server), tmp_path)
    server.start()
    try:
        waiting = [server.issue(["register"])["ticket"]["number"] for _ in range(2)]
        photo = server.issue(["photo"])["ticket"]["number"]
        admin = server.login("admin", "admin1234")
        url = "/api/halls/demo/windows"
        for body, status, code in (
            ({"id": "3", "services": ["photo"]}, 409, "window_exists"),
            ({"id": "7", "services": ["nope"]}, 422, "bad_window"),
            ({"id": "7 7", "services": ["photo"]}, 422, "bad_field"),
            ({"id": "7", "services": []}, 422, "bad_field"),
        ):
            answer = server.request("POST", url, body, admin)
            assert answer[0] == status and answer[1]["error"]["code"] == code, (body, answer)
        assert server.request("POST", f"{url}/9/retire", None, admin)[1]["error"]["code"] == "unknown_window"
        assert server.request("POST", f"{url}/3/restore", None, admin)[1]["error"]["code"] == "unknown_window"
        assert not (tmp_path / staff_overlay.DEMO_FILE).exists()

        status, added = server.request("POST", url, {"id": "7", "services": ["photo"]}, admin)
        assert status == 201 and added["window"] == {"id": "7", "services": ["photo"]}, added
        clerk = server.login("s01")
        status, called = server.act(clerk, "7", "call_next")
        assert status == 200 and called["ticket"]["number"] == photo, called
        for window in ("1", "2", "3", "4"):
            assert server.request("POST", f"{url}/{window}/retire", None, admin)[0] == 200
        # window 5 is now the last to serve registration: taking it away would strand its visitors
        status, refused = server.request("POST", f"{url}/5/retire", None, admin)
        assert status == 422 and refused["error"]["code"] == "bad_window"
        assert any("is served by no window" in p for p in refused["error"]["problems"]), refused
        _, config = server.request("GET", "/api/halls/demo")
        assert [w["id"] for w in config["windows"]] == ["5", "7"]
        assert server.act(server.login("s02"), "1", "call_next")[0] == 404
        assert server.request("POST", f"{url}/2/restore", None, admin)[0] == 200
        _, state = server.request("GET", "/api/halls/demo/state")
        assert state["waiting"]["register"] == len(waiting)  # the queue went on through every change
        _, audit = server.request("GET", "/api/halls/demo/audit", None, admin)
        actions = [(e["action"], e["detail"]) for e in audit["entries"] if e["action"].startswith("window_")]
        assert actions[0] == ("window_restore", "2") and actions[-1] == ("window_add", "7 (photo)")
    finally:
        server.stop()


def test_an_overlay_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    from server.queue.errors import Refusal
    from server.staff_api import _write, staff_change

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the overlay's folder is a file: nothing can be written there
    hall = parse_hall(demo_text())
    with pytest.raises(Refusal) as caught:
        _write(blocker / "demo.staff.toml", hall, staff_change("s01", {"disabled": True}), lambda h: None, "bad_staff")
    assert caught.value.code == "overlay_unwritable"
