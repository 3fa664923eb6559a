"""Hardening of the process tree: one server per data folder, no orphans, no twins.

Each test runs the real ``hallq serve`` with its embedded redis-server and kills parts
of it the way an operator, a crash or a process manager would.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.live import LiveServer
from tests.processes import (
    EmbeddedServer,
    alive,
    health,
    redis_child,
    speech_processes,
    wait_for,
    worker_children,
)
from tests.test_sockets import display_url, open_socket, pad_url


@pytest.fixture
def embedded_server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    yield server
    server.stop()


def test_a_second_server_on_the_same_data_folder_is_refused(embedded_server: EmbeddedServer) -> None:
    first = embedded_server
    assert first.process is not None
    ticket = first.issue(["register"])["ticket"]
    sock = first.data_dir / "redis" / "redis.sock"
    inode = sock.stat().st_ino
    twin = EmbeddedServer(first.data_dir, env={"HALLQ_LOCK_WAIT_S": "1"})
    process = twin.launch()
    assert process.wait(30) == 3
    assert "is in use by another hallq server" in twin.log_text()
    assert f"pid {first.process.pid}" in twin.log_text()
    # the live server's socket was left alone, and it goes on serving
    assert sock.stat().st_ino == inode
    assert health(first) == 200
    assert first.request("GET", f"/api/tickets/{ticket['token']}")[0] == 200
    assert first.issue(["register"])["ticket"]["number"] == "A002"


def test_killing_the_process_group_leaves_no_redis_and_a_restart_has_everything(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data")
    server.start()
    try:
        assert server.process is not None
        issued = [server.issue(["register"])["ticket"] for _ in range(3)]
        redis = redis_child(server.process.pid)
        assert redis is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
        # the redis-server (in a session of its own) hears its parent die and stops cleanly
        wait_for(lambda: not alive(redis), 10, "the orphaned redis-server to stop")
        again = EmbeddedServer(server.data_dir, port=server.port)
        again.start()
        try:
            assert again.process is not None
            assert len([c for c in [redis_child(again.process.pid)] if c]) == 1
            for ticket in issued:
                status, found = again.request("GET", f"/api/tickets/{ticket['token']}")
                assert status == 200 and found["ticket"]["number"] == ticket["number"]
            assert again.issue(["register"])["ticket"]["number"] == "A004"
        finally:
            again.stop()
    finally:
        server.stop()


def test_killing_only_the_parent_stops_its_workers_and_redis(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "data", workers=2)
    server.start()
    try:
        assert server.process is not None
        wait_for(lambda: len(worker_children(server.process.pid)) == 2, 20, "two workers")  # type: ignore[union-attr]
        # the speech worker starts at the first phrase missing from the (empty) cache
        status, _ = server.request("GET", "/audio/demo/zh/A001/1.wav")
        assert status == 200
        assert len(speech_processes(server.process.pid)) == 1  # type: ignore[union-attr]
        workers = worker_children(server.process.pid) + speech_processes(server.process.pid)
        redis = redis_child(server.process.pid)
        assert redis is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        wait_for(lambda: not any(alive(p) for p in [*workers, redis]), 15, "workers, speech and redis to stop")
        # nobody serves on the port any more
        time.sleep(0.2)
        assert health(server) is None
    finally:
        server.stop()
        for pid in [*worker_children(server.process.pid if server.process else 0)]:
            os.kill(pid, signal.SIGKILL)


# --- bad input never reaches a 500 ---------------------------------------------------------


def raw_request(
    server: LiveServer,
    method: str,
    path: str,
    data: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """An HTTP request with a raw body; (status, parsed JSON or text, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        connection.request(method, path, data, sent)
        answer = connection.getresponse()
        raw = answer.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        return answer.status, body, {k.lower(): v for k, v in answer.getheaders()}
    finally:
        connection.close()


def hall_fingerprint(server: LiveServer) -> tuple[int, Any]:
    status, state = server.request("GET", "/api/halls/demo/state")
    assert status == 200
    return state["seq"], state["waiting"]


def test_deeply_nested_json_is_refused_on_every_json_route(live_server: LiveServer) -> None:
    clerk, admin = live_server.login("s01"), live_server.login("admin", "admin1234")
    ticket = live_server.issue(["register"])["ticket"]
    before = hall_fingerprint(live_server)
    nested = b"[" * 2000 + b"]" * 2000
    deep_object = b'{"services":' + b"[" * 2000 + b"]" * 2000 + b"}"
    for path, token in (
        ("/api/halls/demo/tickets", None),
        ("/api/auth/login", None),
        (f"/api/tickets/{ticket['token']}/rating", None),
        (f"/api/tickets/{ticket['token']}/push", None),
        ("/api/halls/demo/windows/1/actions", clerk),
        ("/api/halls/demo/windows/1/rating", None),
        ("/api/halls/demo/notice", admin),
    ):
        for body in (nested, deep_object):
            status, answer, _ = raw_request(live_server, "POST", path, body, token)
            assert status == 400 and answer["error"]["code"] == "bad_json", (path, status, answer)
            assert "nested too deeply" in answer["error"]["message"]
    assert hall_fingerprint(live_server) == before


def test_lone_surrogates_are_refused_with_422(live_server: LiveServer) -> None:
    before = hall_fingerprint(live_server)
    for path, body in (
        ("/api/halls/demo/tickets", b'{"services":["register"],"id_number":"\\ud800"}'),
        ("/api/halls/demo/tickets", b'{"services":["register"],"request_id":"x\\udfff"}'),
        ("/api/halls/demo/tickets", b'{"services":["\\ud800"]}'),
        ("/api/auth/login", b'{"hall":"demo","staff":"\\ud800","pin":"1234"}'),
    ):
        status, answer, _ = raw_request(live_server, "POST", path, body)
        assert status == 422 and answer["error"]["code"] == "bad_text", (path, status, answer)
    assert hall_fingerprint(live_server) == before


async def test_a_since_that_is_no_number_closes_with_4400(live_server: LiveServer) -> None:
    for since in ("%C2%B2", "%D9%A3", "-1", "1e3", "9" * 40):
        async with connect(f"{live_server.ws_url}/ws/halls/demo/display?since={since}") as ws:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message["error"]["code"] == "bad_since"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    await asyncio.to_thread(live_server.issue, ["register"])
    async with open_socket(display_url(live_server, since=0)) as display:  # a number still works
        assert (await display.recv())["seq"] == 1


async def test_a_pad_frame_nested_too_deeply_is_answered_and_the_pad_stays(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    async with open_socket(pad_url(live_server, "1", clerk)) as pad:
        assert (await pad.recv())["type"] == "window_state"
        await pad.send("[" * 2000 + "]" * 2000)
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is False and result["error"]["code"] == "bad_json"
        await pad.send('{"action":"open","request_id":"\\ud800"}')
        result = await pad.until(lambda m: m.get("type") == "result")
        assert result["ok"] is False and result["error"]["code"] == "bad_text"
        await pad.send({"action": "open", "request_id": "fine"})
        assert (await pad.until(lambda m: m.get("type") == "result"))["ok"] is True


def test_refused_requests_do_not_use_up_the_anonymous_limit(live_server: LiveServer) -> None:
    for i in range(40):  # more than the 30 issues a minute an address may make
        body = {"services": [f"nothing{i}"]} if i % 2 else {"services": [1, 2]}
        assert live_server.request("POST", "/api/halls/demo/tickets", body)[0] in (404, 422)
    assert live_server.issue(["register"])["ticket"]["number"] == "A001"


def test_a_qr_code_for_a_ticket_that_does_not_exist_is_404(live_server: LiveServer) -> None:
    ticket = live_server.issue(["register"])["ticket"]
    status, _, headers = raw_request(live_server, "GET", f"/api/tickets/{ticket['token']}/qr.svg")
    assert status == 200 and headers["content-type"].startswith("image/svg+xml")
    status, answer, _ = raw_request(live_server, "GET", "/api/tickets/demo.AAAAAAAAAAAAAAAAAAAAAAAA/qr.svg")
    assert status == 404 and answer["error"]["code"] == "unknown_ticket"


async def test_a_script_error_is_a_request_problem_not_an_outage(redis: Any) -> None:
    """A Lua error (here cjson refusing its input) is told apart from an unreachable Redis."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError

    from server.app import is_script_error

    with pytest.raises(ResponseError) as script:
        await redis.eval("return cjson.decode(ARGV[1])", 0, '"\\ud800')
    assert is_script_error(script.value)
    assert not is_script_error(RedisConnectionError("connection refused"))
    with pytest.raises(ResponseError) as wrong_type:
        await redis.execute_command("NOSUCHCOMMAND")
    assert not is_script_error(wrong_type.value)


def test_hall_files_with_a_bom_load_and_invalid_utf8_is_one_clear_problem(tmp_path: Path) -> None:
    from server.config import demo_text

    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + demo_text().encode())
    broken = tmp_path / "broken.toml"
    broken.write_bytes(demo_text().encode().replace("人力社保".encode(), b"\xff\xfe", 1))
    ok = subprocess.run([sys.executable, "-m", "server.cli", "check-config", str(bom)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(broken)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr and "is not UTF-8 text" in bad.stderr and "line " in bad.stderr


# --- cross-site writes and browser headers ---------------------------------------------------


def notice_of(server: LiveServer) -> str:
    return str(server.request("GET", "/api/halls/demo/state")[1].get("notice", ""))


def test_a_page_on_another_port_cannot_change_the_hall_with_the_cookie(live_server: LiveServer) -> None:
    """Same host, other port: the same *site*, so SameSite=Strict still sends the cookie."""
    admin = live_server.login("admin", "admin1234")
    cookie = {"Cookie": f"hallq_session={admin}"}
    evil = "http://127.0.0.1:9999"
    path = "/api/halls/demo/notice"
    # the text/plain form of the attack (no preflight, cookie attached by the browser)
    status, answer, _ = raw_request(
        live_server, "POST", path, b'{"text":"pwned"}', headers={**cookie, "Content-Type": "text/plain", "Origin": evil}
    )
    assert status == 415 and answer["error"]["code"] == "json_required"
    status, answer, _ = raw_request(
        live_server,
        "POST",
        path,
        b"text=pwned",
        headers={**cookie, "Content-Type": "application/x-www-form-urlencoded", "Origin": evil},
    )
    assert status == 415
    status, answer, _ = raw_request(
        live_server,
        "POST",
        path,
        b'{"text":"pwned"}',
        headers={**cookie, "Content-Type": "application/json", "Origin": evil},
    )
    assert status == 403 and answer["error"]["code"] == "cross_site"
    status, answer, _ = raw_request(
        live_server,
        "POST",
        path,
        b'{"text":"pwned"}',
        headers={**cookie, "Content-Type": "application/json", "Sec-Fetch-Site": "same-site"},
    )
    assert status == 403 and answer["error"]["code"] == "cross_site"
    assert notice_of(live_server) == ""
    # our own page (same origin) and any Bearer client still work
    own = f"http://127.0.0.1:{live_server.port}"
    status, _, _ = raw_request(
        live_server,
        "POST",
        path,
        b'{"text":"ok"}',
        headers={**cookie, "Content-Type": "application/json", "Origin": own},
    )
    assert status == 200 and notice_of(live_server) == "ok"
    assert live_server.request("POST", path, {"text": "bearer"}, token=admin)[0] == 200


def test_every_page_and_answer_carries_the_browser_headers(live_server: LiveServer) -> None:
    ticket = live_server.issue(["register"])["ticket"]
    for path in (
        "/display/demo",
        "/display/demo/windows/1",
        "/kiosk/demo",
        "/desk/demo",
        "/pad/demo",
        f"/t/{ticket['token']}",
        "/rate/demo/1",
        "/admin/demo",
        "/api/halls/demo",
        "/healthz",
        "/nowhere",
    ):
        _, _, headers = raw_request(live_server, "GET", path)
        policy = headers["content-security-policy"]
        script_src = next(p for p in policy.split(";") if p.strip().startswith("script-src"))
        assert script_src.strip() == "script-src 'self'", path
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_the_session_cookie_is_secure_behind_an_https_proxy(live_server: LiveServer) -> None:
    body = b'{"hall":"demo","staff":"s01","pin":"1234"}'
    _, _, plain = raw_request(live_server, "POST", "/api/auth/login", body)
    assert "secure" not in plain["set-cookie"].lower()
    # uvicorn trusts X-Forwarded-Proto from the loopback proxy (forwarded_allow_ips)
    _, _, proxied = raw_request(live_server, "POST", "/api/auth/login", body, headers={"X-Forwarded-Proto": "https"})
    assert "; secure" in proxied["set-cookie"].lower()


def test_no_page_breaks_the_content_security_policy(live_server: LiveServer, browser: Any) -> None:
    """Every page runs with the CSP: no inline script or handler is refused by Chromium."""
    context = browser.new_context(bypass_csp=False)
    page = context.new_page()
    try:
        check_pages_under_csp(live_server, page)
    finally:
        context.close()


def check_pages_under_csp(live_server: LiveServer, page: Any) -> None:
    ticket = live_server.issue(["register"])["ticket"]
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text else None)
    page.on("pageerror", lambda error: violations.append(str(error)))
    for path in (
        "/display/demo",
        "/display/demo/windows/1",
        "/kiosk/demo",
        "/desk/demo",
        "/pad/demo",
        f"/t/{ticket['token']}",
        "/rate/demo/1",
        "/admin/demo",
    ):
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
        if path.startswith(("/display", "/rate")):
            assert page.evaluate("window.HALL && window.HALL.id") == "demo", path
    assert violations == []


# --- bounded connections ---------------------------------------------------------------------


def open_idle(server: LiveServer, count: int, address: str = "127.0.0.1") -> list[socket.socket]:
    held = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", server.port), timeout=5, source_address=(address, 0))
        held.append(client)
    return held


def closed_by_server(client: socket.socket, within: float) -> bool:
    client.settimeout(within)
    try:
        return client.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def closed_within(clients: list[socket.socket], seconds: float) -> list[socket.socket]:
    """The clients the server closes within ``seconds``, all watched at once (one by one, each
    one left open would cost the whole wait)."""
    closed: list[socket.socket] = []
    with selectors.DefaultSelector() as watching:
        for client in clients:
            watching.register(client, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while watching.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in watching.select(left):
                client = key.fileobj
                assert isinstance(client, socket.socket)
                watching.unregister(client)
                if closed_by_server(client, 0.1):
                    closed.append(client)
    return closed


def test_connections_that_send_no_request_are_closed(live_server: LiveServer) -> None:
    idle = open_idle(live_server, 3)
    slow = open_idle(live_server, 1)[0]
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
    started = time.monotonic()
    try:
        for client in [*idle, slow]:
            assert closed_by_server(client, 8), "an idle connection must be closed within a few seconds"
        assert time.monotonic() - started < 8
        assert health(live_server) == 200
    finally:
        for client in [*idle, slow]:
            client.close()


def test_one_address_cannot_take_every_connection(live_server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLQ_MAX_CONNECTIONS_PER_ADDRESS", "20")
    monkeypatch.setenv("HALLQ_HEADER_TIMEOUT_S", "30")
    server: LiveServer = live_server_factory()
    held = open_idle(server, 30, "127.0.0.2")
    try:
        refused = closed_within(held, 1.0)
        assert len(refused) == 10
        assert health(server) == 200  # another address (a health check, a clerk) still gets in
    finally:
        for client in held:
            client.close()


async def test_websockets_are_capped_per_address_and_kind(
    live_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALLQ_MAX_SOCKETS_PER_ADDRESS", "display=3,visitor=2")
    server: LiveServer = await asyncio.to_thread(live_server_factory)
    clerk = await asyncio.to_thread(server.login, "s01")
    url = f"{server.ws_url}/ws/halls/demo/display"
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            display = await stack.enter_async_context(connect(url, local_addr=("127.0.0.2", 0)))
            assert json.loads(await asyncio.wait_for(display.recv(), 5))["type"] == "snapshot"
        async with connect(url, local_addr=("127.0.0.2", 0)) as fourth:
            refusal = json.loads(await asyncio.wait_for(fourth.recv(), 5))
            assert refusal["error"]["code"] == "too_many_sockets"
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(fourth.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        # other addresses, and the staff's pads from the same address, still get in
        async with open_socket(display_url(server)) as other:
            assert (await other.recv())["type"] == "snapshot"
        async with connect(pad_url(server, "1", clerk), local_addr=("127.0.0.2", 0)) as pad:
            assert json.loads(await asyncio.wait_for(pad.recv(), 5))["type"] == "window_state"
    # places are given back when sockets close
    async with connect(url, local_addr=("127.0.0.2", 0)) as again:
        assert json.loads(await asyncio.wait_for(again.recv(), 5))["type"] == "snapshot"


async def test_a_socket_that_stops_reading_holds_little_and_resyncs(live_server: LiveServer) -> None:
    """A screen that stops reading is dropped after ~128 KB behind (not 512 KB), and a screen
    coming back with since= still gets the whole replay (paced, never past the bound)."""
    from tests.test_sockets import never_reading_socket, read_what_is_left, seqs

    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    async with never_reading_socket(live_server) as (stuck_reader, stuck_writer):
        text = "请注意：" + "今天下午系统维护，请耐心等候。" * 13
        notices = 600  # ~420 KB of events
        for _ in range(notices):
            status, _ = await asyncio.to_thread(
                live_server.request, "POST", "/api/halls/demo/notice", {"text": text}, admin
            )
            assert status == 200
        received = await read_what_is_left(stuck_reader, stuck_writer)
        assert received < 330 * 1024, received  # 128 KB ours + what the kernels buffer
        assert "dropping a socket that is" in live_server.log_path.read_text()
        async with open_socket(display_url(live_server, since=0)) as late:
            replayed = [await late.recv() for _ in range(notices)]
            assert seqs(replayed) == list(range(1, notices + 1))
