"""The deployment of docs/deploy.md, for real: Debian's nginx with TLS in front of
``hallq serve --workers 2`` on an external redis-server, a lobby screen in Chromium.

nginx runs with a private prefix, config and ports in a temporary folder (never the
system's service), from ``deploy/nginx/hallq.conf`` with only its ``# test:`` lines
changed. The screen is opened while hallq is still down: it shows our small
"connecting" page and recovers by itself once hallq starts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from websockets.sync.client import connect

from server.config import demo_text
from server.embedded import free_port
from server.qr import qr_svg
from tests.test_deploy_cli import NO_PROXY, Serve, clean_env

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = "/usr/bin/redis-server"

pytestmark = pytest.mark.long


def render_site(tmp: Path, *, hallq_port: int, http_port: int, https_port: int) -> str:
    """deploy/nginx/hallq.conf with its ``# test:`` lines pointed at this test's ports and files."""
    replacements = {
        "the port of `hallq serve`": ("127.0.0.1:8000", f"127.0.0.1:{hallq_port}"),
        "http port": ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        "https port": ("listen 443 ", f"listen 127.0.0.1:{https_port} "),
        "certificate": ("/etc/ssl/hallq/fullchain.pem", str(tmp / "cert.pem")),
        "key": ("/etc/ssl/hallq/privkey.pem", str(tmp / "key.pem")),
        "log path": ("/var/log/nginx/hallq.access.log", str(tmp / "access.log")),
        "the deploy/nginx folder": ("/usr/share/hallq", str(ROOT / "deploy" / "nginx")),
    }
    lines = []
    for line in (ROOT / "deploy" / "nginx" / "hallq.conf").read_text().splitlines():
        if "# test:" in line:
            old, new = replacements[line.split("# test:", 1)[1].strip()]
            assert old in line, line
            line = line.replace(old, new)
        lines.append(line)
    return "\n".join(lines) + "\n"


def main_config(tmp: Path) -> str:
    """A private nginx.conf: its own pid, logs and temp folders; the site file included in http."""
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
user root;
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp / "default-access.log"};
{temp}
    include {tmp / "hallq.conf"};
}}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """redis-server and nginx running (hallq not yet); stopped at the end."""
    if not Path(NGINX).exists() or not Path(REDIS).exists():
        pytest.fail("the nginx path needs Debian's nginx and redis-server (apt-get install nginx redis-server)")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis_port, hallq_port, http_port, https_port = free_port(), free_port(), free_port(), free_port()
        (tmp_path / "redis").mkdir()
        processes.append(
            subprocess.Popen(
                [
                    REDIS,
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(tmp_path / "redis"),
                    "--save",
                    "",
                    "--appendonly",
                    "yes",
                    "--daemonize",
                    "no",
                    "--logfile",
                    str(tmp_path / "redis" / "redis.log"),
                ],
                start_new_session=True,
            )
        )
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=queue.test",
                "-keyout",
                str(tmp_path / "key.pem"),
                "-out",
                str(tmp_path / "cert.pem"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        (tmp_path / "hallq.conf").write_text(
            render_site(tmp_path, hallq_port=hallq_port, http_port=http_port, https_port=https_port)
        )
        (tmp_path / "nginx.conf").write_text(main_config(tmp_path))
        nginx = [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
        checked = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30, check=False)
        assert checked.returncode == 0, checked.stderr
        processes.append(subprocess.Popen([*nginx, "-g", "daemon off;"], start_new_session=True))
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                client = sync_redis.Redis.from_url(redis_url)
                client.ping()
                client.close()
                if call("GET", f"http://127.0.0.1:{http_port}/")[0] == 301:
                    break  # nginx answers (its redirect to https)
            except (OSError, sync_redis.RedisError):
                pass
            assert time.monotonic() < deadline, "redis-server or nginx did not start"
            time.sleep(0.05)
        yield {
            "tmp": tmp_path,
            "redis_url": redis_url,
            "hallq_port": hallq_port,
            "http_port": http_port,
            "https_port": https_port,
            "base": f"https://127.0.0.1:{https_port}",
        }
    finally:  # also when the set-up fails half-way: nothing of ours is left running
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def call(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any, bytes]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=TLS), NoRedirect())
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_nginx_tls_two_workers_external_redis(stack: dict[str, Any], browser: Any) -> None:
    tmp, base = stack["tmp"], stack["base"]
    public = f"https://queue.test:{stack['https_port']}"
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, ignore_https_errors=True)
    serve: Serve | None = None
    try:
        # A wall screen boots while hallq is down: nginx's 502 comes as our self-retrying page.
        lobby = context.new_page()
        first = lobby.goto(f"{base}/display/demo")
        assert first is not None and first.status == 502
        lobby.wait_for_selector("body[data-hallq-unavailable]", state="attached", timeout=5_000)

        hall = tmp / "hall.toml"
        hall.write_text(demo_text(), encoding="utf-8")
        env = clean_env(
            REDIS_URL=stack["redis_url"],
            HALLQ_CONFIG=str(hall),
            HALLQ_WORKERS="2",
            HALLQ_PUBLIC_URL=public,
            PORT=str(stack["hallq_port"]),
            HALLQ_DATA=str(tmp / "data"),
        )
        serve = Serve([sys.executable, "-m", "server.cli", "serve"], env, tmp / "serve.log")
        serve.wait_ready(stack["hallq_port"])

        # ... and recovers by itself: the real lobby page, live on its socket (wss through nginx)
        lobby.wait_for_selector("html[data-seq]", state="attached", timeout=30_000)

        # plain http only redirects to https
        status, headers, _body = call("GET", f"http://127.0.0.1:{stack['http_port']}/display/demo")
        assert status == 301 and headers["Location"].startswith("https://")

        # staff log in over https: the cookie is Secure (X-Forwarded-Proto from nginx is trusted)
        status, headers, body = call("POST", f"{base}/api/auth/login", {"hall": "demo", "staff": "s01", "pin": "1234"})
        assert status == 200, body
        clerk = json.loads(body)["token"]
        assert "secure" in (headers.get("Set-Cookie") or "").lower()

        # the ticket's link and QR code point at the public address, not at nginx's Host
        status, _headers, body = call("POST", f"{base}/api/halls/demo/tickets", {"services": ["register"]})
        assert status == 201, body
        answer = json.loads(body)
        ticket = answer["ticket"]["token"]
        assert answer["url"] == f"{public}/t/{ticket}"
        status, _headers, svg = call("GET", f"{base}/api/tickets/{ticket}/qr.svg")
        assert status == 200 and svg.decode() == qr_svg(f"{public}/t/{ticket}")
        assert call("GET", f"{base}/t/{ticket}")[0] == 200
        assert call("GET", f"{base}/api/tickets/{ticket}")[0] == 200

        # a clerk's pad: wss through nginx, the token in the first message; the lobby shows the call
        pad_url = f"wss://127.0.0.1:{stack['https_port']}/ws/halls/demo/windows/1"
        with connect(pad_url, ssl=TLS, **NO_PROXY) as pad:
            pad.send(json.dumps({"type": "auth", "token": clerk}))
            assert json.loads(pad.recv(timeout=10))["type"] == "window_state"
            pad.send(json.dumps({"action": "call_next", "request_id": "nginx-1"}))
            while (result := json.loads(pad.recv(timeout=10)))["type"] != "result":
                pass
            assert result["ok"], result
        lobby.wait_for_selector("#now[data-number='A001'][data-window='1']", timeout=10_000)
        # an old pad with ?token= still works, and its URL's query never reaches the log
        with connect(f"{pad_url}?token={clerk}", ssl=TLS, **NO_PROXY) as old_pad:
            assert json.loads(old_pad.recv(timeout=10))["type"] == "window_state"

        log = (tmp / "access.log").read_text()
        assert clerk not in log and ticket not in log and "token=" not in log
        assert '"GET /t/*** ' in log and '"GET /api/tickets/***/qr.svg ' in log
        assert '"GET /display/demo HTTP/2.0" 502 ' in log and '"GET /display/demo HTTP/2.0" 200 ' in log
        assert '"GET /ws/halls/demo/windows/1 HTTP/1.1" 101 ' in log
    finally:
        context.close()
        if serve is not None:
            serve.stop()
