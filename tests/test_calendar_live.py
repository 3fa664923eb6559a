"""The manager keeps the calendar on a real ``hallq serve`` (two workers): a holiday added for
today closes ticket issuing at once with its name, removing it opens it again, the waiting
queue is untouched; refusals change nothing; every change is audited
(server/calendar_api.py)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from server import calendar_overlay
from server.config import demo_text, load_hall
from server.embedded import EmbeddedRedis
from tests.live import LiveServer, admin_login, fresh_database

CALENDAR = "/api/halls/demo/calendar"
TIMEOUT_MS = 10_000


def wait_everywhere(server: LiveServer, holiday: str | None, reads: int = 12, timeout_s: float = 15) -> None:
    """Until ``reads`` state reads in a row (spread over the workers) show ``holiday``: each
    worker follows the hall.config event on its own."""
    deadline, streak = time.monotonic() + timeout_s, 0
    while streak < reads:
        assert time.monotonic() < deadline, f"the workers never agreed on holiday={holiday!r}"
        status, state = server.request("GET", "/api/halls/demo/state")
        streak = streak + 1 if status == 200 and state.get("holiday") == holiday else 0


def test_the_manager_closes_and_opens_the_hall_by_the_calendar(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text() + '\n[calendar]\nholidays = [{ date = 2030-01-01, name = "元旦" }]\n', "utf-8")
    written = hall_file.read_bytes()
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file), workers=2)
    server.start()
    try:
        waiting = [server.issue([s])["ticket"]["number"] for s in ("register", "register", "photo")]
        admin, clerk = server.login("admin", "admin1234"), server.login("s01")

        def audit_actions() -> list[tuple[str, str | None]]:
            status, body = server.request("GET", "/api/halls/demo/audit", None, admin)
            assert status == 200
            kinds = ("holiday_", "workday_")
            found = [e for e in body["entries"] if e["action"].startswith(kinds)]
            assert all(e["staff"] == "admin" for e in found)  # who made each change
            return [(e["action"], e.get("detail")) for e in found]

        status, listed = server.request("GET", CALENDAR, None, admin)
        assert status == 200, listed
        today = listed["calendar"]["today"]
        saturday = date.fromisoformat(today) + timedelta(days=(5 - date.fromisoformat(today).weekday()) % 7 or 7)
        assert listed["calendar"]["holidays"] == [
            {"date": "2030-01-01", "until": "2030-01-01", "name": "元旦", "added": False}
        ]

        # who may: the manager only
        assert server.request("GET", CALENDAR, None, clerk)[0] == 403
        assert server.request("GET", CALENDAR)[0] == 401
        assert server.request("POST", f"{CALENDAR}/holidays", {"date": today, "name": "国庆节"}, clerk)[0] == 403

        # refused: 422 with a code, nothing written, nothing recorded
        for body, code in (
            ({"date": "2026-13-01", "name": "x"}, "bad_date"),
            ({"date": today, "name": " "}, "bad_field"),
            ({"date": today}, "missing_field"),
            ({"date": today, "until": "2020-01-01", "name": "x"}, "bad_calendar"),
            ({"date": "2030-01-01", "name": "again"}, "bad_calendar"),
        ):
            status, answer = server.request("POST", f"{CALENDAR}/holidays", body, admin)
            assert (status, answer["error"]["code"]) == (422, code), (body, answer)
        status, answer = server.request("POST", f"{CALENDAR}/workdays", {"date": "2030-01-01"}, admin)
        assert (status, answer["error"]["code"]) == (422, "bad_calendar")
        assert "2030-01-01 is both a holiday and a working day" in str(answer["error"]["problems"])
        assert server.request("DELETE", f"{CALENDAR}/holidays/2031-05-01", None, admin)[0] == 404
        assert server.request("DELETE", f"{CALENDAR}/workdays/2030-01-01", None, admin)[0] == 404  # not a workday
        assert not calendar_overlay.beside(hall_file).exists()
        assert audit_actions() == []

        # today a holiday: every worker refuses tickets, naming it; the queue stays
        status, added = server.request("POST", f"{CALENDAR}/holidays", {"date": today, "name": "国庆节"}, admin)
        assert status == 201, added
        assert added["calendar"]["holiday"] == "国庆节"
        assert {"date": today, "until": today, "name": "国庆节", "added": True} in added["calendar"]["holidays"]
        wait_everywhere(server, "国庆节")
        for _ in range(4):
            status, refused = server.request("POST", "/api/halls/demo/tickets", {"services": ["register"]})
            assert (status, refused["error"]["code"], refused["error"]["holiday"]) == (409, "hall_closed", "国庆节")
            assert "国庆节" in refused["error"]["message"]
        status, refused = server.request("POST", "/api/halls/demo/remote-tickets", {"services": ["register"]})
        assert (status, refused["error"]["code"]) == (409, "hall_closed"), refused
        slots = server.request("GET", f"/api/halls/demo/slots?date={today}&service=register")[1]
        assert slots == {"slots": [], "holiday": "国庆节"}
        status, state = server.request("GET", "/api/halls/demo/state")
        assert state["waiting"] == {"register": 2, "transfer": 0, "pension": 0, "photo": 1}
        status, called = server.act(clerk, "1", "call_next")  # windows still call who waits
        assert status == 200 and called["ticket"]["number"] == waiting[0]

        # a 调休 Saturday, then the holiday taken away: tickets issue again, numbering goes on
        status, answer = server.request("POST", f"{CALENDAR}/workdays", {"date": saturday.isoformat()}, admin)
        assert status == 201, answer
        assert {"date": saturday.isoformat(), "hours_of": "mon", "name": "", "added": True} in answer["calendar"][
            "workdays"
        ]
        # the hall file's own holiday cannot be removed here: refused with why, nothing changed
        overlay = calendar_overlay.beside(hall_file).read_bytes()
        status, answer = server.request("DELETE", f"{CALENDAR}/holidays/2030-01-01", None, admin)
        assert (status, answer["error"]["code"], answer["error"]["date"]) == (409, "in_hall_file", "2030-01-01")
        assert "hall file" in answer["error"]["message"]
        assert calendar_overlay.beside(hall_file).read_bytes() == overlay
        assert server.request("GET", CALENDAR, None, admin)[1]["calendar"]["holidays"][-1]["date"] == "2030-01-01"

        status, answer = server.request("DELETE", f"{CALENDAR}/holidays/{today}", None, admin)
        assert status == 200 and answer["calendar"]["holiday"] is None
        wait_everywhere(server, None)
        assert server.issue(["register"])["ticket"]["number"] == "A003"
        assert server.request("DELETE", f"{CALENDAR}/workdays/{saturday.isoformat()}", None, admin)[0] == 200

        assert audit_actions() == [
            ("workday_remove", saturday.isoformat()),
            ("holiday_remove", today),
            ("workday_add", f"{saturday.isoformat()} (usual hours)"),
            ("holiday_add", f"{today} 国庆节"),
        ]
        assert hall_file.read_bytes() == written  # the hand-written file is never rewritten
        assert load_hall(hall_file).calendar.holidays[0].name == "元旦"  # check-config agrees
    finally:
        server.stop()


def test_the_manager_keeps_the_calendar_on_the_page(redis_server: EmbeddedRedis, tmp_path: Path, browser: Any) -> None:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text() + '\n[calendar]\nholidays = [{ date = 2030-01-01, name = "元旦" }]\n', "utf-8")
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file))
    server.start()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        admin_login(page, server)
        page.wait_for_function("document.getElementById('calendar-today').textContent !== ''", timeout=TIMEOUT_MS)
        today = page.input_value("#holiday-date")  # the form starts at today's date
        assert today and today in page.inner_text("#calendar-today")

        page.fill("#holiday-name", "国庆节")
        page.click("#holiday-add")
        row = f"#calendar-table tr[data-kind='holidays'][data-day='{today}'][data-added='true']"
        page.wait_for_selector(row, timeout=TIMEOUT_MS)
        assert "国庆节" in page.inner_text(row) and "本页添加" in page.inner_text(row)
        assert "大厅休息" in page.inner_text("#calendar-today")
        assert calendar_overlay.beside(hall_file).exists()
        in_file = "#calendar-table tr[data-kind='holidays'][data-day='2030-01-01'][data-added='false']"
        assert page.query_selector(f"{in_file} button") is None  # the hall file's: no remove button, and why
        assert "请在配置文件中修改" in page.inner_text(in_file)

        # refused: the problem is shown, nothing is added
        page.fill("#workday-date", today)
        page.click("#workday-add")
        page.wait_for_function(
            "document.getElementById('calendar-status').textContent.includes('日历规则')", timeout=TIMEOUT_MS
        )
        assert "both a holiday and a working day" in page.inner_text("#calendar-problems")
        assert page.query_selector("#calendar-table tr[data-kind='workdays']") is None

        kiosk = context.new_page()
        kiosk.on("pageerror", lambda e: errors.append(str(e)))
        kiosk.goto(f"{server.url}/kiosk/demo")
        kiosk.wait_for_selector("#closed-holiday:not([hidden])", timeout=TIMEOUT_MS)
        assert "国庆节" in kiosk.inner_text("#closed-holiday")

        page.wait_for_selector(row, timeout=TIMEOUT_MS)  # (the page may have reloaded after the change)
        page.dispatch_event(f"{row} button[data-action='remove']", "click")
        page.wait_for_selector(f"#calendar-table tr[data-day='{today}']", state="detached", timeout=TIMEOUT_MS)
        assert server.issue(["register"])["ticket"]["number"] == "A001"
    finally:
        context.close()
        server.stop()
    assert errors == [], f"JavaScript errors on the page: {errors}"
