"""Process hygiene: one server per data folder, and children that die with their parent.

* :class:`DataLock` — an ``fcntl.flock`` on ``<folder>/hallq.lock``. The lock belongs to
  an open file description, so it is held for as long as *any* process holding the
  descriptor lives: ``hallq serve`` passes it to its redis-server, and a second server
  (or a restart while an orphaned redis-server still runs on the append-only file) is
  refused with the pid of the holder instead of starting a second Redis on the same file.
* :func:`die_with_parent` — ``PR_SET_PDEATHSIG`` (Linux): the kernel signals this process
  when the thread that started it ends, so killing hallq's parent (even with SIGKILL)
  takes its redis-server and its workers with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
#: Environment variable naming the ``hallq serve`` process that workers must die with.
SUPERVISOR_PID = "HALLQ_SUPERVISOR_PID"


class FolderInUse(RuntimeError):
    """Another live process holds the data folder's lock."""


def die_with_parent(signum: int = signal.SIGTERM, parent: int | None = None) -> bool:
    """Ask the kernel to send ``signum`` to this process when its parent dies.

    ``parent`` is the pid the caller expects as its parent: when it is already gone (the
    parent died before we got here), the signal is raised at once. False where the
    call does not exist (not Linux).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)
    return True


def worker_dies_with_supervisor() -> None:
    """In a uvicorn worker: die (SIGTERM, a graceful stop) when ``hallq serve`` dies.

    Does nothing in the serving process itself (``--workers 1``) or outside ``hallq serve``.
    """
    supervisor = os.environ.get(SUPERVISOR_PID, "")
    if supervisor.isdigit() and int(supervisor) != os.getpid():
        die_with_parent(signal.SIGTERM, parent=int(supervisor))


def _preexec_die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    die_with_parent(signal.SIGTERM)


#: ``preexec_fn`` for subprocesses that must not outlive hallq (None where unsupported).
PREEXEC_DIE_WITH_PARENT = _preexec_die_with_parent if sys.platform.startswith("linux") else None


class DataLock:
    """An exclusive lock on a data folder, with the holder's pid written inside for humans."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "hallq.lock"
        self.fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, retrying for ``wait`` seconds; :class:`FolderInUse` when it stays taken.

        The wait lets a restart succeed while the previous redis-server is still flushing
        its append-only file on its way out.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = self.holder()
                    os.close(fd)
                    raise FolderInUse(
                        f"the data folder {self.path.parent} is in use by another hallq server"
                        + (f" (pid {holder})" if holder else "")
                        + "; stop it first, or give this one another --data folder"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def holder(self) -> str:
        """The pid written by the holder of the lock ('' when unknown)."""
        with contextlib.suppress(OSError):
            return self.path.read_text().strip()
        return ""

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
