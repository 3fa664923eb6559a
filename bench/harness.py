"""What the socket benches share: a real ``hallq serve`` they start and stop, its HTTP API.

- :class:`Server` / :func:`running`: ``hallq serve`` on a free port, on an embedded,
  append-only, fsync-always Redis the bench starts itself (or on ``redis_url``), with the
  double-tap guard off (calls at machine speed); started once ``/healthz`` answers 200
  (or 503 "degraded" when ``accept_degraded``), stopped with SIGTERM to its process group
  (SIGKILL after 15 s), its Redis stopped and its data folder removed. It reads its own
  resident memory and its process tree's.
- :class:`Http`: a keep-alive stdlib JSON client for the driver's few requests and logins.
- :func:`raise_file_limit`, :func:`percentile`, :func:`process_tree`; :func:`free_port` is
  ``server.embedded``'s.

Used by bench_fanout, bench_memory, bench_issue, bench_phones and bench_city; the display
clients they drive are in ``lean_clients.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent


def raise_file_limit(wanted: int = 8192) -> int:
    """Raise this process's open-file limit (children inherit it); answer the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


# --- the server ---------------------------------------------------------------------------


class Server:
    """``hallq serve`` on the Redis a newcomer gets (embedded, append-only, fsync always).

    The bench starts that embedded Redis itself (the same :class:`EmbeddedRedis`
    ``hallq serve`` would start) and passes ``REDIS_URL``, so that it can stop it for
    sure: a ``hallq serve`` stopped by SIGTERM does not stop its embedded Redis.
    """

    def __init__(
        self, env: dict[str, str] | None = None, redis_url: str | None = None, workers: int = 1, root: Path = ROOT
    ) -> None:
        self.workers = workers
        self.root = root
        """The checkout whose ``server`` package runs (another one to compare against it)."""
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="hallq-bench-"))
        self.redis = None if redis_url else EmbeddedRedis(self.data / "redis", durable=True)
        # calls at machine speed: the double-tap guard (rules.min_call_interval_s) is off
        self.env = {**os.environ, "HALLQ_SECRET": "bench", "HALLQ_MIN_CALL_INTERVAL_S": "0", **(env or {})}
        self.env["REDIS_URL"] = redis_url or (self.redis.url if self.redis else "")
        self.process: subprocess.Popen[bytes] | None = None
        self.start_timeout_s = 30.0  # a city of halls on a cluster takes longer
        #: Take a 503 ``{"status":"degraded"}`` from /healthz as started (the halls serve; some
        #: store check failed): the city bench records it rather than waiting for ever.
        self.accept_degraded = False
        self.health = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.redis is not None:
            self.redis.start()
        command = [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(self.port),
            "--data",
            str(self.data),
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(self.workers),
        ]
        with (self.data / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.data / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        self.health = "ok"
                        return
            except urllib.error.HTTPError as refused:
                body = refused.read()
                if self.accept_degraded and refused.code == 503 and b'"degraded"' in body:
                    self.health = body.decode(errors="replace")
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hallq serve did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.redis is not None:
            self.redis.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def rss_kb(self) -> int:
        """The server process's resident memory (VmRSS) in KB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def tree_rss_kb(self) -> dict[str, int]:
        """Resident memory (VmRSS, KB) of the server and every process under it, by process name."""
        assert self.process is not None
        found: dict[str, int] = {}
        for pid in process_tree(self.process.pid):
            with contextlib.suppress(OSError):
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        found[f"{name} {pid}"] = int(line.split()[1])
        return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process under it (children of any of their threads), from /proc."""
    found, todo = [], [pid]
    while todo:
        each = todo.pop()
        found.append(each)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{each}/task"):
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in Path(f"/proc/{each}/task/{task}/children").read_text().split()]
    return found


@contextlib.contextmanager
def running(env: dict[str, str] | None = None, redis_url: str | None = None, workers: int = 1) -> Iterator[Server]:
    server = Server(env, redis_url, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


class Http:
    """A keep-alive JSON client (stdlib), for the driver's few requests."""

    def __init__(self, server: Server) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = self.connection.getresponse()
        raw = answer.read()
        try:
            return answer.status, json.loads(raw)
        except ValueError:  # e.g. a plain-text 500: let the caller's assert show it
            return answer.status, {"text": raw[:500].decode(errors="replace")}

    def login(self, staff: str, pin: str = "1234") -> str:
        return self.login_at("demo", staff, pin)

    def login_at(self, hall: str, staff: str, pin: str = "1234") -> str:
        status, body = self.call("POST", "/api/auth/login", {"hall": hall, "staff": staff, "pin": pin})
        assert status == 200, body
        return str(body["token"])

    def close(self) -> None:
        self.connection.close()
