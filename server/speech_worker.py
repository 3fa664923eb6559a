"""The speech worker process: one pyttsx3 engine (not thread-safe, one per process) on the
espeak-ng of the ``espeakng_loader`` wheel, answering synthesis requests over a pipe
(:class:`server.speech.SpeechService` starts it and talks to it)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
import threading
import time
import wave
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from server.speech_cache import is_ready

# This module is what the worker process imports (besides the main module, see server.cli):
# nothing here may pull in the hall file's schema or the app.
log = logging.getLogger("hallq.speech")

FINISH_WAIT_S = 120.0  # the server's own timeout (default 10 s) normally strikes first


def _load_espeak() -> None:
    """Make the espeak-ng of the ``espeakng_loader`` wheel the one pyttsx3 uses.

    On Linux always: distributions ship older espeak-ng builds (Debian's 1.51
    reads Chinese characters letter by letter as English), and the wheel's
    1.52 with its own data reads them right. Elsewhere only when no system
    library is found. The library is loaded RTLD_GLOBAL under its soname
    ``libespeak-ng.so.1``, so pyttsx3's own ``LoadLibrary("libespeak-ng.so.1")``
    gets this copy; ESPEAK_DATA_PATH points it at the matching data.
    """
    if not sys.platform.startswith("linux") and ctypes.util.find_library("espeak-ng"):
        return
    try:
        import espeakng_loader
    except ImportError:
        return
    ctypes.CDLL(espeakng_loader.get_library_path(), mode=ctypes.RTLD_GLOBAL)
    os.environ["ESPEAK_DATA_PATH"] = espeakng_loader.get_data_path()


def _name_process(name: bytes) -> None:
    """Show as ``name`` in ``ps -o comm`` and /proc/PID/comm (Linux), not as another spawn_main."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME


def _silence_stdout() -> None:
    # pyttsx3 prints "Audio saved to …" after each file; keep the server's stdout clean,
    # at the file-descriptor level too in case the C library writes to it.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


class _Engine:
    """The worker's pyttsx3 engine, with errors surfaced instead of swallowed."""

    def __init__(self, rate: int) -> None:
        _load_espeak()
        import pyttsx3

        # pyttsx3 reports driver errors (an unknown voice, say) through its "error"
        # callback and carries on with the previous voice; collect them to raise.
        self.errors: list[BaseException] = []
        self.broken = False  # set when the run loop failed: the engine may be unusable
        self.finished = threading.Event()
        self.engine: Any = pyttsx3.init("espeak")
        self.engine.connect("error", self._on_error)
        self.engine.connect("finished-utterance", self._on_finished)
        self.engine.setProperty("rate", rate)
        self._raise_errors()

    def _on_error(self, name: object = None, exception: BaseException | None = None) -> None:
        self.errors.append(exception or RuntimeError("unknown pyttsx3 error"))

    def _on_finished(self, name: object = None, completed: bool = True) -> None:
        self.finished.set()  # called from espeak's synthesis thread

    def _raise_errors(self) -> None:
        if self.errors:
            error, self.errors = self.errors[0], []
            raise error

    def save(self, voice: str, text: str, path: Path) -> None:
        """Write ``text`` in ``voice`` to ``path`` as WAV, atomically; raise on any failure."""
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            self.engine.setProperty("voice", voice)
            self._raise_errors()
            self.finished.clear()
            self.engine.save_to_file(text, str(temporary))
            # save_to_file only queues; runAndWait does the work, once per file.
            try:
                self.engine.runAndWait()
            except BaseException:
                self.broken = True
                raise
            # pyttsx3 2.99's espeak driver runs espeak asynchronously and its
            # runAndWait returns after one 10 ms tick of its loop, whether or not
            # synthesis is done; the file is written by espeak's thread at the
            # end. Wait for that ("finished-utterance"), else a slow phrase (the
            # first of a voice, a loaded machine) would be missing or cut.
            if not self.finished.wait(FINISH_WAIT_S):
                self.broken = True
                raise RuntimeError(f"espeak did not finish within {FINISH_WAIT_S} s")
            self._raise_errors()
            if not is_ready(temporary):
                raise RuntimeError("espeak produced no audio")
            with wave.open(str(temporary), "rb") as check:  # also proves it is WAV
                if check.getnchannels() != 1 or check.getsampwidth() != 2 or not check.getnframes():
                    raise RuntimeError(f"unexpected audio format {check.getparams()}")
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()


def worker_main(conn: Connection, rate: int) -> None:
    """Body of the worker process: answer (id, voice, text, path) requests until told to stop."""
    _name_process(b"hallq-speech")
    _silence_stdout()
    try:
        engine = _Engine(rate)
    except Exception as exc:  # noqa: BLE001 — pyttsx3 and espeak raise anything: the worker reports it instead of dying
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the server went away
        if request is None:
            return
        request_id, voice, text, path = request
        started = time.perf_counter()
        try:
            engine.save(voice, text, Path(path))
        except Exception as exc:  # noqa: BLE001 — pyttsx3 and espeak raise anything: the worker reports it and goes on
            error = f"{type(exc).__name__}: {exc}"
            conn.send((request_id, False, time.perf_counter() - started, error, engine.broken))
            if engine.broken:
                return  # the server starts a fresh worker
            continue
        conn.send((request_id, True, time.perf_counter() - started, "", False))
