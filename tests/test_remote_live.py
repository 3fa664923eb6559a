"""Tickets from the phone before arriving (远程取号) against a real ``hallq serve``: the HTTP
route and its refusals (which leave Redis unchanged), and in headless Chromium the whole
flow: remote ticket on the phone → "when to set out" → the clerk calls → the phone shows the
window, vibrates and rings, and held the screen awake meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from server.config import demo_text
from tests.live import LiveServer, counted
from tests.test_api import assert_error, seq_of

TIMEOUT_MS = 10_000
PATH = "/api/halls/demo/remote-tickets"
DEMO_REMOTE = "[remote]\nenabled = true\nwithin_hours = true\ndaily_quota = 200\n"
ALWAYS_CLOSED = "".join(f"{day} = []\n" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


def hall_file(tmp_path: Path, name: str, remote: str, *, closed: bool = False) -> str:
    text = demo_text().replace(DEMO_REMOTE, remote)
    if closed:
        start = text.index("[hall.hours]\n") + len("[hall.hours]\n")
        text = text[:start] + ALWAYS_CLOSED + text[text.index("\n[[services]]") :]
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def dump(server: LiveServer) -> dict[str, Any]:
    """Every key of the server's database with its serialized value, but the per-minute
    counters of the anonymous rate limit (they count every attempt by design), once the
    statistics have counted every event so far."""
    client = sync_redis.Redis.from_url(server.redis_url)
    try:
        counted(client)
        return {k: client.dump(k) for k in client.scan_iter(count=1000) if b":rl:" not in k}
    finally:
        client.close()


def test_a_phone_takes_a_remote_ticket_like_the_kiosk(live_server: LiveServer) -> None:
    status, answer = live_server.request("POST", PATH, {"services": ["pension"], "id_number": "11010519491231002X"})
    assert status == 201, answer
    ticket = answer["ticket"]
    assert ticket["remote"] is True and ticket["number"] == "C001" and ticket["status"] == "waiting"
    assert answer["url"].endswith("/t/" + ticket["token"]) and answer["ahead"] == 0
    status, found = live_server.request("GET", f"/api/tickets/{ticket['token']}")
    assert status == 200 and found["ticket"]["remote"] is True
    # a kiosk ticket is not marked; the same ID number is refused at the kiosk and the phone alike
    assert "remote" not in live_server.issue(["register"])["ticket"]
    before = seq_of(live_server)
    assert_error(
        live_server.request(
            "POST", "/api/halls/demo/tickets", {"services": ["pension"], "id_number": "11010519491231002X"}
        ),
        409,
        "duplicate_ticket",
    )
    assert_error(
        live_server.request("POST", PATH, {"services": ["pension"], "id_number": "11010519491231002x"}),
        409,
        "duplicate_ticket",
    )
    # a priority ticket is given where staff can see why, never from a phone
    assert_error(live_server.request("POST", PATH, {"services": ["register"], "priority": True}), 422, "unknown_field")
    assert_error(live_server.request("POST", PATH, {"services": ["haircut"]}), 404, "unknown_service")
    assert_error(
        live_server.request("POST", "/api/halls/nowhere/remote-tickets", {"services": ["register"]}),
        404,
        "unknown_hall",
    )
    assert seq_of(live_server) == before
    status, page = live_server.request("GET", "/remote/demo")
    assert status == 200 and "/static/kiosk/remote.js" in page


def test_remote_refusals_leave_redis_unchanged(live_server_factory: Any, tmp_path: Path) -> None:
    quota = live_server_factory(config=hall_file(tmp_path, "quota", "[remote]\ndaily_quota = 1\n"))
    assert quota.request("POST", PATH, {"services": ["register"]})[0] == 201
    before = dump(quota)
    refused = quota.request("POST", PATH, {"services": ["photo"]})
    assert_error(refused, 409, "remote_quota")
    assert "remote" in refused[1]["error"]["message"]
    assert dump(quota) == before
    assert quota.request("POST", "/api/halls/demo/tickets", {"services": ["photo"]})[0] == 201, "kiosk unlimited"

    off = live_server_factory(config=hall_file(tmp_path, "off", ""))
    before = dump(off)
    assert_error(off.request("POST", PATH, {"services": ["register"]}), 403, "remote_off")
    assert dump(off) == before
    assert off.request("GET", "/api/halls/demo")[1]["remote"] is None

    closed = live_server_factory(config=hall_file(tmp_path, "closed", "[remote]\n", closed=True))
    before = dump(closed)
    assert_error(closed.request("POST", PATH, {"services": ["register"]}), 409, "remote_closed")
    assert dump(closed) == before


# --- in Chromium -------------------------------------------------------------------

# navigator.vibrate, the Wake Lock and the chime's play(), logged (headless Chromium has no
# vibrator and may refuse a lock; what the page asks for is what we check)
STUBS = """
window.__calls = [];
const log = (kind, value) => window.__calls.push({kind, value, visible: document.visibilityState});
Object.defineProperty(Navigator.prototype, 'vibrate', {
  configurable: true, value: function (pattern) { log('vibrate', pattern); return true; }});
const sentinel = () => {
  const listeners = [];
  const s = {released: false, type: 'screen',
    addEventListener: (type, fn) => listeners.push(fn),
    release: () => {
      s.released = true; log('release', null); listeners.forEach((fn) => fn()); return Promise.resolve();
    }};
  window.__lock = s;
  return s;
};
Object.defineProperty(Navigator.prototype, 'wakeLock', {
  configurable: true,
  get: () => ({request: (type) => { log('wakeLock', type); return Promise.resolve(sentinel()); }})});
HTMLMediaElement.prototype.play = function () { log('play', this.src); return Promise.resolve(); };
"""


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 360, "height": 640}, has_touch=True, locale="zh-CN")
    context.add_init_script(STUBS)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    context.close()


def calls(page: Any, kind: str) -> list[Any]:
    return [c["value"] for c in page.evaluate("window.__calls") if c["kind"] == kind]


def test_remote_ticket_then_the_call_reaches_the_phone(live_server: LiveServer, phone: Any) -> None:
    for _ in range(3):  # three visitors ahead at the kiosk
        live_server.issue(["register"])
    phone.goto(f"{live_server.url}/remote/demo")
    phone.wait_for_selector("#remote-form:not([hidden])", timeout=TIMEOUT_MS)
    assert "每日远程号源 200 个" in phone.inner_text("#quota")
    phone.wait_for_function(
        "document.querySelector(\"[data-waiting='register']\").textContent !== ''", timeout=TIMEOUT_MS
    )
    assert phone.inner_text("[data-waiting='register']") == "3 人等候"
    assert phone.get_attribute("#book-link a", "href") == "/book/demo" and phone.is_visible("#book-link")
    phone.check("input[name=service][value='register']")
    phone.click("#take")
    phone.wait_for_url("**/t/*", timeout=TIMEOUT_MS)
    phone.wait_for_selector("#view:not([hidden])", timeout=TIMEOUT_MS)
    assert phone.inner_text("#number") == "A004"
    assert phone.is_visible("#remote") and "远程取号" in phone.inner_text("#remote")
    # when to set out: 3 ahead; the default 30 minutes of travel
    phone.wait_for_selector("#set-out:not([hidden])", timeout=TIMEOUT_MS)
    text = phone.inner_text("#set-out-time")
    assert "出发" in text, text
    eta = live_server.request("GET", "/api/tickets/" + phone.url.rsplit("/", 1)[1])[1]["eta_s"]
    expected = max(0, eta - 30 * 60 - 300)
    assert abs(int(phone.get_attribute("#set-out", "data-set-out-s")) - expected) <= 5
    phone.select_option("#travel", "0")
    assert abs(int(phone.get_attribute("#set-out", "data-set-out-s")) - max(0, eta - 300)) <= 5
    assert phone.is_visible("#keep-open")
    # the screen is kept awake while the ticket waits, and asked again after the page was hidden
    phone.wait_for_function("window.__calls.some((c) => c.kind === 'wakeLock')", timeout=TIMEOUT_MS)
    assert calls(phone, "wakeLock") == ["screen"]
    phone.evaluate("window.__lock.release()")  # what the browser does when the page is hidden
    phone.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    phone.wait_for_function("window.__calls.filter((c) => c.kind === 'wakeLock').length === 2", timeout=TIMEOUT_MS)
    assert calls(phone, "vibrate") == []

    clerk = live_server.login("s01")
    for _ in range(3):
        assert live_server.act(clerk, "1", "call_next")[0] == 200
    status, called = live_server.act(clerk, "1", "call_next")
    assert status == 200 and called["ticket"]["number"] == "A004", called
    phone.wait_for_selector("#callout:not([hidden])", timeout=TIMEOUT_MS)
    assert "1号窗口" in phone.inner_text("#callout-window") or "1" in phone.inner_text("#callout-window")
    assert phone.get_attribute("#callout", "data-window") == "1"
    phone.wait_for_function("window.__calls.some((c) => c.kind === 'vibrate')", timeout=TIMEOUT_MS)
    assert calls(phone, "vibrate") == [[400, 200, 400, 200, 800]]
    assert any(src.endswith("/audio/chime.wav") for src in calls(phone, "play"))
    assert len(calls(phone, "wakeLock")) == 2, "one lock held, not one per update"

    # done: the screen may sleep again
    assert live_server.act(clerk, "1", "start")[0] == 200
    assert live_server.act(clerk, "1", "complete")[0] == 200
    phone.wait_for_selector("#done:not([hidden])", timeout=TIMEOUT_MS)
    phone.wait_for_function("window.__calls.filter((c) => c.kind === 'release').length === 2", timeout=TIMEOUT_MS)
    assert phone.errors == []
