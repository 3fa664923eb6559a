"""One speech process per host: :class:`SpeechHost` runs under ``hallq serve``'s parent and
owns the one :class:`~server.speech.SpeechService`; each worker's :class:`SpeechClient`
sends it the cache misses over a Unix socket in the data folder."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from server.speech import SpeechError, SpeechService, SpeechTimeout, SynthTiming
from server.speech_cache import is_ready

log = logging.getLogger("hallq.speech")

SPEECH_SOCKET = "HALLQ_SPEECH_SOCKET"
"""Environment variable naming the Unix socket of the :class:`SpeechHost` that ``hallq serve``
runs; its workers then use a :class:`SpeechClient` instead of a worker process each."""

_MAX_LINE = 4096
_RECONNECT_S = (0.05, 0.1, 0.2, 0.5, 1.0)


def socket_path_for(data_dir: Path) -> Path:
    """Where the speech host of a data folder listens (a Unix socket path has ~107 bytes)."""
    path = data_dir.resolve() / "speech.sock"
    if len(os.fsencode(path)) <= 100:
        return path
    tag = hashlib.sha256(os.fsencode(data_dir.resolve())).hexdigest()[:12]
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"hallq-speech-{tag}.sock"


class SpeechClient(SpeechService):
    """A :class:`SpeechService` whose cache misses go to the host's one worker over a Unix socket.

    Cache hits, single flight and prewarm work as in the service (the cache folder is shared);
    a synthesis is one JSON line each way. A host that is not reachable (restarting) is retried
    with a short back-off, and no request waits more than ``timeout`` in all.
    """

    def __init__(self, cache_dir: str | os.PathLike[str], socket_path: str | os.PathLike[str], **options: Any) -> None:
        super().__init__(cache_dir, **options)
        self.socket_path = Path(socket_path)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _stop_worker(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _worker_alive(self) -> bool:
        return False

    async def _synthesise(self, voice: str, text: str, path: Path) -> Path:
        async with self._lock:
            if is_ready(path):
                return path
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._ask(voice, text, path)
            except TimeoutError:
                await self._stop_worker()  # a late answer must not be taken for the next one
                log.error("speech host gave no answer on %r within %g s", text, self.timeout)
                raise SpeechTimeout(f"synthesis of {text!r} took over {self.timeout} s") from None
            finally:
                self.last_timing = SynthTiming(time.perf_counter() - started, 0.0)

    async def _ask(self, voice: str, text: str, path: Path) -> Path:
        request = json.dumps({"voice": voice, "text": text}).encode() + b"\n"
        for attempt in itertools.count():
            try:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_unix_connection(
                        str(self.socket_path), limit=_MAX_LINE
                    )
                assert self._reader is not None
                self._writer.write(request)
                await self._writer.drain()
                line = await self._reader.readline()
                if not line:
                    raise ConnectionResetError("the speech host closed the connection")
                break
            except OSError as exc:
                await self._stop_worker()
                if attempt == 0:
                    log.warning("speech host at %s unreachable (%s); retrying", self.socket_path, exc)
                await asyncio.sleep(_RECONNECT_S[min(attempt, len(_RECONNECT_S) - 1)])
        reply = json.loads(line)
        if not reply.get("ok"):
            if reply.get("timeout"):
                raise SpeechTimeout(reply.get("error", "timeout"))
            raise SpeechError(reply.get("error", "speech host failed"))
        self.syntheses += 1
        return path


class SpeechHost:
    """The one :class:`SpeechService` of a ``hallq serve`` (all its workers), on a Unix socket.

    Runs in a thread of the serving parent with its own event loop; the worker process it owns
    is the host's only pyttsx3 engine. A dead worker is started again in the background with
    back-off (``restarts`` counts it), besides being restarted by the next request as always.
    """

    def __init__(self, cache_dir: Path, socket_path: Path, *, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.service = SpeechService(cache_dir, timeout=timeout)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._done: asyncio.Event | None = None
        self.listening = False

    @property
    def worker_pid(self) -> int | None:
        return self.service.worker_pid

    def start(self) -> bool:
        """Start the thread; returns once the socket listens (the worker may still be starting),
        False when it cannot listen."""
        self._thread = threading.Thread(target=self._run, name="hallq-speech-host", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        return self.listening

    def stop(self) -> None:
        if self._loop is not None and self._done is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._done.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("speech host at %s failed", self.socket_path)
        finally:
            self.listening = False
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        # The socket is ours while we hold its lock: a second server on the same folder (with a
        # REDIS_URL nothing else stops it) must not take over, nor unlink, the first one's.
        import fcntl  # POSIX; the host serves `hallq serve`, which needs it anyway

        self._lock_file = open(f"{self.socket_path}.lock", "a")  # noqa: SIM115 - held while serving
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.socket_path = self.socket_path.with_name(f"{self.socket_path.stem}-{os.getpid()}.sock")
            log.warning("another server's speech host uses this folder; this one listens on %s", self.socket_path)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        await self.service.start()
        server = await asyncio.start_unix_server(self._serve, str(self.socket_path), limit=_MAX_LINE)
        os.chmod(self.socket_path, 0o600)
        self.listening = True
        self._ready.set()
        keeper = asyncio.create_task(self._keep_worker())
        try:
            await self._done.wait()
        finally:
            keeper.cancel()
            server.close()
            with contextlib.suppress(Exception):
                await self.service.stop()
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            self._lock_file.close()

    async def _keep_worker(self) -> None:
        """Once the first cache miss has started the worker, a worker that dies is started again
        at once (with back-off while it cannot start), so the next new phrase does not wait for it.
        It waits for the worker's start and exit rather than polling for them."""
        backoff, noticed = 0.5, False
        while True:
            if self.service.last_worker_pid is None:
                await self.service.worker_started.wait()
                continue
            if self.service.worker_pid is not None:
                backoff, noticed = 0.5, False
                await self.service.worker_exit()
                continue
            if not noticed:
                log.warning("speech worker pid %s is gone; starting it again", self.service.last_worker_pid)
                self.service.restarts += 1
                noticed = True
            try:
                await self.service.start_worker()
            except SpeechError:
                backoff = min(backoff * 2, 30.0)
            await asyncio.sleep(backoff)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    await self.service.wav_path(str(request["voice"]), str(request["text"]))
                    reply: dict[str, object] = {"ok": True}
                except SpeechTimeout as exc:
                    reply = {"ok": False, "error": str(exc), "timeout": True}
                except (SpeechError, ValueError, KeyError, TypeError) as exc:
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass  # a worker went away, or sent a line over the limit
        finally:
            writer.close()
