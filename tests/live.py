"""Fixtures for tests against real `hallq serve` processes and a real headless Chromium.

``live_server`` starts the real CLI (uvicorn, speech worker, hub) on a free port
against the session's real redis-server, on a fresh Redis database of its own,
so each test sees an empty hall. ``browser`` is Debian's Chromium driven by
Playwright (never a downloaded browser).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.embedded import EmbeddedRedis, free_port
from tests.browser_pool import ContextPool

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
_databases = itertools.cycle(range(1, 16))


class Forked:
    """A server forked by the zygote (tests/zygote.py), used as a ``subprocess.Popen``: ``pid``
    (its own session), ``poll``, ``wait`` and ``returncode``, read from the status file the
    zygote writes when it reaps it."""

    def __init__(self, pid: int, exit_path: Path) -> None:
        self.pid = pid
        self.exit_path = exit_path
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and self.exit_path.exists():
            self.returncode = int(self.exit_path.read_text())
        return self.returncode

    def send_signal(self, signum: int) -> None:
        """Signal the server alone (as Popen does), unless it has been reaped."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode


_zygote_lock = threading.Lock()


class Zygote:
    """The test process's zygote (one per xdist worker, started on first use); see
    tests/zygote.py. ``HALLQ_TEST_ZYGOTE=0`` starts every server as a plain subprocess;
    ``=loud`` says on stderr why a start was not forked."""

    _instance: Zygote | None = None

    def __init__(self) -> None:
        import tempfile

        self.status_dir = Path(tempfile.mkdtemp(prefix="hallq-zygote-"))
        # pytest's own variables change from test to test (PYTEST_CURRENT_TEST): kept out of
        # the zygote's environment, or every start would differ from it in one of them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.zygote", str(self.status_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
        )
        self.lock = threading.Lock()  # one request and its answer at a time (tests start servers from threads)
        self.spawned: list[list[str]] = []
        """The variables that made each plain-subprocess start (for a look in a debugger)."""

    @classmethod
    def shared(cls) -> Zygote | None:
        if os.environ.get("HALLQ_TEST_ZYGOTE", "1") == "0":
            return None
        with _zygote_lock:
            if cls._instance is None or cls._instance.process.poll() is not None:
                cls._instance = cls()
            return cls._instance

    def fork(self, argv: list[str], env: dict[str, str], log_path: Path) -> Forked | None:
        """A server forked with ``argv`` (after ``-m server.cli``), or None when ``env`` changes
        a variable read at import (the caller then starts a plain subprocess)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"argv": argv, "env": env, "cwd": os.getcwd(), "log": str(log_path)}
        with self.lock:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline())
        if "spawn" in answer:
            self.spawned.append(answer["spawn"])
            if os.environ.get("HALLQ_TEST_ZYGOTE") == "loud":
                print(f"zygote: a plain subprocess, as these differ: {answer['spawn']}", file=sys.stderr)
            return None
        return Forked(answer["pid"], Path(answer["exit"]))


def launch(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes] | Forked:
    """Start ``hallq serve`` (``command``) in a session of its own, output appended to
    ``log_path``: forked by the zygote when it can be, else as a subprocess."""
    zygote = Zygote.shared()
    if zygote is not None and command[:3] == [sys.executable, "-m", "server.cli"]:
        forked = zygote.fork(command[3:], env, log_path)
        if forked is not None:
            return forked
    with log_path.open("ab") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


class LiveServer:
    """A real ``hallq serve`` subprocess; can be stopped, killed and started again on its port."""

    def __init__(
        self,
        redis_url: str,
        data_dir: Path,
        config: str | None = None,
        workers: int = 1,
        min_call_interval_s: float | None = 0,
    ) -> None:
        self.redis_url = redis_url
        self.data_dir = data_dir
        self.config = config
        self.workers = workers
        # Scripted clerks call at machine speed: the double-tap guard is off unless a test
        # asks for it (None: the hall file's rules.min_call_interval_s).
        self.min_call_interval_s = min_call_interval_s
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | Forked | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __str__(self) -> str:
        return self.url

    def serve_command(self) -> list[str]:
        """``hallq serve`` on this server's port, data folder and workers."""
        return [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            "--no-access-log",
        ]

    def start(self, timeout: float = 30.0) -> None:
        cache = self.data_dir / "audio-cache"
        if _audio_cache and not cache.exists() and not cache.is_symlink():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cache.symlink_to(_audio_cache[-1], target_is_directory=True)
        command = self.serve_command()
        if self.config:
            command += ["--config", self.config]
        env = {**os.environ, "REDIS_URL": self.redis_url, "HALLQ_SECRET": "test-secret"}
        if self.min_call_interval_s is not None:
            env["HALLQ_MIN_CALL_INTERVAL_S"] = str(self.min_call_interval_s)
        self.process = launch(command, env, self.log_path)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hallq serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError(f"hallq serve did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def retire(self) -> None:
        """Ask the server to stop (SIGTERM) without waiting for it: a test's teardown need not
        sit through the graceful shutdown (~0.4 s). :func:`retired_servers` waits for them all
        at the end of the session, and kills any that did not stop within its grace."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            _retiring.append(self.process)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    # --- a small HTTP client for tests (stdlib, so sync tests need no event loop) ---

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                raw = answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            raw = error.read()
            status = error.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def login(self, staff: str = "s01", pin: str = "1234", hall: str = "demo") -> str:
        status, body = self.request("POST", "/api/auth/login", {"hall": hall, "staff": staff, "pin": pin})
        assert status == 200, body
        return str(body["token"])

    def issue(self, services: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        status, body = self.request("POST", "/api/halls/demo/tickets", {"services": services or ["register"], **extra})
        assert status == 201, body
        return dict(body)

    def act(self, token: str, window: str, action: str, **extra: Any) -> tuple[int, Any]:
        return self.request(
            "POST", f"/api/halls/demo/windows/{window}/actions", {"action": action, **extra}, token=token
        )


def admin_login(
    page: Any, server: LiveServer, staff: str = "admin", pin: str = "admin1234", hall: str = "demo"
) -> None:
    """Open the manager page of ``hall`` on ``server`` in ``page`` and log in as ``staff``."""
    page.goto(f"{server.url}/admin/{hall}")
    page.fill("#login-staff", staff)
    page.fill("#login-pin", pin)
    page.click("#login-submit")


#: Servers asked to stop at a test's end, not yet gone.
_retiring: list[subprocess.Popen[bytes] | Forked] = []
_audio_cache: list[Path] = []  # the session's shared audio cache, set by shared_audio_cache


@pytest.fixture(scope="session", autouse=True)
def shared_audio_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One audio cache for every live server of the run: a server on a data folder of its
    own links its ``audio-cache`` here unless the folder already has one, so the same calls
    (A001 at window 1…) are synthesised once a run, not once a server (109 speech worker
    starts a run before). A test of speech itself creates its own ``audio-cache`` first.

    The xdist workers of a run share it (in their common base folder): phrases appear in it
    atomically (written under a temporary name, then renamed), as for the server processes of
    one host, so a phrase one worker's servers said is a hit for the others' (56 → 36 worker
    starts a run)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        cache = tmp_path_factory.getbasetemp().parent / "audio-cache"
        cache.mkdir(exist_ok=True)
    else:
        cache = tmp_path_factory.mktemp("audio")
    _audio_cache.append(cache)
    yield _audio_cache[-1]
    _audio_cache.clear()


@pytest.fixture(scope="session", autouse=True)
def retired_servers() -> Iterator[None]:
    """At the session's end, every retired server has stopped (killed past 10 s)."""
    yield
    deadline = time.monotonic() + 10
    for process in _retiring:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def live_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the live servers of the session that need no folder of their own."""
    return tmp_path_factory.mktemp("live")


def counted(client: Any, hall: str = "demo", timeout: float = 5.0) -> None:
    """Wait until the hall's statistics have counted every event so far (stats_seq reached seq).

    Counting runs in the background a moment after each event (server/stats_counter.py): a
    test comparing the store before and after a refusal waits for it first, or a counting
    step landing in between would look like the refusal's change.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seq, counted_to = client.mget(f"hallq:{{{hall}}}:seq", f"hallq:{{{hall}}}:stats_seq")
        if int(counted_to or 0) >= int(seq or 0):
            return
        time.sleep(0.02)
    raise AssertionError(f"hall {hall}: the statistics did not catch up with the events")


def no_show_hall(tmp_path: Path, seconds: int) -> str:
    """The demo hall with a no-show allowed ``seconds`` after the call (15 s in the bundled
    file), written to ``tmp_path``: a live server runs on the real clock."""
    from server.config import demo_text

    text = demo_text()
    assert "min_seconds_after_call = 15" in text
    path = tmp_path / "hall.toml"
    text = text.replace("min_seconds_after_call = 15", f"min_seconds_after_call = {seconds}")
    path.write_text(text, encoding="utf-8")
    return str(path)


def fresh_database(redis_server: EmbeddedRedis) -> str:
    import redis as sync_redis

    number = next(_databases)
    url = f"redis://127.0.0.1:{redis_server.port}/{number}"
    client = sync_redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def live_server(redis_server: EmbeddedRedis, live_data: Path) -> Iterator[LiveServer]:
    """A real ``hallq serve`` on the demo hall, on an empty Redis database."""
    server = LiveServer(fresh_database(redis_server), live_data)
    server.start()
    yield server
    server.retire()


@pytest.fixture
def live_server_factory(redis_server: EmbeddedRedis, live_data: Path) -> Iterator[Any]:
    """Start several servers (e.g. two processes on one Redis); all stopped at the end."""
    started: list[LiveServer] = []

    def start(redis_url: str | None = None, **options: Any) -> LiveServer:
        server = LiveServer(redis_url or fresh_database(redis_server), live_data, **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.retire()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright; autoplay allowed, audio not muted."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        reason = f"!!! BROWSER TESTS NOT RUN: {CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk) !!!"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_default_args=["--mute-audio"]
        )
        # Contexts are lent and reset between tests rather than made anew (tests/browser_pool.py);
        # HALLQ_TEST_CONTEXT_POOL=0 makes each anew (to compare, or to rule the pool out).
        pool = ContextPool(instance.new_context, reuse=os.environ.get("HALLQ_TEST_CONTEXT_POOL") != "0")

        def context_for_tests(**options: Any) -> Any:
            # Tests wait with string predicates (wait_for_function("…")), which Playwright
            # evaluates in the page: our CSP forbids that, as it should. Contexts bypass the CSP
            # unless a test asks for it (bypass_csp=False; see test_hardening's CSP test).
            options.setdefault("bypass_csp", True)
            return pool.lend(**options)

        instance.new_context = context_for_tests
        yield instance
        pool.close()
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page at 1920×1080."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    yield context.new_page()
    context.close()
