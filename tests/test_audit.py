"""The audit log: staff actions (HTTP and pad socket), cancellations, notices, logins and
failed logins, with time, window, ticket, client address; exported as CSV, admin only."""

from __future__ import annotations

import asyncio
import csv
import io
import urllib.request
import zoneinfo
from pathlib import Path
from typing import Any

import pytest

from server.audit import entry, to_csv
from server.config import demo_text
from tests.live import LiveServer
from tests.test_sockets import call, issue, open_socket, pad_url


def test_csv_has_the_hall_time_with_offset_and_defuses_formulas() -> None:
    rows = to_csv(
        [entry("notice", staff="admin", detail='=HYPERLINK("x")', at=1_764_122_400_000, client="10.0.0.1")],
        zoneinfo.ZoneInfo("Asia/Shanghai"),
    )
    parsed = list(csv.DictReader(io.StringIO(rows)))
    assert parsed[0]["time"] == "2025-11-26T10:00:00+08:00"
    assert parsed[0]["detail"].startswith("'=") and parsed[0]["client"] == "10.0.0.1"


def audit_of(server: LiveServer, token: str) -> list[dict[str, Any]]:
    status, body = server.request("GET", "/api/halls/demo/audit", None, token)
    assert status == 200, body
    return list(body["entries"])


async def test_staff_actions_logins_and_notices_are_recorded(live_server: LiveServer) -> None:
    status, _body = await asyncio.to_thread(
        live_server.request, "POST", "/api/auth/login", {"hall": "demo", "staff": "s02", "pin": "9999"}
    )
    assert status == 401
    clerk = await asyncio.to_thread(live_server.login, "s01")
    other = await asyncio.to_thread(live_server.login, "s02")
    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    first = await issue(live_server)
    await issue(live_server)
    third = await issue(live_server)
    called = await call(live_server, clerk, "1")
    # a retried request (same request_id) is one action and one record
    again = [await call(live_server, clerk, "1", "recall", request_id="r-1") for _ in range(2)]
    assert again[0]["seq"] == again[1]["seq"]
    await call(live_server, clerk, "1", "transfer", service="photo")
    async with open_socket(pad_url(live_server, "2", other)) as pad:
        await pad.recv()
        await pad.send({"action": "call_next", "request_id": "pad-1"})
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"], result
    # the visitor cancelling their own ticket is not a staff action; the desk doing it is
    status, _body = await asyncio.to_thread(live_server.request, "DELETE", f"/api/tickets/{third['ticket']['token']}")
    assert status == 200
    status, _body = await asyncio.to_thread(
        live_server.request, "POST", "/api/halls/demo/notice", {"text": "午休 12:00–13:00"}, admin
    )
    assert status == 200

    entries = await asyncio.to_thread(audit_of, live_server, admin)
    actions = [e["action"] for e in reversed(entries)]
    assert actions == [
        "login_failed",
        "login",
        "login",
        "login",
        "call_next",
        "recall",
        "transfer",
        "call_next",
        "notice",
    ], actions
    by_action = {e["action"]: e for e in entries}
    assert by_action["login_failed"]["staff"] == "s02" and by_action["login_failed"]["detail"] == "bad_credentials"
    assert by_action["transfer"]["detail"] == "service=photo"
    http_call = next(e for e in entries if e["action"] == "call_next" and e["window"] == "1")
    assert (http_call["staff"], http_call["ticket"], http_call["client"], http_call["seq"]) == (
        "s01",
        first["ticket"]["number"],
        "127.0.0.1",
        called["seq"],
    )
    pad_call = next(e for e in entries if e["action"] == "call_next" and e["window"] == "2")
    # (the ticket transferred to photo goes first: window 2 serves photo too)
    assert pad_call["staff"] == "s02" and pad_call["client"] == "127.0.0.1" and pad_call["ticket"] == "A001"
    assert by_action["notice"]["detail"] == "午休 12:00–13:00" and by_action["notice"]["staff"] == "admin"
    assert all(isinstance(e["at"], int) for e in entries)

    # the desk cancels for a visitor: recorded with who did it
    desk_ticket = await issue(live_server)
    status, _body = await asyncio.to_thread(
        live_server.request, "DELETE", f"/api/tickets/{desk_ticket['ticket']['token']}", None, admin
    )
    assert status == 200
    latest = (await asyncio.to_thread(audit_of, live_server, admin))[0]
    assert (latest["action"], latest["staff"], latest["ticket"]) == ("cancel", "admin", desk_ticket["ticket"]["number"])


async def test_the_audit_export_is_csv_for_admins_only(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    await issue(live_server)
    await call(live_server, clerk, "3")
    status, body = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/audit?format=csv")
    assert status == 401 and body["error"]["code"] == "not_logged_in"
    status, body = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/audit?format=csv", None, clerk)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/audit?format=xml", None, admin)
    assert status == 422 and body["error"]["code"] == "invalid_format"

    request = urllib.request.Request(
        live_server.url + "/api/halls/demo/audit?format=csv", headers={"Authorization": f"Bearer {admin}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in answer.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.read().decode())))
    assert [r["action"] for r in rows] == ["call_next", "login", "login"]
    assert rows[0]["window"] == "3" and rows[0]["ticket"] == "A001" and rows[0]["staff"] == "s01"
    assert rows[0]["time"].endswith("+08:00")


@pytest.mark.usefixtures("browser")
def test_the_manager_downloads_the_audit_log_and_sees_a_refused_reload(
    live_server_factory: Any, tmp_path: Path, page: Any
) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(demo_text(), encoding="utf-8")
    server: LiveServer = live_server_factory(config=str(path))
    clerk = server.login("s01")
    server.issue(["register"])
    assert server.act(clerk, "2", "call_next")[0] == 200
    page.goto(f"{server.url}/admin/demo")
    page.fill("#login-pin", "admin1234")
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    with page.expect_download() as download:
        page.click("#audit-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [r["action"] for r in rows][:2] == ["login", "call_next"]
    assert rows[1]["window"] == "2" and rows[1]["ticket"] == "A001"

    path.write_text("[[services]\n", encoding="utf-8")
    page.click("#reload-config")
    page.wait_for_selector("#reload-problems:not([hidden])")
    assert str(path) in page.inner_text("#reload-problems")
    assert "原配置" in page.inner_text("#reload-status")


async def test_actions_that_change_nothing_are_each_recorded(live_server: LiveServer) -> None:
    """Two presses of 叫号 on an empty hall answer the same seq (no event): still two presses."""
    clerk = await asyncio.to_thread(live_server.login, "s01")
    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    first = await call(live_server, clerk, "4")
    second = await call(live_server, clerk, "4")
    assert first["ticket"] is None and second["ticket"] is None and first["seq"] == second["seq"]
    entries = await asyncio.to_thread(audit_of, live_server, admin)
    assert [e["action"] for e in entries if e["window"] == "4"] == ["call_next", "call_next"]
