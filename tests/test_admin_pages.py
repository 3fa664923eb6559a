"""The manager's page and the rating pad, end to end.

A real `hallq serve` (fixture `live_server`, on a real redis-server) and a real headless
Chromium (fixture `browser`): tickets are issued, called, completed and rated over HTTP
as desk and clerks would, then the pages must show exactly what happened — chart bars
carry their figures in `data-value`, so the checks read the numbers off the SVG.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer, admin_login

HALL = "demo"
TIMEOUT_MS = 10_000


@dataclass
class Hall:
    """A thin HTTP driver for the scripted visits."""

    http: httpx.Client

    def login(self, staff: str, pin: str) -> str:
        r = self.http.post("/api/auth/login", json={"hall": HALL, "staff": staff, "pin": pin})
        assert r.status_code == 200, r.text
        # The login also sets a session cookie (for pages); these scripted staff use only
        # their Bearer token, so a request without one is really anonymous.
        self.http.cookies.clear()
        token: str = r.json()["token"]
        return token

    def issue(self, desk: str, services: list[str]) -> dict[str, Any]:
        r = self.http.post(
            f"/api/halls/{HALL}/tickets",
            json={"services": services, "priority": False, "lang": "zh"},
            headers=bearer(desk),
        )
        assert r.status_code == 201, r.text
        ticket: dict[str, Any] = r.json()["ticket"]
        return ticket

    def act(self, clerk: str, window: str, action: str, **extra: Any) -> dict[str, Any]:
        r = self.http.post(
            f"/api/halls/{HALL}/windows/{window}/actions",
            json={"action": action, **extra},
            headers=bearer(clerk),
        )
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def serve(self, clerk: str, window: str) -> str:
        """Call the next visitor at `window` and complete the visit; return the number."""
        called = self.act(clerk, window, "call_next")["ticket"]
        assert called is not None
        self.act(clerk, window, "complete")
        number: str = called["number"]
        return number

    def rate_at_window(self, window: str, number: str, score: int, reasons: list[str] | None = None) -> httpx.Response:
        return self.http.post(
            f"/api/halls/{HALL}/windows/{window}/rating",
            json={"ticket": number, "score": score, "reasons": reasons or []},
        )

    def today(self, admin: str) -> str:
        """The hall's business day as the server counts it (timezone, daily reset)."""
        r = self.http.get(f"/api/halls/{HALL}/stats", params={"by": "month"}, headers=bearer(admin))
        assert r.status_code == 200, r.text
        day: str = r.json()["to"]
        return day

    def stats(self, admin: str, by: str, day: str) -> dict[str, Any]:
        r = self.http.get(
            f"/api/halls/{HALL}/stats",
            params={"from": day, "to": day, "by": by},
            headers=bearer(admin),
        )
        assert r.status_code == 200, r.text
        report: dict[str, Any] = r.json()
        return report


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def hall(live_server: LiveServer) -> Iterator[Hall]:
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        yield Hall(client)


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """A fresh context and page that fails the test on any uncaught JavaScript error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def bars(page: Any, chart: str) -> dict[str, str]:
    """{data-key: data-value} of every bar of one chart."""
    pairs = page.eval_on_selector_all(f"#{chart} rect.bar", "els => els.map(e => [e.dataset.key, e.dataset.value])")
    return {k: v for k, v in pairs}


def test_admin_sees_charts_and_bad_ratings_live(hall: Hall, tab: Any, live_server: LiveServer) -> None:
    admin = hall.login("admin", "admin1234")
    day = hall.today(admin)
    month = day[:7]
    desk = hall.login("desk", "1234")
    s01, s02 = hall.login("s01", "1234"), hall.login("s02", "1234")

    # Three visits at window 1 and 2, rated 5 (by the visitor's phone) and 1 (at the pad).
    first = hall.issue(desk, ["register"])
    hall.issue(desk, ["register"])
    hall.issue(desk, ["transfer"])
    assert hall.serve(s01, "1") == first["number"]
    hall.serve(s01, "1")
    bad_number = hall.serve(s02, "2")
    r = hall.http.post(f"/api/tickets/{first['token']}/rating", json={"score": 5})
    assert r.status_code == 201, r.text
    r = hall.rate_at_window("2", bad_number, 1, ["attitude"])
    assert r.status_code == 201, r.text

    admin_login(tab, live_server)
    tab.wait_for_selector("body[data-reports=ready]", timeout=TIMEOUT_MS)
    assert tab.is_hidden("#login")

    # Served per window this month: the grouped bars for (window, month).
    volume = bars(tab, "chart-volume")
    assert volume == {f"{w}|{month}": v for w, v in [("1", "2"), ("2", "1"), ("3", "0"), ("4", "0"), ("5", "0")]}
    # Satisfaction: window 1 rated 5 only → 100 %; window 2 rated 1 only → 0 %;
    # windows nobody rated have no bar at all.
    assert bars(tab, "chart-sat-window") == {"1": "1", "2": "0"}
    assert bars(tab, "chart-sat-clerk") == {"s01": "1", "s02": "0"}
    assert bars(tab, "chart-ratings") == {"5": "1", "4": "0", "3": "0", "2": "0", "1": "1"}
    # Wait by hour: the bars are the server's figures, for each hour with a measured wait.
    by_hour = hall.stats(admin, "hour", day)
    expected: dict[str, float] = {}
    for g in by_hour["groups"]:
        if g["wait"]["n"]:
            expected[f"{g['key']}|mean"] = g["wait"]["mean"]
            expected[f"{g['key']}|p90"] = g["wait"]["p90"]
    assert expected, "three first calls must have measured waits"
    assert {k: float(v) for k, v in bars(tab, "chart-wait-hour").items()} == expected
    assert tab.text_content("#t-served") == "3"

    # The bad rating is listed; a new one appears without reloading anything.
    tab.wait_for_selector(f"#bad-ratings tr[data-ticket='{bad_number}']", timeout=TIMEOUT_MS)
    tab.evaluate("window.__sameDocument = true")
    hall.issue(desk, ["photo"])
    live_number = hall.serve(s01, "1")
    r = hall.rate_at_window("1", live_number, 2, ["long_wait"])
    assert r.status_code == 201, r.text
    row = tab.wait_for_selector(f"#bad-ratings tr[data-ticket='{live_number}']", timeout=TIMEOUT_MS)
    assert row.get_attribute("data-score") == "2"
    assert "等候时间长" in row.inner_text()
    assert tab.evaluate("window.__sameDocument") is True
    assert tab.text_content("#bad-count") == "2"

    # The live board follows the socket: window 1 is open (李明 = s01) with nobody in hand,
    # nobody waits, and the served count includes the visit completed after page load.
    tab.wait_for_selector('#windows-table tr[data-window="1"][data-status="idle"]', timeout=TIMEOUT_MS)
    assert "李明" in tab.inner_text('#windows-table tr[data-window="1"]')  # the name: ids stay off the public socket
    tab.wait_for_function("document.getElementById('kpi-served').textContent === '4'", timeout=TIMEOUT_MS)
    assert tab.text_content("#kpi-waiting") == "0"


def test_admin_edits_the_notice_and_reads_the_hall_file(hall: Hall, tab: Any, live_server: LiveServer) -> None:
    admin_login(tab, live_server)
    tab.wait_for_function(
        "document.getElementById('config-text').textContent.includes('[hall]')",
        timeout=TIMEOUT_MS,
    )
    config = tab.text_content("#config-text") or ""
    assert 'id = "demo"' in config
    assert "scrypt$" not in config  # PIN hashes never leave the server
    tab.fill("#notice-text", "今天下午系统维护 Maintenance this afternoon")
    tab.click("#notice-save")
    tab.wait_for_function(
        "document.getElementById('notice-status').textContent.includes('已保存')",
        timeout=TIMEOUT_MS,
    )
    state = hall.http.get(f"/api/halls/{HALL}/state").json()
    assert state["notice"] == "今天下午系统维护 Maintenance this afternoon"


def test_admin_downloads_csv(hall: Hall, tab: Any, live_server: LiveServer) -> None:
    desk, s03 = hall.login("desk", "1234"), hall.login("s03", "1234")
    hall.issue(desk, ["pension"])
    hall.serve(s03, "3")
    admin_login(tab, live_server)
    tab.wait_for_selector("body[data-reports=ready]", timeout=TIMEOUT_MS)
    with tab.expect_download() as info:
        tab.click("button.csv[data-by='window']")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("window,issued,served,")
    assert any(line.startswith("3,0,1,") for line in lines[1:])


def test_non_admin_is_refused(hall: Hall, tab: Any, live_server: LiveServer) -> None:
    clerk = hall.login("s01", "1234")
    day = hall.today(hall.login("admin", "admin1234"))
    for method, path, body in [
        ("GET", f"/api/halls/{HALL}/stats?from={day}&to={day}&by=window", None),
        ("GET", f"/api/halls/{HALL}/stats?by=day&format=csv", None),
        ("GET", f"/api/halls/{HALL}/ratings?bad=1", None),
        ("GET", f"/api/halls/{HALL}/config.toml", None),
        ("GET", f"/api/halls/{HALL}/history.csv?day={day}", None),
        ("POST", f"/api/halls/{HALL}/notice", {"text": "hijacked"}),
    ]:
        r = hall.http.request(method, path, json=body, headers=bearer(clerk))
        assert r.status_code == 403, (path, r.status_code, r.text)
        assert r.json()["error"]["code"], path
        anonymous = hall.http.request(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.status_code, anonymous.text)
    assert hall.http.get(f"/api/halls/{HALL}/state").json()["notice"] != "hijacked"

    # The page does not let a clerk in either.
    admin_login(tab, live_server, "s01", "1234")
    tab.wait_for_function("document.getElementById('login-error').textContent.length > 0", timeout=TIMEOUT_MS)
    assert "不是管理员" in (tab.text_content("#login-error") or "")
    assert tab.is_hidden("#app")


def test_rating_pad_flow(hall: Hall, tab: Any, live_server: LiveServer) -> None:
    admin = hall.login("admin", "admin1234")
    desk, s04 = hall.login("desk", "1234"), hall.login("s04", "1234")
    tab.goto(f"{live_server.url}/rate/{HALL}/4")
    tab.wait_for_selector("body[data-screen=idle]")
    tab.wait_for_selector("#offline", state="hidden", timeout=TIMEOUT_MS)
    assert "4号窗口" in (tab.text_content("#window-name") or "")

    # A completion at another window does not wake this pad.
    s05 = hall.login("s05", "1234")
    hall.issue(desk, ["photo"])
    hall.serve(s05, "5")
    tab.wait_for_timeout(500)
    assert tab.get_attribute("body", "data-screen") == "idle"

    # A completion here shows the five levels, big enough to touch.
    hall.issue(desk, ["register"])
    number = hall.serve(s04, "4")
    tab.wait_for_selector("body[data-screen=levels]", timeout=TIMEOUT_MS)
    assert tab.text_content("#rate-ticket") == number
    levels = tab.query_selector_all("button.level")
    assert [b.get_attribute("data-score") for b in levels] == ["5", "4", "3", "2", "1"]
    # One language on the screen: the hall's first, and the other one a tap away.
    assert [b.inner_text() for b in levels] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    tab.click("[data-lang-switch]")
    assert [b.inner_text() for b in levels] == [
        "Very satisfied",
        "Satisfied",
        "Fair",
        "Dissatisfied",
        "Very dissatisfied",
    ]
    for b in levels:
        box = b.bounding_box()
        assert box["width"] >= 48 and box["height"] >= 48
    tab.click("button.level[data-score='4']")
    tab.wait_for_selector("body[data-screen=thanks]", timeout=TIMEOUT_MS)
    assert tab.get_attribute("body", "data-result") == "ok"
    # …and back to idle by itself.
    tab.wait_for_selector("body[data-screen=idle]", timeout=TIMEOUT_MS)

    report = hall.stats(admin, "window", hall.today(admin))
    window4 = next(g for g in report["groups"] if g["key"] == "4")
    assert window4["ratings"]["4"] == 1
    assert window4["ratings"]["rated"] == 1

    # A bad level asks for reasons; the keyboard alone is enough.
    hall.issue(desk, ["register"])
    number = hall.serve(s04, "4")
    tab.wait_for_selector("body[data-screen=levels]", timeout=TIMEOUT_MS)
    tab.keyboard.press("1")
    tab.wait_for_selector("body[data-screen=reasons]")
    tab.focus("button.reason[data-reason='not_competent']")
    tab.keyboard.press("Enter")
    assert tab.get_attribute("button.reason[data-reason='not_competent']", "aria-pressed") == "true"
    tab.focus("#reasons-submit")
    tab.keyboard.press("Enter")
    tab.wait_for_selector("body[data-screen=thanks]", timeout=TIMEOUT_MS)
    assert tab.get_attribute("body", "data-result") == "ok"

    r = hall.http.get(f"/api/halls/{HALL}/ratings", params={"bad": "1"}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    mine = [x for x in r.json()["ratings"] if x["ticket"] == number]
    assert len(mine) == 1
    assert mine[0]["score"] == 1
    assert "not_competent" in mine[0]["reasons"]

    # Once only: the same visit cannot be rated again at the pad.
    assert hall.rate_at_window("4", number, 5).status_code == 409


def test_rating_pad_goes_back_to_idle_without_a_rating(live_server_factory: Any, tab: Any, tmp_path: Path) -> None:
    # The demo hall with the shortest rating window the hall file allows (5 s).
    demo = (Path(__file__).parent.parent / "server" / "demo_hall.toml").read_text("utf-8")
    assert "rating_timeout_s = 60" in demo
    config = tmp_path / "hall.toml"
    config.write_text(demo.replace("rating_timeout_s = 60", "rating_timeout_s = 5"), "utf-8")
    server: LiveServer = live_server_factory(config=str(config))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        hall = Hall(client)
        desk, s01 = hall.login("desk", "1234"), hall.login("s01", "1234")
        tab.goto(f"{server.url}/rate/{HALL}/1")
        tab.wait_for_selector("#offline", state="hidden", timeout=TIMEOUT_MS)
        hall.issue(desk, ["register"])
        number = hall.serve(s01, "1")
        tab.wait_for_selector("body[data-screen=levels]", timeout=TIMEOUT_MS)
        shown = time.monotonic()
        tab.wait_for_selector("body[data-screen=idle]", timeout=TIMEOUT_MS)
        assert 4.0 <= time.monotonic() - shown <= 9.0  # ~5 s; the upper bound leaves room for a loaded CI machine
        # The server agrees that the chance has passed.
        assert hall.rate_at_window("1", number, 5).status_code == 409


def test_rating_pad_says_already_rated_when_the_phone_rated_first(
    hall: Hall, tab: Any, live_server: LiveServer
) -> None:
    desk, s03 = hall.login("desk", "1234"), hall.login("s03", "1234")
    tab.goto(f"{live_server.url}/rate/{HALL}/3?lang=en")
    tab.wait_for_selector("#offline", state="hidden", timeout=TIMEOUT_MS)
    assert tab.inner_text(".welcome") == "Please rate our service after you are served"
    ticket = hall.issue(desk, ["register"])
    hall.serve(s03, "3")
    tab.wait_for_selector("body[data-screen=levels]", timeout=TIMEOUT_MS)
    # The visitor rates on the phone while the faces are up: the pad stops asking.
    r = hall.http.post(f"/api/tickets/{ticket['token']}/rating", json={"score": 5})
    assert r.status_code == 201, r.text
    tab.wait_for_selector("body[data-screen=thanks][data-result=already]", timeout=TIMEOUT_MS)
    assert tab.inner_text("#already-text") == "This visit has already been rated — thank you!"
    assert tab.is_hidden("#level-buttons")
    # Stale faces tapped by a slow hand would be refused anyway (one rating per visit).
    assert hall.rate_at_window("3", ticket["number"], 1).status_code == 409
