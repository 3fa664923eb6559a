"""``hallq serve`` configured from the environment, as Procfiles, units and containers do.

Every test runs the real CLI (``python -m server.cli`` or the installed ``hallq``) and
talks to it over HTTP: options from variables, flags winning over them, several hall
files, the demo hall refused off loopback, the public address in links and QR codes.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.config import demo_text
from server.embedded import EmbeddedRedis, free_port
from server.qr import qr_svg
from tests.live import LiveServer, fresh_database

ROOT = Path(__file__).resolve().parent.parent
#: websockets follows proxy variables: never for our own loopback servers.
NO_PROXY: dict[str, Any] = {"proxy": None}
HALLQ = str(Path(sys.executable).parent / "hallq")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any hallq setting, plus ``extra``."""
    names = (
        "HALLQ_CONFIG",
        "HALLQ_DATA",
        "HALLQ_WORKERS",
        "HALLQ_PUBLIC_URL",
        "PORT",
        "REDIS_URL",
        "FORWARDED_ALLOW_IPS",
    )
    env = {k: v for k, v in os.environ.items() if k not in names}
    return {**env, "HALLQ_SECRET": "test-secret", **extra}


class Serve:
    """A ``hallq serve`` started with the given arguments and environment."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
            )

    def wait_ready(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"hallq serve exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"hallq serve did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[Serve] = []

    def start(args: list[str], env: dict[str, str], command: list[str] | None = None) -> Serve:
        server = Serve(
            (command or [sys.executable, "-m", "server.cli", "serve"]) + args,
            env,
            tmp_path / f"serve-{len(started)}.log",
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def get(url: str, token: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, headers={**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def second_hall(tmp_path: Path) -> Path:
    """A hall file of another hall ("north"), beside the demo."""
    path = tmp_path / "north.toml"
    path.write_text(demo_text().replace('id = "demo"', 'id = "north"', 1), encoding="utf-8")
    return path


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


# --- the demo hall off loopback ---------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::"])
def test_demo_hall_is_refused_off_loopback(host: str) -> None:
    result = run_cli(["serve", "--host", host, "--port", "1"], clean_env())
    assert result.returncode == 2
    assert "refusing to serve the demo hall" in result.stderr and "--demo" in result.stderr


def test_demo_hall_is_refused_behind_a_public_address() -> None:
    """Loopback behind a proxy is public all the same: the public URL tells."""
    result = run_cli(["serve", "--port", "1"], clean_env(HALLQ_PUBLIC_URL="https://queue.example.org"))
    assert result.returncode == 2
    assert "refusing to serve the demo hall on queue.example.org" in result.stderr


def test_demo_with_a_hall_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["serve", "--demo"], clean_env(HALLQ_CONFIG=str(second_hall(tmp_path))))
    assert result.returncode == 2 and "--demo" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HALLQ_WORKERS", "two"),
        ("HALLQ_WORKERS", "0"),
        ("PORT", "80a"),
        ("HALLQ_PUBLIC_URL", "queue.example.org"),
        ("HALLQ_PUBLIC_URL", "https://q.example.org/?x=1"),
    ],
)
def test_a_bad_variable_is_named(variable: str, value: str) -> None:
    result = run_cli(["serve"], clean_env(**{variable: value}))
    assert result.returncode == 2
    assert variable in result.stderr, result.stderr


def test_a_missing_hall_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(["serve"], clean_env(HALLQ_CONFIG=str(tmp_path / "nope.toml")))
    assert result.returncode == 2 and "nope.toml" in result.stderr, result.stderr


def test_demo_flag_serves_the_demo_off_loopback(serve: Any, redis_server: EmbeddedRedis) -> None:
    port = free_port()
    server = serve(["--host", "0.0.0.0", "--demo"], clean_env(PORT=str(port), REDIS_URL=fresh_database(redis_server)))
    server.wait_ready(port)
    status, _body = get(f"http://127.0.0.1:{port}/api/halls/demo")
    assert status == 200


# --- every option from the environment ------------------------------------------------


def test_every_option_comes_from_the_environment(serve: Any, redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    port = free_port()
    demo = tmp_path / "demo.toml"
    demo.write_text(demo_text(), encoding="utf-8")
    env = clean_env(
        PORT=str(port),
        HALLQ_CONFIG=os.pathsep.join([str(demo), str(second_hall(tmp_path))]),
        HALLQ_DATA=str(tmp_path / "data"),
        HALLQ_WORKERS="2",
        HALLQ_PUBLIC_URL="https://queue.example.org/hall/",
        REDIS_URL=fresh_database(redis_server),
    )
    server = serve(["--host", "0.0.0.0"], env)  # a hall file: allowed off loopback
    server.wait_ready(port)
    assert len(children(server.process.pid)) >= 2  # two workers (plus uvicorn's own helpers)
    for hall in ("demo", "north"):
        status, _body = get(f"http://127.0.0.1:{port}/api/halls/{hall}")
        assert status == 200, hall
    live = LiveServer(env["REDIS_URL"], tmp_path)
    live.port = port
    answer = live.issue()
    token = answer["ticket"]["token"]
    # the proxy's Host header (here a lie) never reaches the ticket's link or QR code
    expected = f"https://queue.example.org/hall/t/{token}"
    assert answer["url"] == expected
    status, svg = get(f"http://127.0.0.1:{port}/api/tickets/{token}/qr.svg", headers={"Host": "localhost"})
    assert status == 200 and svg.decode() == qr_svg(expected)
    assert (tmp_path / "data" / "audio-cache").is_dir()
    assert "https://queue.example.org/hall/display/demo" in server.log.read_text()


def test_flags_win_over_variables(serve: Any, redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    port, other = free_port(), free_port()
    env = clean_env(
        PORT=str(other),
        HALLQ_CONFIG=str(second_hall(tmp_path)),
        HALLQ_PUBLIC_URL="https://env.example",
        HALLQ_WORKERS="3",
        HALLQ_DATA=str(tmp_path / "env-data"),
        REDIS_URL=fresh_database(redis_server),
    )
    demo = tmp_path / "demo.toml"
    demo.write_text(demo_text(), encoding="utf-8")
    server = serve(
        [
            "--port",
            str(port),
            "--config",
            str(demo),
            "--public-url",
            "http://flag.example:8080",
            "--workers",
            "1",
            "--data",
            str(tmp_path / "flag-data"),
        ],
        env,
    )
    server.wait_ready(port)
    assert get(f"http://127.0.0.1:{port}/api/halls/north")[0] == 404  # --config replaced HALLQ_CONFIG
    live = LiveServer(env["REDIS_URL"], tmp_path)
    live.port = port
    assert live.issue()["url"].startswith("http://flag.example:8080/t/")
    assert (tmp_path / "flag-data").is_dir() and not (tmp_path / "env-data").exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{other}/healthz", timeout=1)


def test_without_public_url_links_use_the_request_address(live_server: LiveServer) -> None:
    answer = live_server.issue()
    assert answer["url"] == f"{live_server.url}/t/{answer['ticket']['token']}"
    status, body = live_server.request("GET", f"/api/tickets/{answer['ticket']['token']}")
    assert status == 200 and body["url"] == answer["url"]


def test_embedded_store_goes_to_hallq_data(serve: Any, tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "var-from-env"
    server = serve([], clean_env(PORT=str(port), HALLQ_DATA=str(data)))
    server.wait_ready(port)
    assert (data / "redis" / "redis.sock").exists()


# --- the Procfile ------------------------------------------------------------------------


def procfile_web() -> str:
    lines = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    assert len(lines) == 1
    return lines[0].removeprefix("web:").strip()


def test_procfile_never_serves_the_demo_by_accident(tmp_path: Path) -> None:
    command = procfile_web().replace("hallq ", f"{shlex.quote(HALLQ)} ", 1)
    result = subprocess.run(
        ["bash", "-c", command],
        env=clean_env(PORT=str(free_port())),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2 and "refusing to serve the demo hall" in result.stderr


def test_free_ports_stay_out_of_the_kernels_ephemeral_range_and_out_of_each_others_lanes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A port the kernel may hand to a client socket is no port to start a server on later."""
    import itertools
    import socket

    from server import embedded

    low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    lanes = {}
    for worker in ("gw0", "gw3"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        lanes[worker] = {free_port() for _ in range(50)}
    for ports in lanes.values():
        assert all(not low <= port <= high and not low <= port + embedded.PORT_SPAN <= high for port in ports)
    assert max(lanes["gw0"]) < min(lanes["gw3"])
    monkeypatch.setattr(embedded, "_port_draws", itertools.count())
    first = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        monkeypatch.setattr(embedded, "_port_draws", itertools.count())
        assert free_port() != first


def test_procfile_serves_hallq_config(serve: Any, redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        PORT=str(port),
        HALLQ_CONFIG=str(second_hall(tmp_path)),
        HALLQ_WORKERS="2",
        HALLQ_PUBLIC_URL="https://north.example",
        REDIS_URL=fresh_database(redis_server),
    )
    command = procfile_web().replace("hallq ", f"{shlex.quote(HALLQ)} ", 1)
    assert "$" not in command or re.search(r"\$\{?(PORT|HALLQ_\w+)", command)
    server = serve([], env, command=["bash", "-c", f"exec {command}"])
    server.wait_ready(port)
    assert get(f"http://127.0.0.1:{port}/api/halls/north")[0] == 200
    assert get(f"http://127.0.0.1:{port}/api/halls/demo")[0] == 404
    assert len(children(server.process.pid)) >= 2


# --- the fan-out's direct path -------------------------------------------------------------


async def test_serve_gets_the_direct_fanout_path(live_server: LiveServer) -> None:
    """The fan-out reaches into uvicorn's internals; a uvicorn that moved them must fail here."""
    from websockets.asyncio.client import connect

    async with connect(f"{live_server.ws_url}/ws/halls/demo/display", **NO_PROXY) as ws:
        assert '"snapshot"' in str(await ws.recv())
    deadline = time.monotonic() + 5
    while "hallq.fanout: " not in live_server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in live_server.log_path.read_text().splitlines() if "hallq.fanout: fan-out" in line]
    assert lines and all("fan-out outlet: direct" in line for line in lines), lines
    assert "with websockets-sansio" in live_server.log_path.read_text()
