"""A real ``hallq serve`` for benchmarks: one way to start it, wait for it and stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.embedded import free_port  # noqa: E402 - after the path, when run as a script


@contextmanager
def hallq_server(
    data: Path, args: Sequence[str] = (), env: Mapping[str, str | None] | None = None, timeout: float = 60
) -> Iterator[str]:
    """``hallq serve`` on a free port with its own embedded Redis in ``data`` (``REDIS_URL`` is
    dropped), extra ``args`` and ``env`` (a None value removes the variable). Yields its URL once
    ``/healthz`` answers; stops the whole process group after (SIGKILL if SIGTERM is not enough)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    command = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--data", str(data)]
    log = (data / "server.log").open("ab")
    process = subprocess.Popen(
        [*command, *args, "--no-access-log"],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data / "server.log").read_text()[-2000:])
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
