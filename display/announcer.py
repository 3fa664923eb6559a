"""``hallq announce``: speak a hall's calls on this PC's speakers, or write them as WAV files.

It follows the public display socket ``/ws/halls/{hall}/display`` like a lobby
screen does, and for each ``ticket.called`` / ``ticket.recalled`` event plays
the chime, then the call's phrase in each hall language, the whole phrase set
repeated ``announce.repeat`` times.

The rules of *what* to say and *when* (one call at a time, nothing said twice after a
reconnect, shorter under a backlog) are :class:`~display.announce_queue.AnnounceQueue` in
display/announce_queue.py, a plain class without I/O, the same rule as the lobby browser's.

Everything here is thin I/O: the socket (reconnecting with backoff and
resuming from the last ``seq``), synthesis through
:class:`server.speech.SpeechService` (assembled by display/announce_audio.py),
and playing with ``paplay``, ``aplay``, ``ffplay`` or sox's ``play``, or, with
``--out DIR``, writing each announcement as one WAV file ``0001-A012-3.wav``,
``0002-…`` in order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import json
import logging
import os
import random
import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from display.announce_audio import GAP_S, Audio, HallVoice, Speech, render_part, wav_ms
from display.announce_queue import AnnounceQueue, Call, Plan

log = logging.getLogger("hallq.announcer")

PLAYERS: tuple[tuple[str, ...], ...] = (
    ("paplay",),
    ("aplay", "-q"),
    ("ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"),
    ("play", "-q"),
)


def find_player() -> tuple[str, ...] | None:
    """The first available command-line WAV player, as an argv prefix."""
    for command in PLAYERS:
        if shutil.which(command[0]):
            return command
    return None


# --- the running announcer ----------------------------------------------------------


class Announcer:
    """Follows one hall's display socket and speaks (or writes) its calls."""

    def __init__(
        self,
        server: str,
        hall: str,
        speech: Speech,
        *,
        out: Path | None = None,
        limit: int | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.hall = hall
        self.speech = speech
        self.out = out
        self.limit = limit
        # Our rounds put GAP_S of silence after the chime and each phrase: the rule counts it.
        self.queue = AnnounceQueue(repeat=2, gap_ms=round(GAP_S * 1000))
        self._preparing: dict[int, asyncio.Task[None]] = {}  # by the call's seq
        self.voice: HallVoice | None = None
        self.spoken = 0
        self.clock_offset_ms = 0  # server clock minus ours, from the HTTP Date header
        self._wake = asyncio.Event()
        self._warned: set[str] = set()
        self._player = None if out else find_player()
        self._scratch: Path | None = None  # a temporary folder for the player's files

    def now_ms(self) -> int:
        """Now on the server's clock (event ``at`` times are server times)."""
        return int(time.time() * 1000) + self.clock_offset_ms

    async def run(self) -> None:
        """Run until ``limit`` announcements are done (forever without a limit)."""
        if self.out is None and self._player is None:
            log.error("no audio player found (tried %s): calls will not be heard", ", ".join(c[0] for c in PLAYERS))
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
        if self.voice is None:
            await self.load_hall()  # fail fast on an unknown hall
        follower = asyncio.create_task(self.follow())
        try:
            await self.speak_loop()
        finally:
            tasks = [follower, *self._preparing.values()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None

    async def load_hall(self) -> HallVoice:
        """Fetch the public hall config; note the server's clock."""
        url = f"{self.server}/api/halls/{urllib.parse.quote(self.hall)}"
        public, date = await asyncio.to_thread(_get_json, url)
        self.voice = HallVoice.from_public(public)
        self.queue.repeat = max(1, self.voice.repeat)
        self.queue.languages = self.voice.languages
        if date is not None:
            self.clock_offset_ms = int(date * 1000 - time.time() * 1000)
        return self.voice

    def socket_url(self) -> str:
        base = urllib.parse.urlsplit(self.server)
        scheme = "wss" if base.scheme == "https" else "ws"
        path = f"{base.path}/ws/halls/{urllib.parse.quote(self.hall)}/display"
        query = "" if self.queue.last_seq is None else f"since={self.queue.last_seq}"
        return urllib.parse.urlunsplit((scheme, base.netloc, path, query, ""))

    async def follow(self) -> None:
        """Keep the display socket open, resuming from the last seq after each drop.

        websockets' reconnecting ``connect()`` retries failed attempts with its back-off; each
        new attempt asks for the events after the last seq heard (``since=``), and after a drop
        the hall is read again (its config or the server's clock may have changed).
        """
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        connector = connect(self.socket_url(), open_timeout=10, ping_interval=20, process_exception=retry_always)
        async for socket in connector:
            log.info("following %s", connector.uri)
            try:
                async for message in socket:
                    self.receive(json.loads(message))
                log.warning("display socket closed by the server; reconnecting")
            except ConnectionClosed as exc:
                log.warning("display socket failed (%s); reconnecting", exc)
            await asyncio.sleep(random.uniform(0.5, 1.5))  # a server dropping at once is not hammered
            with contextlib.suppress(HallNotFound, OSError):
                await self.load_hall()
            connector.uri = self.socket_url()  # the next attempt resumes after what was heard

    def receive(self, message: Mapping[str, Any]) -> None:
        """Feed one socket message to the queue."""
        if message.get("type") == "snapshot":
            state = message.get("state") or {}
            queued = self.queue.snapshot(int(message.get("seq", 0)), state.get("recent") or [], self.now_ms())
        elif "seq" in message:
            queued = int(self.queue.offer(message, self.now_ms()))
        else:
            return  # status frames and the like
        if queued:
            for call in self.queue.calls:
                self._prepare(call)
            self._wake.set()

    def _prepare(self, call: Call) -> None:
        """Synthesise a waiting call's phrases now, and tell the queue their real lengths."""
        if self.voice is None or call.seq in self._preparing:
            return
        voice = self.voice

        async def prepare() -> None:
            for lang, speaker, text in voice.phrases(call):
                try:
                    path = await self.speech.wav_path(speaker, text)
                    self.queue.learn(lang, call.number, call.window, wav_ms(path))
                except Exception as exc:  # noqa: BLE001 — preparing is best effort: the announcement itself reports any failure
                    log.debug("could not prepare %s in %s: %s", call.number, lang, exc)

        task = asyncio.create_task(prepare())
        self._preparing[call.seq] = task
        task.add_done_callback(lambda _: self._preparing.pop(call.seq, None))

    async def speak_loop(self) -> None:
        """Speak queued calls one at a time, forever or until ``limit``."""
        while self.limit is None or self.spoken < self.limit:
            plan = self.queue.take(self.now_ms())
            if plan is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self.announce(plan)
            except Exception:
                log.exception("could not announce %s at window %s", plan.call.number, plan.call.window)
            self.spoken += 1

    async def announce(self, plan: Plan) -> None:
        """Play (or write) one call: the chime, then its phrases, up to ``plan.rounds`` times."""
        assert self.voice is not None
        call = plan.call
        log.info(
            "announcing %s at window %s%s (%s%s, %d round(s))",
            call.number,
            call.window,
            " (recall)" if call.recall else "",
            "chime, " if plan.chime else "",
            "+".join(plan.languages),
            plan.rounds,
        )
        for lang in self.voice.mismatches(call):
            if lang not in self._warned:
                self._warned.add(lang)
                log.warning(
                    "hall %s shows %r but the announcer says its default %s wording: "
                    "the server does not publish announce.templates",
                    self.hall,
                    call.texts[lang],
                    lang,
                )
        whole: Audio | None = None
        # Part by part: before each, the queue may shorten the rest of this call (a burst
        # of calls arrived while it was being said).
        while (part := self.queue.step(self.now_ms())) is not None:
            audio = await render_part(self.speech, self.voice, call, part)
            if self.out is None:
                await self.play(audio)
            elif whole is None:
                whole = audio
            else:
                whole.frames += audio.frames
        if self.out is not None and whole is not None:
            whole.write(self.out / f"{self.spoken + 1:04d}-{call.number}-{call.window}.wav")

    async def play(self, audio: Audio) -> None:
        if self._player is None:
            log.error("cannot play the announcement: no audio player (install alsa-utils)")
            return
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="hallq-announce-"))
        path = self._scratch / "round.wav"
        audio.write(path)
        process = await asyncio.create_subprocess_exec(
            *self._player,
            str(path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        if process.returncode:
            lines = stderr.decode(errors="replace").strip().splitlines() or [""]
            log.error("%s failed (exit %s): %s", self._player[0], process.returncode, lines[-1])


def retry_always(exc: Exception) -> None:
    """websockets' ``process_exception`` for the announcer: a PC speaking in the hall has no one
    to tell, so it retries whatever failed (network, proxy, a server starting) with back-off."""
    log.warning("display socket failed (%s: %s); reconnecting", type(exc).__name__, exc)


class HallNotFound(Exception):
    """The server does not know the hall."""


def _get_json(url: str) -> tuple[Any, float | None]:
    """GET ``url``; the JSON body and the server's Date header as epoch seconds (or None)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
            date = response.headers.get("Date")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise HallNotFound(url) from exc
        raise
    when = email.utils.parsedate_to_datetime(date).timestamp() if date else None
    return body, when


# --- command line ---------------------------------------------------------------------


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hallq" / "speech"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hallq announce",
        description="Speak a hall's calls on this computer's speakers (chime, then each language).",
    )
    p.add_argument("--hall", required=True, help="hall id, e.g. demo")
    p.add_argument("--server", required=True, help="server base URL, e.g. http://127.0.0.1:8765")
    p.add_argument(
        "--out", type=Path, help="write each announcement as a WAV file here instead of playing it (0001-A012-3.wav, …)"
    )
    p.add_argument("--cache", type=Path, default=None, help=f"speech cache directory (default {default_cache()})")
    # Calls are no longer dropped for their age (every window's latest call is said):
    # the option is accepted, so old unit files keep working, and ignored.
    p.add_argument("--max-age", type=float, default=None, help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, default=None, help="exit after this many announcements (for scripts and tests)")
    return p


async def _run(args: argparse.Namespace) -> int:
    from server.speech import SpeechService

    task = asyncio.current_task()
    if task is not None:  # SIGTERM (systemd stop): unwind, so the speech worker is stopped too
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    if args.max_age is not None:
        log.warning("--max-age is ignored: calls are no longer dropped for their age")
    async with SpeechService(args.cache or default_cache()) as speech:
        announcer = Announcer(args.server, args.hall, speech, out=args.out, limit=args.limit)
        try:
            await announcer.load_hall()  # fail fast on an unknown hall, before the voice starts
        except HallNotFound:
            log.error("the server at %s has no hall %r", args.server, args.hall)
            return 2
        # A PC that speaks a hall's calls needs its voice from the first call: the worker starts
        # now, so that call is not kept waiting on it (~0.25 s, seconds on a busy PC) and said
        # shortened as if a burst had built up behind it.
        await speech.start_worker()
        await announcer.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hallq announce``; returns the exit status."""
    args = parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return asyncio.run(_run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    except OSError as exc:
        log.error("cannot reach %s: %s", args.server, exc)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
