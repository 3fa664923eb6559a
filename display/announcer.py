"""``hallq announce``: speak a hall's calls on this PC's speakers, or write them as WAV files.

It follows the public display socket ``/ws/halls/{hall}/display`` like a lobby
screen does, and for each ``ticket.called`` / ``ticket.recalled`` event plays
the chime, then the call's phrase in each hall language, the whole phrase set
repeated ``announce.repeat`` times.

The rules of *what* to say and *when* are in :class:`AnnounceQueue`, a plain
class without I/O:

* calls are spoken one at a time, in event order, each with its own number and
  window (never overlapping, never swapping text);
* an event already seen (same or lower ``seq``) is not spoken again, so a
  reconnect that resumes with ``since=SEQ`` repeats nothing;
* a call older than ``max_age`` (30 s) is not spoken: after a reconnect or a
  long backlog the hall hears what is happening now, not minutes-old calls;
* a newer call at the same window replaces a pending one there (that visitor
  has been dealt with already);
* with more calls waiting, repeats are dropped until the backlog is caught up.

Everything else here is thin I/O: the socket (reconnecting with backoff and
resuming from the last ``seq``), synthesis through
:class:`server.speech.SpeechService`, and playing with ``paplay``, ``aplay``,
``ffplay`` or sox's ``play``, or, with ``--out DIR``, writing each announcement
as one WAV file ``0001-A012-3.wav``, ``0002-…`` in order.
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
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from server.chime import chime_frames
from server.phrasing import (
    check_number,
    check_window,
    display_text,
    spoken_text,
    template_for,
    voice_for,
)

log = logging.getLogger(__name__)

CALL_TYPES = frozenset({"ticket.called", "ticket.recalled"})
MAX_AGE_S = 30.0
GAP_S = 0.35  # silence between the chime and each phrase
SAMPLE_WIDTH = 2
PLAYERS: tuple[tuple[str, ...], ...] = (
    ("paplay",),
    ("aplay", "-q"),
    ("ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"),
    ("play", "-q"),
)


# --- what to say, and when: no I/O ------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call to announce, taken from a ``ticket.called`` / ``ticket.recalled`` event."""

    seq: int
    at: int  # epoch ms on the server's clock
    number: str
    window: str
    recall: bool = False
    texts: Mapping[str, str] = field(default_factory=dict)  # display text per language


@dataclass(frozen=True)
class Plan:
    """The next call to speak, and how many rounds of its phrases to play at most."""

    call: Call
    rounds: int


def call_from_event(event: Mapping[str, Any]) -> Call | None:
    """The :class:`Call` in a hall event, or None when the event is not a well-formed call."""
    if event.get("type") not in CALL_TYPES:
        return None
    try:
        ticket = event["ticket"]
        number = check_number(ticket["number"])
        window = check_window(str(event["window"]))
        seq, at = int(event["seq"]), int(event["at"])
    except (KeyError, TypeError, ValueError):
        return None
    announce = event.get("announce") or {}
    texts = {
        lang: said["text"]
        for lang, said in announce.items()
        if isinstance(said, Mapping) and isinstance(said.get("text"), str)
    }
    return Call(seq, at, number, window, event["type"] == "ticket.recalled", texts)


class AnnounceQueue:
    """Ordering and catch-up rules of the announcer (see the module docstring).

    Times are epoch milliseconds on the server's clock; the caller supplies
    ``now_ms`` so the rules can be tested without waiting.
    """

    def __init__(self, repeat: int, max_age_s: float = MAX_AGE_S) -> None:
        self.repeat = max(1, repeat)
        self.max_age_ms = round(max_age_s * 1000)
        self.last_seq: int | None = None
        """Highest event seq seen: the ``since`` to resume from after a reconnect."""
        self._pending: list[Call] = []

    @property
    def pending(self) -> int:
        """Calls waiting to be spoken."""
        return len(self._pending)

    def offer(self, event: Mapping[str, Any], now_ms: int) -> bool:
        """Take in one hall event; return whether a call was queued for speaking."""
        try:
            seq = int(event["seq"])
        except (KeyError, TypeError, ValueError):
            return False
        if self.last_seq is not None and seq <= self.last_seq:
            return False  # seen already: a replay overlapping what we had
        self.last_seq = seq
        call = call_from_event(event)
        if call is None or self._too_old(call, now_ms):
            return False
        # A newer call at the same window supersedes a pending one there.
        self._pending = [c for c in self._pending if c.window != call.window]
        self._pending.append(call)
        return True

    def snapshot(self, seq: int, recent: Sequence[Mapping[str, Any]], now_ms: int) -> int:
        """Take in a ``snapshot`` (sent on connect when no replay is possible).

        On the first connection nothing is spoken: the announcer speaks what
        happens from now on. After a reconnect, the calls in ``recent``
        (newest first) that were missed and are still fresh are queued. A
        snapshot seq below the last one seen means the hall's stream started
        again: its numbering is followed from there. Returns how many were queued.
        """
        queued = 0
        if self.last_seq is not None and seq < self.last_seq:
            # The hall's event stream started again (its Redis was emptied): follow
            # the new numbering rather than ignore every event below our old seq.
            log.warning("hall event seq went back from %d to %d; following the new stream",
                        self.last_seq, seq)
        elif self.last_seq is not None:
            missed = sorted(recent, key=lambda e: int(e.get("seq", 0)))
            queued = sum(self.offer(event, now_ms) for event in missed)
        self.last_seq = seq  # the snapshot is the state as of seq, whatever came before
        return queued

    def take(self, now_ms: int) -> Plan | None:
        """The next call to speak, or None. Stale calls are dropped on the way.

        It is spoken ``repeat`` rounds when nothing else waits, one round when
        a backlog has built up.
        """
        while self._pending:
            call = self._pending.pop(0)
            if self._too_old(call, now_ms):
                log.info("not announcing %s at window %s: %d s old", call.number, call.window,
                         (now_ms - call.at) // 1000)
                continue
            return Plan(call, 1 if self._pending else self.repeat)
        return None

    def keep_repeating(self) -> bool:
        """Whether to play another round of the current call (no: others are waiting)."""
        return not self._pending

    def _too_old(self, call: Call, now_ms: int) -> bool:
        return now_ms - call.at > self.max_age_ms


# --- hall settings from the public config ----------------------------------------------


@dataclass(frozen=True)
class HallVoice:
    """What the announcer needs from ``GET /api/halls/{hall}``."""

    hall: str
    languages: tuple[str, ...]
    repeat: int
    templates: Mapping[str, str]
    voices: Mapping[str, str]

    @classmethod
    def from_public(cls, public: Mapping[str, Any]) -> HallVoice:
        announce = public.get("announce") or {}
        return cls(
            hall=str(public["id"]),
            languages=tuple(public.get("languages") or ("zh", "en")),
            repeat=int(announce.get("repeat", 2)),
            # Templates and voices are used when the server publishes them;
            # otherwise the defaults, which are the bundled halls' wording.
            templates=dict(announce.get("templates") or {}),
            voices=dict(announce.get("voices") or {}),
        )

    def phrases(self, call: Call) -> list[tuple[str, str, str]]:
        """(language, voice, spoken text) of a call, in hall language order."""
        return [
            (lang, voice_for(self.voices, lang),
             spoken_text(template_for(self.templates, lang), call.number, call.window, lang))
            for lang in self.languages
        ]

    def mismatches(self, call: Call) -> list[str]:
        """Languages whose displayed text (from the event) our template does not reproduce.

        Non-empty when the server does not publish its templates and the hall
        uses its own wording: what is said would then differ from what is shown.
        """
        return [
            lang for lang in self.languages
            if lang in call.texts
            and call.texts[lang] != display_text(template_for(self.templates, lang), call.number,
                                                 call.window)
        ]


# --- audio -----------------------------------------------------------------------


class Speech(Protocol):
    async def wav_path(self, voice: str, text: str) -> Path: ...


@dataclass
class Audio:
    """Mono 16-bit PCM frames at one rate, built up segment by segment."""

    rate: int
    frames: bytearray = field(default_factory=bytearray)

    def silence(self, seconds: float) -> None:
        self.frames += bytes(SAMPLE_WIDTH * round(self.rate * seconds))

    def append_wav(self, path: Path) -> None:
        with wave.open(str(path), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, SAMPLE_WIDTH,
                                                                                self.rate):
                raise ValueError(f"{path}: {wav.getparams()} is not mono 16-bit at {self.rate} Hz")
            self.frames += wav.readframes(wav.getnframes())

    def write(self, path: Path) -> None:
        """Write as a WAV file, atomically (a temporary name, then renamed)."""
        temporary = path.with_name(f".{path.name}.tmp")
        with wave.open(str(temporary), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(SAMPLE_WIDTH)
            out.setframerate(self.rate)
            out.writeframes(bytes(self.frames))
        os.replace(temporary, path)


def wav_rate(path: Path) -> int:
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate()


async def render_round(speech: Speech, voice: HallVoice, call: Call, chime: bool) -> Audio:
    """One round of a call: [chime, gap,] each language's phrase followed by a gap.

    The chime is generated at the rate of espeak's output, so nothing is resampled.
    """
    paths = [await speech.wav_path(v, text) for _, v, text in voice.phrases(call)]
    audio = Audio(wav_rate(paths[0]))
    if chime:
        audio.frames += chime_frames(audio.rate)
        audio.silence(GAP_S)
    for path in paths:
        audio.append_wav(path)
        audio.silence(GAP_S)
    return audio


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
        max_age_s: float = MAX_AGE_S,
        limit: int | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.hall = hall
        self.speech = speech
        self.out = out
        self.max_age_s = max_age_s
        self.limit = limit
        self.queue = AnnounceQueue(repeat=2, max_age_s=max_age_s)
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
            log.error("no audio player found (tried %s): calls will not be heard",
                      ", ".join(c[0] for c in PLAYERS))
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
        await self.load_hall()  # fail fast on an unknown hall
        follower = asyncio.create_task(self.follow())
        try:
            await self.speak_loop()
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None

    async def load_hall(self) -> HallVoice:
        """Fetch the public hall config; note the server's clock."""
        url = f"{self.server}/api/halls/{urllib.parse.quote(self.hall)}"
        public, date = await asyncio.to_thread(_get_json, url)
        self.voice = HallVoice.from_public(public)
        self.queue.repeat = max(1, self.voice.repeat)
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
        """Keep the display socket open, resuming from the last seq after each drop."""
        from websockets.asyncio.client import connect

        failures = 0
        while True:
            try:
                if failures:
                    await self.load_hall()  # the config or the server's clock may have changed
                async with connect(self.socket_url(), open_timeout=10, ping_interval=20) as socket:
                    log.info("following %s", self.socket_url())
                    async for message in socket:
                        failures = 0
                        self.receive(json.loads(message))
                log.warning("display socket closed by the server; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any network failure: log, back off, retry
                log.warning("display socket failed (%s: %s); reconnecting", type(exc).__name__, exc)
            failures += 1
            delay = min(15.0, 0.5 * 2 ** min(failures, 5)) * random.uniform(0.5, 1.0)
            await asyncio.sleep(delay)

    def receive(self, message: Mapping[str, Any]) -> None:
        """Feed one socket message to the queue."""
        if message.get("type") == "snapshot":
            state = message.get("state") or {}
            queued = self.queue.snapshot(int(message.get("seq", 0)), state.get("recent") or [],
                                         self.now_ms())
        elif "seq" in message:
            queued = int(self.queue.offer(message, self.now_ms()))
        else:
            return  # status frames and the like
        if queued:
            self._wake.set()

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
                log.exception("could not announce %s at window %s", plan.call.number,
                              plan.call.window)
            self.spoken += 1

    async def announce(self, plan: Plan) -> None:
        """Play (or write) one call: the chime, then its phrases, up to ``plan.rounds`` times."""
        assert self.voice is not None
        call = plan.call
        log.info("announcing %s at window %s%s", call.number, call.window,
                 " (recall)" if call.recall else "")
        for lang in self.voice.mismatches(call):
            if lang not in self._warned:
                self._warned.add(lang)
                log.warning("hall %s shows %r but the announcer says its default %s wording: "
                            "the server does not publish announce.templates", self.hall,
                            call.texts[lang], lang)
        whole: Audio | None = None
        for round_index in range(plan.rounds):
            if round_index and not self.queue.keep_repeating():
                break
            audio = await render_round(self.speech, self.voice, call, chime=round_index == 0)
            if self.out is not None:
                if whole is None:
                    whole = audio
                else:
                    whole.frames += audio.frames
            else:
                await self.play(audio)
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
            *self._player, str(path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await process.communicate()
        if process.returncode:
            lines = stderr.decode(errors="replace").strip().splitlines() or [""]
            log.error("%s failed (exit %s): %s", self._player[0], process.returncode, lines[-1])


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
    p.add_argument("--out", type=Path, help="write each announcement as a WAV file here instead "
                   "of playing it (0001-A012-3.wav, …)")
    p.add_argument("--cache", type=Path, default=None,
                   help=f"speech cache directory (default {default_cache()})")
    p.add_argument("--max-age", type=float, default=MAX_AGE_S,
                   help="do not speak calls older than this many seconds (default 30)")
    p.add_argument("--limit", type=int, default=None,
                   help="exit after this many announcements (for scripts and tests)")
    return p


async def _run(args: argparse.Namespace) -> int:
    from server.speech import SpeechService

    task = asyncio.current_task()
    if task is not None:  # SIGTERM (systemd stop): unwind, so the speech worker is stopped too
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with SpeechService(args.cache or default_cache()) as speech:
        announcer = Announcer(args.server, args.hall, speech, out=args.out,
                              max_age_s=args.max_age, limit=args.limit)
        try:
            await announcer.run()
        except HallNotFound:
            log.error("the server at %s has no hall %r", args.server, args.hall)
            return 2
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
