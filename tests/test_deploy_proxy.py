"""Behind a proxy: trusted forwarded headers, pads without tokens in URLs, and the deploy files
kept in step with README's commands. (The full nginx path runs in test_deploy_nginx.py.)"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis as sync_redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from server.embedded import EmbeddedRedis, free_port
from tests.live import LiveServer, fresh_database
from tests.test_deploy_cli import NO_PROXY, ROOT, Serve, clean_env


def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def rate_limit_clients(redis_url: str) -> set[str]:
    """The client addresses the issue rate limit has counted."""
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return {key.split(":")[4] for key in client.scan_iter("hallq:{demo}:rl:issue:*")}
    finally:
        client.close()


PROXIED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
LOGIN = {"hall": "demo", "staff": "s01", "pin": "1234"}


def test_a_trusted_proxy_gives_client_addresses_and_https(live_server: LiveServer) -> None:
    # the test client is on 127.0.0.1, the default trusted proxy address
    status, _headers, _body = post(f"{live_server.url}/api/halls/demo/tickets", {"services": ["register"]}, PROXIED)
    assert status == 201
    assert rate_limit_clients(live_server.redis_url) == {"203.0.113.7"}  # a phone's own bucket
    status, headers, _body = post(f"{live_server.url}/api/auth/login", LOGIN, PROXIED)
    assert status == 200 and "secure" in headers["set-cookie"].lower()
    status, headers, _body = post(f"{live_server.url}/api/auth/login", LOGIN, {})
    assert status == 200 and "secure" not in headers["set-cookie"].lower()  # plain http: no Secure


def test_an_untrusted_client_cannot_forge_forwarded_headers(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(REDIS_URL=fresh_database(redis_server), PORT=str(port))
    server = Serve(
        [sys.executable, "-m", "server.cli", "serve", "--forwarded-allow-ips", "192.0.2.10"],
        env,
        tmp_path / "serve.log",
    )
    try:
        server.wait_ready(port)
        base = f"http://127.0.0.1:{port}"
        assert post(f"{base}/api/halls/demo/tickets", {"services": ["register"]}, PROXIED)[0] == 201
        assert rate_limit_clients(env["REDIS_URL"]) == {"127.0.0.1"}
        status, headers, _body = post(f"{base}/api/auth/login", LOGIN, PROXIED)
        assert status == 200 and "secure" not in headers["set-cookie"].lower()
    finally:
        server.stop()


def pad_url(server: LiveServer) -> str:
    return f"{server.ws_url}/ws/halls/demo/windows/2"


def test_a_pad_authenticates_with_its_first_message(live_server: LiveServer) -> None:
    token = live_server.login("s02")
    live_server.issue(["register"])
    with connect(pad_url(live_server), **NO_PROXY) as pad:
        pad.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(pad.recv(timeout=10))["type"] == "window_state"
        pad.send(json.dumps({"action": "call_next", "request_id": "first-1"}))
        while (answer := json.loads(pad.recv(timeout=10)))["type"] != "result":
            pass
        assert answer["ok"] and answer["ticket"]["number"] == "A001"


def test_a_pad_without_a_valid_first_message_is_refused(live_server: LiveServer) -> None:
    for first in ({"type": "auth", "token": "not-a-session"}, {"action": "call_next", "request_id": "x"}, "nonsense"):
        with connect(pad_url(live_server), **NO_PROXY) as pad:
            pad.send(first if isinstance(first, str) else json.dumps(first))
            refusal = json.loads(pad.recv(timeout=10))
            assert refusal["type"] == "error" and refusal["error"]["code"] == "not_logged_in", refusal
            try:
                pad.recv(timeout=10)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4401
            else:
                raise AssertionError("the refused pad socket stayed open")
    # nothing was called by the refused sockets
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert status == 200 and all(w["ticket"] is None for w in state["windows"])


def test_no_page_or_client_puts_a_token_in_a_url() -> None:
    """Pads, the keypad and every page send tokens in headers, cookies or first messages only."""
    sources = [*ROOT.glob("*/static/*.js"), *ROOT.glob("caller/*.py"), *ROOT.glob("display/*.py")]
    offenders = [str(path) for path in sources if re.search(r"[?&]token=", path.read_text(encoding="utf-8"))]
    assert offenders == []


# --- deploy files in step with README --------------------------------------------------------


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split(f"<!-- {marker} -->", 1)[1].split("```", 2)[1]
    return block.strip()


def test_containerfile_and_unit_use_readmes_commands() -> None:
    install, serve = readme_command("run-command").split(" && .venv/bin/hallq ")
    assert install == "python3 -m venv .venv && .venv/bin/pip install -e ."
    containerfile = (ROOT / "deploy" / "Containerfile").read_text()
    run = re.search(r"^RUN (.+?)(?: \\)?$", containerfile, re.M)
    assert run is not None and run.group(1).replace("--no-cache-dir ", "").startswith(install)
    assert f'ENTRYPOINT [".venv/bin/hallq", "{serve}", "--host", "0.0.0.0"]' in containerfile
    assert "HALLQ_CONFIG=" not in containerfile.split("FROM", 1)[1].split("ENTRYPOINT")[0].replace(
        "-e HALLQ_CONFIG", ""
    )  # no baked-in hall file: without one it refuses, with --demo it serves the demo
    unit = (ROOT / "deploy" / "hallq.service").read_text()
    assert f"ExecStart=/opt/hallq/.venv/bin/hallq {serve}\n" in unit
    variables = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy" / "hallq.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"HALLQ_CONFIG", "HALLQ_DATA", "HALLQ_WORKERS", "HALLQ_PUBLIC_URL", "PORT", "REDIS_URL"} <= set(variables)
