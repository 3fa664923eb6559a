"""Looking at the real process tree of a ``hallq serve`` from tests (Linux ``/proc``)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.live import Forked, LiveServer, launch


def children(pid: int) -> list[int]:
    """The direct children of ``pid``."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except OSError:
            continue
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def state_of(pid: int) -> str | None:
    """The process state letter (R, S, Z …), None when there is no such process (reaped)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:"):
                return line.split()[1]
    except OSError:
        return None
    return None


def alive(pid: int) -> bool:
    """Running (a zombie is dead)."""
    return state_of(pid) not in (None, "Z")


def redis_child(pid: int) -> int | None:
    """The redis-server started by ``hallq serve`` ``pid``."""
    for child in children(pid):
        if "redis-server" in command_of(child) and alive(child):
            return child
    return None


def name_of(pid: int) -> str:
    """The process name (/proc/PID/comm; the speech worker names itself ``hallq-speech``)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def worker_children(pid: int) -> list[int]:
    """The uvicorn workers of ``hallq serve`` ``pid`` (``--workers N``)."""
    return [c for c in children(pid) if "spawn_main" in command_of(c) and name_of(c) != "hallq-speech" and alive(c)]


def descendants(pid: int) -> list[int]:
    """Every process under ``pid``."""
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def speech_processes(pid: int) -> list[int]:
    """The pyttsx3 speech workers anywhere under ``hallq serve`` ``pid``."""
    return [p for p in descendants(pid) if name_of(p) == "hallq-speech" and alive(p)]


def wait_for(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def health(server: LiveServer) -> int | None:
    """/healthz's status, None when nothing answers."""
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


class EmbeddedServer(LiveServer):
    """``hallq serve`` with its own embedded Redis in ``data_dir`` (no ``REDIS_URL``)."""

    def __init__(
        self,
        data_dir: Path,
        redis_url: str = "",
        workers: int = 1,
        port: int | None = None,
        secret: str | None = "test-secret",
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(redis_url, data_dir, workers=workers)
        self.env = env or {}
        self.secret = secret
        if port is not None:
            self.port = port

    def launch(self) -> subprocess.Popen[bytes] | Forked:
        """Start without waiting for it to be healthy."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self.serve_command()
        env = {**os.environ, "REDIS_URL": self.redis_url, **self.env}
        env.pop("HALLQ_SECRET", None)
        if self.secret is not None:
            env["HALLQ_SECRET"] = self.secret
        self.process = launch(command, env, self.log_path)
        return self.process

    def start(self, timeout: float = 30.0) -> None:
        """Launch, then wait until /healthz answers 200."""
        process = self.launch()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"hallq serve exited: {self.log_text()[-2000:]}")
            if health(self) == 200:
                return
            time.sleep(0.05)
        raise RuntimeError(f"hallq serve did not start: {self.log_text()[-2000:]}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
