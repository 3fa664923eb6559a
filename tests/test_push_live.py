"""Web Push against a real ``hallq serve`` and a stand-in push service (tests/push_service.py).

The stand-in verifies each push's VAPID signature and decrypts its payload with the
subscription's private key, which only the test holds: what it records is what a phone
would show.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from server.push import KEY_FILE
from server.queue.constants import keys_prefix
from tests.live import LiveServer
from tests.push_service import PushService


@pytest.fixture
def push_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLQ_PUSH_ALLOW_HTTP", "1")  # the stand-in is plain http on loopback
    monkeypatch.setenv("HALLQ_PUSH_TIMEOUT_S", "1")
    monkeypatch.setenv("HALLQ_PUSH_LEASE_S", "1")


@pytest.fixture
def service() -> Iterator[PushService]:
    stand_in = PushService()
    stand_in.start()
    yield stand_in
    stand_in.stop()


def subscribe(server: LiveServer, token: str, body: dict[str, Any]) -> tuple[int, Any]:
    return server.request("POST", f"/api/tickets/{token}/push", body)


def stored(server: LiveServer) -> dict[bytes, bytes]:
    client = sync_redis.Redis.from_url(server.redis_url)
    try:
        return dict(client.hgetall(keys_prefix("demo") + "push"))
    finally:
        client.close()


def test_three_ahead_then_your_turn_in_order(
    push_env: None, service: PushService, live_server_factory: Any, live_data: Path
) -> None:
    server: LiveServer = live_server_factory()
    status, key = server.request("GET", "/api/push/key")
    assert status == 200 and len(key["public_key"]) == 87  # base64url of a 65-byte point
    assert (live_data / KEY_FILE).exists()
    assert (live_data / KEY_FILE).stat().st_mode & 0o077 == 0

    tickets = [server.issue(["register"], lang="en")["ticket"] for _ in range(6)]
    mine = tickets[-1]
    phone = service.subscription()
    status, answer = subscribe(server, mine["token"], phone.json())
    assert (status, answer) == (201, {"push": True}), answer
    clerk = server.login("s03")
    # five ahead; each call takes one: 4, 3 (→ "3 ahead of you"), 2, 1, 0, then called
    assert server.act(clerk, "3", "call_next")[0] == 200
    time.sleep(1.0)
    assert service.received(phone) == []
    assert server.act(clerk, "3", "call_next")[0] == 200
    first = service.wait_for(phone, 1)[0]
    for _ in range(3):
        assert server.act(clerk, "3", "call_next")[0] == 200
    status, called = server.act(clerk, "3", "call_next")
    assert status == 200 and called["ticket"]["number"] == mine["number"], called
    pushes = service.wait_for(phone, 2)
    time.sleep(0.5)
    pushes = service.received(phone)
    assert [p.error for p in pushes] == ["", ""]
    assert first.payload is not None and first.payload["body"] == "3 ahead of you"
    assert pushes[1].payload is not None and pushes[1].payload["body"] == "Your turn at Window 3"
    assert pushes[1].payload["window"] == "3" and pushes[1].payload["url"] == f"/t/{mine['token']}"
    assert all(p.vapid_key == key["public_key"] for p in pushes)
    assert pushes[1].headers.get("Urgency") == "high"

    # the ticket ends: its subscription goes
    assert server.act(clerk, "3", "complete")[0] in (200, 409)
    assert server.act(clerk, "3", "call_next")[0] == 200
    deadline = time.monotonic() + 10
    while mine["token"].encode() in stored(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mine["token"].encode() not in stored(server)


def test_a_410_removes_the_subscription(push_env: None, service: PushService, live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory()
    ticket = server.issue(["register"], lang="en")["ticket"]
    phone = service.subscription()
    phone.status = 410
    assert subscribe(server, ticket["token"], phone.json())[0] == 201
    assert ticket["token"].encode() in stored(server)
    pushes = service.wait_for(phone, 1)  # 0 ahead: "You are next" at the next round
    assert pushes[0].payload is not None and pushes[0].payload["body"] == "You are next"
    deadline = time.monotonic() + 10
    while ticket["token"].encode() in stored(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ticket["token"].encode() not in stored(server)
    assert server.act(server.login("s01"), "1", "call_next")[0] == 200
    time.sleep(2.0)
    assert len(service.received(phone)) == 1  # nothing more after the 410


def test_a_hanging_push_service_never_slows_a_call(
    push_env: None, service: PushService, live_server_factory: Any
) -> None:
    server: LiveServer = live_server_factory()
    stuck, fine = (server.issue(["register"], lang="en")["ticket"] for _ in range(2))
    hanging, phone = service.subscription(), service.subscription()
    hanging.delay_s = 5.0
    assert subscribe(server, stuck["token"], hanging.json())[0] == 201
    assert subscribe(server, fine["token"], phone.json())[0] == 201
    service.wait_for(phone, 1)  # "You are next" / "1 ahead of you", while the other hangs
    clerk = server.login("s01")
    for _ in range(2):
        started = time.monotonic()
        status, _ = server.act(clerk, "1", "call_next")
        assert status == 200
        # the hanging service holds its push 5 s: a call that waited for it would take that long
        assert time.monotonic() - started < 2.0
    pushes = service.wait_for(phone, 2)
    assert pushes[-1].payload is not None and pushes[-1].payload["body"] == "Your turn at Window 1"
    deadline = time.monotonic() + 10  # the hanging service times out (HALLQ_PUSH_TIMEOUT_S) and is counted
    while time.monotonic() < deadline:
        status, metrics = server.request("GET", "/metrics")
        if 'outcome="network_error"' in metrics:
            break
        time.sleep(0.2)
    assert 'hallq_push_notifications_total{hall="demo",kind="call",outcome="ok"}' in metrics
    assert 'hallq_push_notifications_total{hall="demo",kind="ahead",outcome="network_error"}' in metrics
    assert "push service http://127.0.0.1 unreachable (ahead notice)" in server.log_path.read_text()


def test_subscriptions_are_validated(push_env: None, service: PushService, live_server: LiveServer) -> None:
    ticket = server_ticket = live_server.issue(["register"])["ticket"]
    good = service.subscription().json()
    bad_bodies: list[tuple[Any, int, str]] = [
        ([], 422, "bad_body"),
        ({"endpoint": good["endpoint"]}, 422, "missing_field"),
        ({**good, "extra": 1}, 422, "unknown_field"),
        ({**good, "endpoint": 5}, 422, "bad_field"),
        ({**good, "endpoint": "ftp://push.example/x"}, 422, "bad_subscription"),
        ({**good, "keys": {"p256dh": "abc", "auth": good["keys"]["auth"]}}, 422, "bad_subscription"),
        ({**good, "keys": {**good["keys"], "auth": "AAAA"}}, 422, "bad_subscription"),
        ({**good, "keys": {**good["keys"], "more": "x"}}, 422, "unknown_field"),
        ({**good, "expirationTime": "soon"}, 422, "bad_field"),
    ]
    for body, status, code in bad_bodies:
        got, answer = subscribe(live_server, ticket["token"], body)
        assert (got, answer["error"]["code"]) == (status, code), (body, answer)
        assert answer["error"]["message"]
    got, answer = subscribe(live_server, "nosuchtoken", good)
    assert got == 404 and answer["error"]["code"] == "unknown_ticket"
    assert subscribe(live_server, server_ticket["token"], good)[0] == 201
    assert live_server.request("DELETE", f"/api/tickets/{ticket['token']}/push")[1] == {"push": False}
    assert stored(live_server) == {}
    assert live_server.request("DELETE", f"/api/tickets/{ticket['token']}", None)[0] == 200
    got, answer = subscribe(live_server, ticket["token"], good)
    assert (got, answer["error"]["code"]) == (409, "ticket_ended")
    status, text = live_server.request("GET", "/push-sw.js")
    assert status == 200 and "showNotification" in text


STUB_PUSH = """
(subscription) => {
  window.__push = {options: null};
  Notification.requestPermission = () => Promise.resolve("granted");
  Object.defineProperty(Notification, "permission", {get: () => "granted"});
  PushManager.prototype.subscribe = function (options) {
    const bytes = new Uint8Array(options.applicationServerKey);
    let text = "";
    bytes.forEach((b) => { text += String.fromCharCode(b); });
    window.__push.options = {
      userVisibleOnly: options.userVisibleOnly,
      key: btoa(text).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, ""),
    };
    return Promise.resolve({toJSON: () => subscription});
  };
}
"""


def test_the_page_registers_the_worker_and_subscribes_with_the_server_key(
    push_env: None, service: PushService, live_server_factory: Any, browser: Any
) -> None:
    server: LiveServer = live_server_factory()
    ticket = server.issue(["register"], lang="en")["ticket"]
    phone = service.subscription()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.add_init_script(f"({STUB_PUSH})({json.dumps(phone.json())})")
        page.goto(f"{server.url}/t/{ticket['token']}")
        button = page.locator("#push")
        button.wait_for(state="visible")
        assert button.text_content() == "Notify me"
        button.click()
        page.wait_for_function("document.getElementById('push').getAttribute('aria-pressed') === 'true'")
        options = page.evaluate("window.__push.options")
        key = server.request("GET", "/api/push/key")[1]["public_key"]
        assert options == {"userVisibleOnly": True, "key": key}
        scope = page.evaluate("navigator.serviceWorker.getRegistration('/t/').then(r => r && r.scope)")
        assert scope == f"{server.url}/t/"
        assert ticket["token"].encode() in stored(server)
        pushes = service.wait_for(phone, 1)  # and the stand-in gets the notice, decrypted
        assert pushes[0].payload is not None and pushes[0].payload["body"] == "You are next"
        # a second tap turns it off
        button.click()
        page.wait_for_function("document.getElementById('push').getAttribute('aria-pressed') === 'false'")
        assert stored(server) == {}
    finally:
        context.close()


def test_no_button_without_push_manager(live_server: LiveServer, browser: Any) -> None:
    ticket = live_server.issue(["register"])["ticket"]
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script("delete window.PushManager")
        page.goto(f"{live_server.url}/t/{ticket['token']}")
        page.locator("#number").wait_for(state="visible")
        assert page.locator("#push").is_hidden()
    finally:
        context.close()


def test_two_workers_send_each_notice_once(push_env: None, service: PushService, live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory(workers=2)
    _first, mine = (server.issue(["register"], lang="en")["ticket"] for _ in range(2))
    phone = service.subscription()
    assert subscribe(server, mine["token"], phone.json())[0] == 201
    service.wait_for(phone, 1)
    clerk = server.login("s02")
    for _ in range(2):
        assert server.act(clerk, "2", "call_next")[0] == 200
    service.wait_for(phone, 2)
    time.sleep(3.0)  # a second sender would have sent by now (rounds every lease/3 s)
    bodies = [p.payload["body"] if p.payload else p.error for p in service.received(phone)]
    assert bodies == ["1 ahead of you", "Your turn at Window 2"]
