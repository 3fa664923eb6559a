"""Spoken phrases as cached WAV files, synthesised by one pyttsx3 worker process.

pyttsx3 keeps one engine per process and is not thread-safe, and espeak-ng
can be initialised only once per process, so synthesis lives in a single
child process (``spawn`` context: no inherited threads or event loop) that
owns the engine. :class:`SpeechService` talks to it over a pipe, one request
at a time, from asyncio:

* a phrase is cached as ``<cache_dir>/<sha256(voice + text)>.wav`` (:mod:`server.speech_cache`); a cached
  phrase is answered from the file system without touching the worker, and
  the audio URL of a call is thus a function of its phrase;
* concurrent requests for one phrase share one synthesis (single-flight);
* the worker starts at the first cache miss, not with the service;
* a worker that dies (crash, ``kill -9``) is restarted and the request retried
  once, with a warning logged; a synthesis that takes longer than ``timeout``
  kills the worker (it is restarted on the next request) and raises
  :class:`SpeechTimeout`, logged as an error;
* files appear atomically (written to a temporary name, then renamed), so
  several server processes may share one cache directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import TracebackType

from server.hall_model import Hall
from server.phrasing import (
    PhraseError,
    check_number,
    check_window,
    hall_spoken_text,
    voice_for,
)
from server.speech_cache import cache_name, is_ready, prune

log = logging.getLogger("hallq.speech")

DEFAULT_RATE = 165
"""Speaking rate in words per minute (espeak's default is 175, pyttsx3's 200).
A hall is noisy and echoes; a little slower is clearer. Changing it does not
invalidate cached files: clear the cache directory when you change it."""

MAX_TEXT = 500
PRUNE_EVERY = 200
PREWARM_MAX_PHRASES = 24


class SpeechError(RuntimeError):
    """A phrase could not be synthesised."""


class SpeechTimeout(SpeechError):
    """The worker did not answer within the timeout; it has been killed."""


class _WorkerDied(Exception):
    """The worker process exited or its pipe broke while serving a request."""


@dataclass(frozen=True)
class SynthTiming:
    """Where the time of the last synthesis went (for the benchmark)."""

    total_s: float
    worker_s: float


class SpeechService:
    """Asyncio front of the speech worker; use ``async with SpeechService(dir) as speech``."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        timeout: float = 10.0,
        start_timeout: float = 30.0,
        rate: int = DEFAULT_RATE,
        prewarm_limit: int = 2000,
        max_cache_bytes: int | None = 2 << 30,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.rate = rate
        self.syntheses = 0
        """Phrases synthesised by this service's worker (cache misses served)."""
        self.restarts = 0
        """Times the worker was found dead or killed and started again."""
        self.last_worker_pid: int | None = None
        """The process id of the worker started last (None until the first cache miss)."""
        self.worker_started = asyncio.Event()
        """Set when a worker has started (the first cache miss started it)."""
        self.last_timing: SynthTiming | None = None
        self._ctx = multiprocessing.get_context("spawn")
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()  # one request at a time to the worker
        self._inflight: dict[Path, asyncio.Task[Path]] = {}
        self._next_id = 0
        self._prewarm: deque[tuple[str, str]] = deque(maxlen=prewarm_limit)
        self._prewarm_task: asyncio.Task[None] | None = None
        self.max_cache_bytes = max_cache_bytes
        self._closed = False

    # --- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        """Create the cache directory and take requests. The worker starts at the first phrase
        that is not cached (~0.25 CPU-s and ~97 MB), not here: a server whose calls are all in
        the cache (a restart mid-day) never runs one, and a hall's first ticket prewarms its
        phrases, so the worker is up by the time that ticket is called."""
        self._closed = False
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    async def start_worker(self) -> None:
        """Start the worker now unless it runs; raises :class:`SpeechError` when it cannot."""
        async with self._lock:
            if not self._worker_alive():
                await self._start_worker()

    async def stop(self) -> None:
        """Cancel pending work and stop the worker (it is killed if it does not exit)."""
        self._closed = True
        tasks = [t for t in (self._prewarm_task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._prewarm.clear()
        await self._stop_worker()

    async def __aenter__(self) -> SpeechService:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def worker_pid(self) -> int | None:
        """The worker's process id while it runs (tests kill it to check recovery)."""
        return self._process.pid if self._worker_alive() and self._process else None

    async def worker_exit(self) -> None:
        """Return once the running worker's process has ended (at once when none runs).

        Waits on the process's sentinel, which the kernel makes readable when it exits, so a
        keeper needs no polling (each wakeup of an idle loop costs ~1 ms here)."""
        process = self._process
        if process is None or not process.is_alive():
            return
        loop = asyncio.get_running_loop()
        ended = loop.create_future()
        sentinel = process.sentinel

        def exited() -> None:
            if not ended.done():
                ended.set_result(None)

        loop.add_reader(sentinel, exited)
        try:
            await ended
        finally:
            loop.remove_reader(sentinel)
        # The sentinel is readable as the process exits, a moment before it can be reaped:
        # wait for that, so that worker_pid (is_alive) already says it is gone.
        await asyncio.to_thread(process.join, 5.0)

    # --- phrases ---------------------------------------------------------

    def cache_path(self, voice: str, text: str) -> Path:
        """Where the WAV of (voice, text) is, or will be, cached."""
        return self.cache_dir / cache_name(voice, text)

    def prune(self, max_bytes: int) -> int:
        """Delete the oldest cached phrases until the cache holds at most ``max_bytes``.

        Returns how many files were deleted. Runs by itself every
        ``PRUNE_EVERY`` syntheses when ``max_cache_bytes`` is set (default
        2 GiB, some 12,000 phrases): ticket numbers recur daily, so most
        phrases are worth keeping, but the disk must not fill up.
        """
        return prune(self.cache_dir, max_bytes)

    def is_cached(self, voice: str, text: str) -> bool:
        """Whether the phrase is already synthesised."""
        return is_ready(self.cache_path(voice, text))

    async def wav_path(self, voice: str, text: str) -> Path:
        """The cached WAV (mono 16-bit PCM) of ``text`` in espeak ``voice``, made on first request.

        Raises :class:`SpeechError` (or :class:`SpeechTimeout`) when it cannot
        be made, ``ValueError`` for an empty or over-long text.
        """
        if not voice or not text.strip() or len(text) > MAX_TEXT:
            raise ValueError(f"cannot speak {text!r} in voice {voice!r}")
        if self._closed:
            raise SpeechError("speech service is stopped")
        path = self.cache_path(voice, text)
        if is_ready(path):
            return path
        task = self._inflight.get(path)
        if task is None:
            task = asyncio.create_task(self._synthesise(voice, text, path))
            self._inflight[path] = task
            task.add_done_callback(functools.partial(self._forget, path))
        # shield: a caller that gives up must not cancel the synthesis others wait for.
        return await asyncio.shield(task)

    async def announcement_wav(self, hall: Hall, lang: str, number: str, window: str) -> Path:
        """The WAV of a call's phrase in ``lang``, as ``/audio/{hall}/{lang}/{number}/{window}.wav``
        serves it.

        Raises :class:`~server.phrasing.PhraseError` for a malformed number or
        window id, a window the hall does not have, a prefix none of its
        services uses, or a language it does not announce in: only phrases a
        hall can really call get synthesised, which bounds the cache.
        """
        _check_call(hall, number, window)
        text = hall_spoken_text(hall, lang, number, window)
        return await self.wav_path(voice_for(hall.rules.announce.voices, lang), text)

    def prewarm(self, hall: Hall, number: str, windows: Iterable[str] | None = None) -> int:
        """Queue background synthesis of ``number``'s calls so they are cached when called.

        Call it on ``ticket.issued`` with the windows that may call the ticket
        (default: every window of the hall). Runs one phrase at a time and
        never ahead of a foreground request by more than one phrase. Returns
        how many phrases were queued (not already cached); malformed input is
        ignored (0). The queue is bounded: the oldest entries are dropped.

        A ticket that more than ``PREWARM_MAX_PHRASES`` phrases would cover (a
        big hall's comprehensive service: 145 windows x 2 languages) is not
        prewarmed at all: that would cost seconds of worker time and ~50 MB
        of cache per ticket, while a cold phrase costs ~12 ms when called.
        """
        if self._closed:
            return 0
        window_ids = [w.id for w in hall.windows] if windows is None else list(windows)
        if len(window_ids) * len(hall.languages) > PREWARM_MAX_PHRASES:
            return 0
        queued = 0
        for window in window_ids:
            try:
                _check_call(hall, number, window)
                for lang in hall.languages:
                    voice = voice_for(hall.rules.announce.voices, lang)
                    text = hall_spoken_text(hall, lang, number, window)
                    if not self.is_cached(voice, text):
                        self._prewarm.append((voice, text))
                        queued += 1
            except PhraseError:
                continue
        if queued and (self._prewarm_task is None or self._prewarm_task.done()):
            self._prewarm_task = asyncio.create_task(self._run_prewarm())
        return queued

    # --- internals -------------------------------------------------------

    def _forget(self, path: Path, task: asyncio.Task[Path]) -> None:
        self._inflight.pop(path, None)
        if not task.cancelled():
            task.exception()  # retrieved: waiters re-raise it; no "never retrieved" noise

    async def _run_prewarm(self) -> None:
        while self._prewarm and not self._closed:
            voice, text = self._prewarm.popleft()
            try:
                await self.wav_path(voice, text)
            except (SpeechError, ValueError) as exc:
                log.warning("prewarm of %r in voice %r failed: %s", text, voice, exc)

    async def _synthesise(self, voice: str, text: str, path: Path) -> Path:
        async with self._lock:
            if is_ready(path):  # made meanwhile, e.g. by another server process
                return path
            for attempt in (1, 2):
                try:
                    if not self._worker_alive():
                        if self._process is not None:
                            log.warning(
                                "speech worker pid %s is gone (exit code %s); restarting it",
                                self._process.pid,
                                self._process.exitcode,
                            )
                            self.restarts += 1
                        await self._start_worker()
                    return await self._roundtrip(voice, text, path)
                except _WorkerDied as exc:
                    self.restarts += 1
                    if attempt == 2:
                        log.error("speech worker died twice on %r (%s); giving up", text, exc)
                        raise SpeechError(f"speech worker died: {exc}") from exc
                    log.warning("speech worker died on %r (%s); restarting and retrying", text, exc)
                    await self._stop_worker()
            raise AssertionError("unreachable")

    def _worker_alive(self) -> bool:
        return self._process is not None and self._process.is_alive() and self._conn is not None

    async def _start_worker(self) -> None:
        await self._stop_worker()
        parent, child = self._ctx.Pipe()
        from server.speech_worker import worker_main  # the child's side; it imports this module

        process = self._ctx.Process(target=worker_main, args=(child, self.rate), name="hallq-speech", daemon=True)
        await asyncio.to_thread(process.start)
        child.close()
        self._process, self._conn = process, parent
        ready = await asyncio.to_thread(parent.poll, self.start_timeout)
        try:
            message = parent.recv() if ready else ("failed", "no answer in time")
        except (EOFError, OSError) as exc:
            message = ("failed", f"exited while starting ({exc!r}, exit code {process.exitcode})")
        if message[0] != "ready":
            await self._stop_worker()
            log.error("speech worker failed to start: %s", message[1])
            raise SpeechError(f"speech worker failed to start: {message[1]}")
        self.last_worker_pid = process.pid
        self.worker_started.set()
        log.info("speech worker started, pid %s", process.pid)

    async def _stop_worker(self) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn = None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)  # asks the worker to exit
        if process is not None:
            await asyncio.to_thread(process.join, 2.0)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 2.0)
        if conn is not None:
            conn.close()

    async def _roundtrip(self, voice: str, text: str, path: Path) -> Path:
        assert self._conn is not None and self._process is not None
        conn, process = self._conn, self._process
        self._next_id += 1
        request_id = self._next_id
        started = time.perf_counter()
        try:
            conn.send((request_id, voice, text, str(path)))
        except OSError as exc:
            raise _WorkerDied(f"pipe broken: {exc!r}") from exc
        deadline = started + self.timeout
        while True:
            remaining = deadline - time.perf_counter()
            ready = remaining > 0 and await asyncio.to_thread(conn.poll, remaining)
            if not ready:
                log.error(
                    "speech worker pid %s took over %g s on %r; killing it",
                    process.pid,
                    self.timeout,
                    text,
                )
                process.kill()
                await self._stop_worker()
                self.restarts += 1
                raise SpeechTimeout(f"synthesis of {text!r} took over {self.timeout} s")
            try:
                reply = conn.recv()
            except (EOFError, OSError) as exc:
                await asyncio.to_thread(process.join, 1.0)
                raise _WorkerDied(f"pid {process.pid}, exit code {process.exitcode}") from exc
            if reply[0] == request_id:
                break
            # An answer to an earlier request abandoned by a timeout: skip it.
        _, ok, worker_s, error, broken = reply
        if not ok:
            log.error("speech worker could not say %r in voice %r: %s", text, voice, error)
            if broken:  # its engine may be stuck mid-loop: start afresh next time
                await self._stop_worker()
                self.restarts += 1
            raise SpeechError(f"cannot say {text!r} in voice {voice!r}: {error}")
        self.syntheses += 1
        if self.max_cache_bytes is not None and self.syntheses % PRUNE_EVERY == 0:
            await asyncio.to_thread(self.prune, self.max_cache_bytes)
        self.last_timing = SynthTiming(time.perf_counter() - started, worker_s)
        return path


def _check_call(hall: Hall, number: str, window: str) -> None:
    check_number(number)
    check_window(window)
    if hall.window(window) is None:
        raise PhraseError(f"hall {hall.id!r} has no window {window!r}")
    if number[0] not in {s.prefix for s in hall.services}:
        raise PhraseError(f"hall {hall.id!r} issues no tickets with prefix {number[0]!r}")
