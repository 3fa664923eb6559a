"""A zygote for the suite's ``hallq serve`` processes: one Python that has imported what a
server imports forks a server for each start, instead of each new interpreter importing it
all again (~0.3 of the ~0.5 CPU-s a server costs to start; the suite starts ~280).

The forked child is the real thing: it runs ``server.cli`` as ``__main__`` with the test's
arguments, environment, working folder and log file, in a session of its own, and exits with
the CLI's code; only the imports were done before the fork. Three rules keep it faithful:

- **Nothing the server decides at import is preloaded wrongly.** prometheus_client picks its
  multiprocess mode at import from ``PROMETHEUS_MULTIPROC_DIR``, which ``hallq serve`` sets
  later: it is never preloaded (a blocking finder), nor anything that imports it.
- **A start whose environment differs in a variable read at import is not forked.** Every
  variable read while preloading is recorded with its value; a request that changes one
  (``HALLQ_HEARTBEAT_S`` for a heartbeat test, say) is answered "spawn", and the client
  starts a plain subprocess. Variables ``hallq serve`` sets for itself must not be read at all.
- **The zygote is single-threaded when it forks** (checked after the preload).

Protocol, one JSON line each way on stdin/stdout: ``{"argv", "env", "cwd", "log"}`` →
``{"pid", "exit": path}`` or ``{"spawn": [variables]}``. The child's exit status is written
to ``path`` (``-N`` for signal N, as subprocess reports it) once the zygote reaps it.
Run as ``python -m tests.zygote STATUS_DIR``.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.abc
import io
import json
import os
import pkgutil
import runpy
import select
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

#: What ``hallq serve`` imports before and while it serves (server.app pulls in the rest).
ROOTS = (
    "server.cli",
    "server.serve_cli",
    "server.app",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
)
#: Never preloaded: it chooses its value class at import from the environment.
POISONED = "prometheus_client"


def set_by_the_server() -> frozenset[str]:
    """Variables ``hallq serve`` sets in its own environment (server/serve_cli.py): a module
    that read one at import would have read it before it was set."""
    from server.lifeline import SUPERVISOR_PID
    from server.speech_host import SPEECH_SOCKET

    return frozenset(
        {"REDIS_URL", "HALLQ_CONFIG", "HALLQ_DATA", "HALLQ_PUBLIC_URL", SUPERVISOR_PID, SPEECH_SOCKET}
        | {"PROMETHEUS_MULTIPROC_DIR"}
    )


_ABSENT = "\0absent"


class _Poison(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> None:
        if name == POISONED or name.startswith(POISONED + "."):
            raise ImportError(f"{name} is not preloaded by the zygote")


class _Recording(MutableMapping[str, str]):
    """``os.environ`` while preloading: every variable read is noted with its value."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real
        self.read: dict[str, str] = {}

    def __getitem__(self, key: str) -> str:
        try:
            value = self.real[key]
        except KeyError:
            self.read.setdefault(key, _ABSENT)
            raise
        self.read.setdefault(key, value)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        del self.real[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.real)

    def __len__(self) -> int:
        return len(self.real)

    def copy(self) -> dict[str, str]:
        return dict(self.real)


def preload() -> dict[str, str]:
    """Import what a server imports (but prometheus_client and its importers); return the
    environment variables read meanwhile, with their values."""
    real = os.environ
    recording = _Recording(real)
    poison = _Poison()
    sys.meta_path.insert(0, poison)
    os.environ = recording  # type: ignore[assignment]  # noqa: B003 - swapped to record reads, not to clear
    try:
        for name in ROOTS:
            _import_what_can_be(name)
        # server.app imports prometheus_client early on, before most of the package: every
        # other module of the package is imported on its own.
        import server

        for module in pkgutil.walk_packages(server.__path__, "server."):
            _import_what_can_be(module.name)
    finally:
        os.environ = real  # noqa: B003 - the real one back
        sys.meta_path.remove(poison)
    if any(name == POISONED or name.startswith(POISONED + ".") for name in sys.modules):
        raise RuntimeError(f"{POISONED} was preloaded")
    early = sorted(set_by_the_server() & set(recording.read))
    if early:
        raise RuntimeError(f"read at import, before hallq serve sets them: {early}")
    if threading.active_count() != 1:
        raise RuntimeError(f"threads started while preloading: {threading.enumerate()}")
    return recording.read


def _import_what_can_be(name: str) -> None:
    """Import ``name``; where it needs the poisoned package, import what it imports instead."""
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if POISONED not in str(exc):
            raise
        # `name` (an importer of prometheus_client) stays out; the modules it imported before
        # reaching that import are in sys.modules already, which is the point.


def differing(read: dict[str, str], env: dict[str, str]) -> list[str]:
    """The variables read at preload whose value in ``env`` is another."""
    return sorted(key for key, value in read.items() if env.get(key, _ABSENT) != value)


def run_child(request: dict[str, Any], keep: list[int]) -> None:
    """In the forked child: become ``python -m server.cli ARGV`` and exit with its code."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in keep:
            os.close(fd)
        # The zygote's own stdin and stdout (the requests and answers) are replaced here.
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for fd in (null, log):
            if fd > 2:
                os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), errors="backslashreplace", write_through=True)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["server/cli.py", *request["argv"]]
        # Run as __main__ afresh, as `python -m server.cli` does (the preloaded copy stays
        # out of the way; runpy warns when it finds one).
        sys.modules.pop("server.cli", None)
        try:
            runpy.run_module("server.cli", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - an uncaught error ends the process as Python would
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()  # what the interpreter runs at exit (multiprocessing's cleanup…)
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def main() -> None:
    status_dir = Path(sys.argv[1])
    read = preload()
    requests = sys.stdin.buffer
    answers = sys.stdout.buffer
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    exits: dict[int, Path] = {}
    count = 0
    while True:
        ready, _, _ = select.select([requests, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 512)
            _reap(exits)
        if requests not in ready:
            continue
        line = requests.readline()
        if not line:
            return  # the test process is gone; its servers go on until they are stopped
        request = json.loads(line)
        differs = differing(read, request["env"])
        if differs:
            answers.write(json.dumps({"spawn": differs}).encode() + b"\n")
            answers.flush()
            continue
        count += 1
        exit_path = status_dir / f"{count}.exit"
        pid = os.fork()
        if pid == 0:
            run_child(request, [wake_r, wake_w])
        exits[pid] = exit_path
        answers.write(json.dumps({"pid": pid, "exit": str(exit_path)}).encode() + b"\n")
        answers.flush()
        _reap(exits)


def _reap(exits: dict[int, Path]) -> None:
    """Collect every exited child and write its status (as subprocess.Popen.returncode)."""
    while exits:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = exits.pop(pid, None)
        if path is not None:
            partial = path.with_suffix(".partial")
            partial.write_text(str(os.waitstatus_to_exitcode(status)))
            partial.rename(path)


if __name__ == "__main__":
    main()
