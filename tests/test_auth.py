"""Staff sessions, roles and who may open which socket, against a real ``hallq serve``.

Login with a PIN gives a server-side token (revocable by logout); wrong PINs are
counted per staff id and per client address; clerk-only, admin-only and window
ownership rules hold on HTTP and on pad sockets; a socket that authenticates with
the session cookie must come from our own origin; tokens never reach the log.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.auth import MAX_DELAY_S, delay_after
from server.embedded import EmbeddedRedis
from tests.live import LiveServer, fresh_database
from tests.test_api import assert_error
from tests.test_sockets import display_url, open_socket, pad_url, visitor_url

# --- login, me, logout ------------------------------------------------------------------


def test_login_me_and_logout(live_server: LiveServer) -> None:
    status, body = live_server.request("POST", "/api/auth/login", {"hall": "demo", "staff": "s01", "pin": "1234"})
    assert status == 200
    assert body["staff"] == {"id": "s01", "name": body["staff"]["name"], "role": "clerk", "windows": None}
    assert body["hall"] == "demo"
    token = body["token"]
    assert token.startswith("demo.") and len(token) >= 40
    assert live_server.request("GET", "/api/auth/me", token=token) == (200, {"staff": body["staff"], "hall": "demo"})
    # each login is its own session
    assert live_server.login("s01") != token
    assert live_server.request("POST", "/api/auth/logout", token=token)[0] == 200
    assert_error(live_server.request("GET", "/api/auth/me", token=token), 401, "not_logged_in")
    assert_error(live_server.act(token, "1", "call_next"), 401, "not_logged_in")
    assert_error(live_server.request("POST", "/api/auth/logout", token=token), 401, "not_logged_in")
    assert_error(live_server.request("GET", "/api/auth/me"), 401, "not_logged_in")


def test_login_sets_an_httponly_strict_cookie(live_server: LiveServer) -> None:
    request = urllib.request.Request(
        live_server.url + "/api/auth/login",
        method="POST",
        data=json.dumps({"hall": "demo", "staff": "desk", "pin": "1234"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        cookie = answer.headers["set-cookie"]
        token = json.loads(answer.read())["token"]
    assert cookie.startswith(f"hallq_session={token}")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()


def login_from(server: LiveServer, address: str, staff: str, pin: str) -> tuple[int, Any]:
    """A login sent from another loopback address (127.0.0.2 …): another client to the server."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10, source_address=(address, 0))
    try:
        body = json.dumps({"hall": "demo", "staff": staff, "pin": pin})
        connection.request("POST", "/api/auth/login", body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def test_wrong_pins_are_refused_then_slowed_down(live_server: LiveServer) -> None:
    login = "/api/auth/login"
    assert_error(
        live_server.request("POST", login, {"hall": "demo", "staff": "nobody", "pin": "1234"}), 401, "bad_credentials"
    )
    assert_error(
        live_server.request("POST", login, {"hall": "nowhere", "staff": "s02", "pin": "1234"}), 404, "unknown_hall"
    )
    assert_error(live_server.request("POST", login, {"hall": "demo", "staff": "s02"}), 422, "missing_field")
    assert_error(live_server.request("POST", login, {"hall": "demo", "staff": "s02", "pin": 1234}), 422, "bad_field")
    for _ in range(3):
        assert_error(
            live_server.request("POST", login, {"hall": "demo", "staff": "s02", "pin": "9999"}), 401, "bad_credentials"
        )
    # three failures in a row: this address now waits before trying s02 again, the PIN unchecked
    status, body = live_server.request("POST", login, {"hall": "demo", "staff": "s02", "pin": "1234"})
    assert_error((status, body), 429, "too_many_attempts")
    assert body["error"]["retry_after_s"] == 1
    time.sleep(1.1)
    assert live_server.request("POST", login, {"hall": "demo", "staff": "s02", "pin": "9999"})[0] == 401
    status, body = live_server.request("POST", login, {"hall": "demo", "staff": "s02", "pin": "1234"})
    assert status == 429 and body["error"]["retry_after_s"] == 2  # growing: 1, 2, 4 … s
    # ...while the other staff can still log in from here
    assert live_server.login("s03")


def test_guessing_from_one_address_never_locks_the_clerk_out_elsewhere(live_server: LiveServer) -> None:
    """Staff ids are public: someone guessing s02's PIN must not keep s02 from logging in."""
    answers = [login_from(live_server, "127.0.0.2", "s02", f"{pin:04d}")[0] for pin in range(8)]
    assert answers[:3] == [401, 401, 401] and set(answers[3:]) == {429}
    status, body = login_from(live_server, "127.0.0.3", "s02", "1234")
    assert status == 200 and body["staff"]["id"] == "s02"
    # the guesser's own address stays slowed down, right PIN or not
    assert login_from(live_server, "127.0.0.2", "s02", "1234")[0] == 429


def test_an_unknown_staff_id_costs_as_much_time_as_a_wrong_pin(live_server: LiveServer) -> None:
    """Otherwise the answer time tells which staff ids exist (2 ms against 45 ms)."""

    def timed(staff: str, address: str) -> float:
        started = time.perf_counter()
        assert login_from(live_server, address, staff, "0000")[0] == 401
        return time.perf_counter() - started

    wrong = sorted(timed(f"s0{i}", "127.0.0.4") for i in range(1, 6))
    unknown = sorted(timed(f"nobody{i}", "127.0.0.5") for i in range(5))
    assert unknown[2] > 0.5 * wrong[2], (unknown, wrong)


def test_failed_logins_are_counted_per_client_address(live_server: LiveServer) -> None:
    login = "/api/auth/login"
    for i in range(20):
        assert live_server.request("POST", login, {"hall": "demo", "staff": f"guess{i}", "pin": "0000"})[0] == 401
    assert_error(
        live_server.request("POST", login, {"hall": "demo", "staff": "s04", "pin": "1234"}), 429, "too_many_attempts"
    )


# --- roles --------------------------------------------------------------------------------


def test_roles_on_http(live_server: LiveServer) -> None:
    clerk, desk = live_server.login("s01"), live_server.login("desk")
    admin = live_server.login("admin", "admin1234")
    live_server.issue(["register"])
    live_server.issue(["register"])
    actions = "/api/halls/demo/windows/1/actions"
    assert_error(live_server.request("POST", actions, {"action": "call_next"}), 401, "not_logged_in")
    assert_error(live_server.request("POST", actions, {"action": "call_next"}, token=desk), 403, "forbidden")
    assert_error(live_server.request("POST", actions, {"action": "call_next"}, token="demo.x"), 401, "not_logged_in")
    assert_error(
        live_server.request("POST", actions, {"action": "call_next"}, token="elsewhere." + "a" * 40),
        401,
        "not_logged_in",
    )
    assert live_server.act(clerk, "1", "call_next")[0] == 200
    # another clerk, and the admin, may not act at a window a clerk holds...
    assert_error(live_server.act(live_server.login("s02"), "1", "call_next"), 409, "window_taken")
    assert_error(live_server.act(admin, "1", "call_next"), 409, "window_taken")
    # ...but the admin may act at a free one
    assert live_server.act(admin, "2", "call_next")[0] == 200
    assert_error(live_server.request("POST", "/api/halls/demo/notice", {"text": "x"}, token=clerk), 403, "forbidden")
    assert_error(live_server.request("POST", "/api/halls/demo/notice", {"text": "x"}, token=desk), 403, "forbidden")
    assert live_server.request("POST", "/api/halls/demo/notice", {"text": "x"}, token=admin)[0] == 200


# --- sockets ------------------------------------------------------------------------------


async def refused(url: str, first: dict[str, object] | None = None, **options: object) -> tuple[dict[str, object], int]:
    """Open ``url`` (sending ``first`` if given), expect an error message and a close; answer
    (error, close code)."""
    async with open_socket(url, **options) as peer:
        if first is not None:
            await peer.send(first)
        message = await peer.recv()
        assert message["type"] == "error", message
        with pytest.raises(ConnectionClosed) as closed:
            await peer.recv()
        assert closed.value.rcvd is not None
        return message["error"], closed.value.rcvd.code


async def test_pad_sockets_refuse_the_wrong_people(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    desk = await asyncio.to_thread(live_server.login, "desk")
    error, code = await refused(pad_url(live_server, "1", "demo.not-a-session-token-at-all"))
    assert error["code"] == "not_logged_in" and code == 4401
    # no token in the URL or a cookie: the first message must authenticate, an action does not
    error, code = await refused(f"{live_server.ws_url}/ws/halls/demo/windows/1", first={"action": "call_next"})
    assert error["code"] == "not_logged_in" and code == 4401
    # no token in the URL: the first message must bring one (first-message auth)
    error, code = await refused(f"{live_server.ws_url}/ws/halls/demo/windows/1", {"type": "auth"})
    assert error["code"] == "not_logged_in" and code == 4401
    error, code = await refused(pad_url(live_server, "1", desk))
    assert error["code"] == "forbidden" and code == 4403
    error, code = await refused(pad_url(live_server, "9", clerk))
    assert error["code"] == "unknown_window" and code == 4404
    error, code = await refused(f"{live_server.ws_url}/ws/halls/nowhere/windows/1?token={clerk}")
    assert error["code"] == "unknown_window" and code == 4404
    # a clerk's pad at another clerk's window is answered, not obeyed
    await asyncio.to_thread(live_server.issue, ["register"])
    assert (await asyncio.to_thread(live_server.act, clerk, "1", "call_next"))[0] == 200
    other = await asyncio.to_thread(live_server.login, "s02")
    async with open_socket(pad_url(live_server, "1", other)) as pad:
        assert (await pad.recv())["type"] == "window_state"
        await pad.send({"action": "call_next", "request_id": "steal"})
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is False and result["error"]["code"] == "window_taken"
    # a pad whose session is logged out stops acting at once
    async with open_socket(pad_url(live_server, "1", clerk)) as pad:
        await pad.recv()
        await asyncio.to_thread(live_server.request, "POST", "/api/auth/logout", None, clerk)
        await pad.send({"action": "recall", "request_id": "after-logout"})
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is False and result["error"]["code"] == "not_logged_in"


async def test_cookie_sockets_must_come_from_our_origin(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    url = f"{live_server.ws_url}/ws/halls/demo/windows/1"
    cookie = {"Cookie": f"hallq_session={clerk}"}
    error, code = await refused(url, additional_headers=cookie, origin="http://evil.example")
    assert error["code"] == "bad_origin" and code == 4403
    error, code = await refused(url, additional_headers=cookie)  # no Origin at all
    assert error["code"] == "bad_origin"
    error, code = await refused(url, additional_headers=cookie, origin=f"http://127.0.0.1:{live_server.port + 1}")
    assert error["code"] == "bad_origin"
    async with open_socket(url, additional_headers=cookie, origin=f"http://127.0.0.1:{live_server.port}") as pad:
        assert (await pad.recv())["type"] == "window_state"


# --- tokens never reach the log -----------------------------------------------------------


class AccessLoggedServer(LiveServer):
    """A live server with uvicorn's access log on (the fixture turns it off)."""

    def start(self, timeout: float = 30.0) -> None:
        command = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
            "--access-log",
            "--log-level",
            "debug",
        ]
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALLQ_SECRET": "test-secret"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-2000:]
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("hallq serve did not start")


@pytest.fixture
def logged_server(redis_server: EmbeddedRedis, tmp_path: Path) -> Iterator[LiveServer]:
    server = AccessLoggedServer(fresh_database(redis_server), tmp_path)
    server.start()
    yield server
    server.stop()


async def test_tokens_never_reach_the_log(logged_server: LiveServer) -> None:
    server = logged_server
    clerk = await asyncio.to_thread(server.login, "s01")
    ticket = (await asyncio.to_thread(server.issue, ["register"]))["ticket"]["token"]
    for path in (
        f"/api/tickets/{ticket}",
        f"/api/tickets/{ticket}/qr.svg",
        f"/t/{ticket}",
        f"/api/tickets/{ticket}?token={clerk}",
    ):
        await asyncio.to_thread(server.request, "GET", path)
    async with open_socket(pad_url(server, "1", clerk)) as pad, open_socket(visitor_url(server, ticket)) as phone:
        assert (await pad.recv())["type"] == "window_state"
        assert (await phone.recv())["type"] == "ticket"
        await pad.send({"action": "call_next", "request_id": "r1"})
        await pad.until(lambda m: m.get("type") == "result")
    await asyncio.to_thread(server.request, "DELETE", f"/api/tickets/{ticket}")
    # refused sockets are logged too
    async with connect(f"{server.ws_url}/ws/halls/demo/windows/1?token=demo.{'x' * 40}", proxy=None) as ws:
        await ws.recv()
    await asyncio.sleep(0.3)  # let the log lines be written
    log = server.log_path.read_text()
    assert "/ws/halls/demo/windows/1" in log and "/api/tickets/" in log, "the access log was not on"
    for secret in (clerk, clerk.split(".", 1)[1], ticket, ticket.split(".", 1)[1], "x" * 40):
        assert secret not in log, f"a token reached the log: {secret[:12]}…"


def test_login_delays_grow_and_are_capped() -> None:
    assert [delay_after(n) for n in range(1, 8)] == [0, 0, 1, 2, 4, 8, 16]
    assert delay_after(100) == MAX_DELAY_S


async def test_public_sockets_and_state_carry_clerk_names_not_staff_ids(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    await asyncio.to_thread(live_server.issue, ["register"])
    async with open_socket(display_url(live_server)) as display:
        await display.recv()
        await asyncio.to_thread(live_server.act, clerk, "1", "call_next")
        await asyncio.to_thread(live_server.act, clerk, "1", "pause")
        events = await display.collect(lambda m: m.get("type") == "window.paused")
        _, state = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
    public = json.dumps([events, state], ensure_ascii=False)
    assert "李明" in public and "s01" not in public


# --- one window per clerk -----------------------------------------------------------------


def test_a_clerk_holds_one_window_at_a_time(live_server: LiveServer) -> None:
    clerk = live_server.login("s01")
    other_session = live_server.login("s01")  # the same clerk on a second device
    assert live_server.act(clerk, "1", "open")[0] == 200
    before = live_server.request("GET", "/api/halls/demo/state")[1]
    for token, window in ((clerk, "2"), (other_session, "3"), (clerk, "5")):
        status, body = live_server.act(token, window, "call_next")
        assert_error((status, body), 409, "holds_another_window")
        assert "window 1" in body["error"]["message"]
    after = live_server.request("GET", "/api/halls/demo/state")[1]
    assert after["seq"] == before["seq"] and after["windows"] == before["windows"]
    # close it there, and the next window opens
    assert live_server.act(clerk, "1", "close")[0] == 200
    status, body = live_server.act(other_session, "2", "open")
    assert status == 200 and body["window"]["status"] == "idle"


async def test_a_hall_may_let_a_clerk_hold_more_windows(engine: Any, hall: Any, redis: Any) -> None:
    from dataclasses import replace

    from server.queue.engine import Engine
    from server.queue.errors import Refusal

    roomy = Engine(
        redis, replace(hall, rules=replace(hall.rules, windows_per_clerk=2)), secret=b"k", clock=engine.clock
    )
    clerk = hall.staff_member("s01")
    await roomy.act("1", "open", clerk)
    await roomy.act("2", "open", clerk)
    with pytest.raises(Refusal) as refused:
        await roomy.act("3", "open", clerk)
    assert refused.value.code == "holds_another_window"


def test_windows_per_clerk_is_read_from_the_hall_file() -> None:
    from server.config import demo_text, parse_hall
    from server.toml_locator import ConfigError

    assert parse_hall(demo_text()).rules.windows_per_clerk == 1
    three = demo_text().replace("[rules]\n", "[rules]\nwindows_per_clerk = 3\n", 1)
    assert parse_hall(three).rules.windows_per_clerk == 3
    with pytest.raises(ConfigError, match="windows_per_clerk"):
        parse_hall(demo_text().replace("[rules]\n", "[rules]\nwindows_per_clerk = 0\n", 1))
