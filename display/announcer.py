"""``hallq announce``: speak a hall's calls on this PC's speakers, or write them as WAV files.

It follows the public display socket ``/ws/halls/{hall}/display`` like a lobby
screen does, and for each ``ticket.called`` / ``ticket.recalled`` event plays
the chime, then the call's phrase in each hall language, the whole phrase set
repeated ``announce.repeat`` times.

The rules of *what* to say and *when* are in :class:`AnnounceQueue`, a plain
class without I/O, the same rule as the lobby browser's (display/static/announcer.js,
held together by tests/announce_vectors.json):

* calls are spoken one at a time, in event order, each with its own number and
  window (never overlapping, never swapping text);
* an event already seen (same or lower ``seq``) is not spoken again, so a
  reconnect that resumes with ``since=SEQ`` repeats nothing;
* a call is skipped only when a newer call at the same window (a recall of the
  same ticket too) replaced it while it waited: that window has moved on. Nothing
  is dropped for its age;
* under a backlog calls are said shorter, so that every window's latest call
  starts within ``deadline_ms`` (17 s, for a promise of 20 s with real players' latency) of its event: first
  the repeat goes, then the second language, then the chime between calls.

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

log = logging.getLogger("hallq.announcer")

CALL_TYPES = frozenset({"ticket.called", "ticket.recalled"})
GAP_S = 0.35  # silence between the chime and each phrase
SAMPLE_WIDTH = 2
PLAYERS: tuple[tuple[str, ...], ...] = (
    ("paplay",),
    ("aplay", "-q"),
    ("ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"),
    ("play", "-q"),
)


# --- what to say, and when: no I/O ------------------------------------------------

#: The rule's constants, shared with the browser's announcer (display/static/announcer.js).
RULES: Mapping[str, Any] = json.loads(
    (Path(__file__).parent / "static" / "announce-rules.json").read_text(encoding="utf-8")
)
#: How far the announcement may shorten itself under a backlog, mildest first: 0 the whole
#: call with its repeats, 1 said once, 2 in the first language only, 3 and without the chime
#: between calls (a call after a silence keeps its chime).
LEVELS = (0, 1, 2, 3)
KNOWN_DURATIONS_KEPT = 512
CHIME = "chime"


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
    """How to speak the next call: the chime or not, which languages, how many rounds at most.

    ``level`` is how much it was shortened (see :data:`LEVELS`); ``estimate_ms`` the time it
    should take by the queue's duration estimates.
    """

    call: Call
    rounds: int
    chime: bool = True
    languages: tuple[str, ...] = ()
    level: int = 0
    estimate_ms: int = 0


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
    """What the speakers say next, and how (see the module docstring): one pure rule.

    The same rule, with the same constants (:data:`RULES`), runs in the lobby's browser
    (``AnnounceQueue`` in display/static/announcer.js); tests/announce_vectors.json holds
    both to the same answers.

    Times are epoch milliseconds on the server's clock; the caller supplies ``now_ms`` so
    the rule can be tested without waiting. The driver calls :meth:`take` when the speaker
    is free, then plays what :meth:`step` answers, part after part, until it answers None.
    """

    def __init__(
        self,
        repeat: int,
        languages: Sequence[str] = ("zh", "en"),
        *,
        gap_ms: int | None = None,
        rules: Mapping[str, Any] = RULES,
    ) -> None:
        self.repeat = max(1, repeat)
        self.languages = tuple(languages)
        self.rules = rules
        self.gap_ms = int(rules["gap_ms"] if gap_ms is None else gap_ms)
        self.last_seq: int | None = None
        """Highest event seq seen: the ``since`` to resume from after a reconnect."""
        self._pending: list[Call] = []
        self._due: list[int] = []  # when each waiting call was due: its deadline counts from there
        self._known: dict[tuple[str, str, str], int] = {}
        self._last_end: int | None = None
        self._current: Call | None = None  # the call being spoken
        self._said: list[str] = []  # its parts played so far
        self._level = 0
        self._idle = True  # whether the speaker was silent for a while before it

    @property
    def pending(self) -> int:
        """Calls waiting to be spoken."""
        return len(self._pending)

    def offer(self, event: Mapping[str, Any], now_ms: int) -> bool:
        """Take in one hall event; return whether a call was queued for speaking.

        A call replaces the one waiting at the same window (that window has moved on; a
        recall of the same ticket replaces it too, so it is not said twice in a row). Nothing
        is dropped for its age: every window's latest call is said.
        """
        try:
            seq = int(event["seq"])
        except (KeyError, TypeError, ValueError):
            return False
        if self.last_seq is not None and seq <= self.last_seq:
            return False  # seen already: a replay overlapping what we had
        self.last_seq = seq
        call = call_from_event(event)
        if call is None:
            return False
        kept = [i for i, c in enumerate(self._pending) if c.window != call.window]
        self._pending = [self._pending[i] for i in kept] + [call]
        # Counted from the event, or from its arrival when it comes late (a replay after a
        # reconnect): the hall hears it within the deadline of our hearing of it.
        self._due = [self._due[i] for i in kept] + [max(call.at, now_ms)]
        return True

    def snapshot(self, seq: int, recent: Sequence[Mapping[str, Any]], now_ms: int) -> int:
        """Take in a ``snapshot`` (sent on connect when no replay is possible).

        On the first connection nothing is spoken: the announcer speaks what
        happens from now on. After a reconnect, the calls in ``recent`` (newest
        first) that were missed are queued, oldest first. A snapshot seq below the
        last one seen means the hall's stream started again: its numbering is
        followed from there. Returns how many were queued.
        """
        queued = 0
        if self.last_seq is not None and seq < self.last_seq:
            # The hall's event stream started again (its Redis was emptied): follow
            # the new numbering rather than ignore every event below our old seq.
            log.warning("hall event seq went back from %d to %d; following the new stream", self.last_seq, seq)
        elif self.last_seq is not None:
            missed = sorted(recent, key=lambda e: int(e.get("seq", 0)))
            queued = sum(self.offer(event, now_ms) for event in missed)
        self.last_seq = seq  # the snapshot is the state as of seq, whatever came before
        return queued

    def learn(self, lang: str, number: str, window: str, ms: int) -> None:
        """Remember the real length of a call's phrase in one language (from its audio)."""
        self._known[(lang, number, window)] = int(ms)
        if len(self._known) > KNOWN_DURATIONS_KEPT:
            del self._known[next(iter(self._known))]

    def phrase_ms(self, call: Call, lang: str) -> int:
        """A phrase's length: the real one when learnt, else estimated from its text."""
        known = self._known.get((lang, call.number, call.window))
        if known is not None:
            return known
        per_char = self.rules["ms_per_char"]
        rate = int(per_char.get(lang, per_char["*"]))
        text = call.texts.get(lang)
        return rate * (len(text) if text else int(self.rules["text_chars_unknown"]))

    def call_languages(self, call: Call) -> tuple[str, ...]:
        """The hall languages the call is said in (those its event announces, if it says)."""
        if not call.texts:
            return self.languages
        return tuple(lang for lang in self.languages if lang in call.texts) or self.languages

    def take(self, now_ms: int) -> Plan | None:
        """Begin the next call (the speaker is free), or None when nothing waits.

        Its parts then come one by one from :meth:`step`. The shortening is chosen as
        in :meth:`step`; the returned :class:`Plan` says what is planned at this moment.
        """
        if self._current is not None:
            self._finish(now_ms)  # the driver did not step to the end: it is over anyway
        if not self._pending:
            return None
        self._idle = self._last_end is None or now_ms - self._last_end >= int(self.rules["chime_pause_ms"])
        self._current = self._pending.pop(0)
        self._due.pop(0)
        self._said = []
        self._level = self._choose(now_ms, LEVELS[0])
        call, level = self._current, self._level
        parts = self._parts(call, level, first=True)
        return Plan(
            call,
            self.repeat if level == 0 else 1,
            parts[0] == CHIME,
            self._languages_at(call, level),
            level,
            self._cost(call, parts),
        )

    def step(self, now_ms: int) -> str | None:
        """The next part of the current call to play: ``"chime"`` or a language; None when it is over.

        Before each part the shortening is chosen again (it only ever grows within a call):
        the mildest level (:data:`LEVELS`) with which, were the rest of this call and every
        waiting call said that way one after the other from now, the fewest calls would
        start later than ``deadline_ms`` after their event; the repeat only while nothing
        else waits.
        """
        call = self._current
        if call is None:
            return None
        self._level = self._choose(now_ms, self._level)
        remaining = self._remaining(call, self._level)
        if not remaining:
            self._finish(now_ms)
            return None
        self._said.append(remaining[0])
        return remaining[0]

    def _finish(self, now_ms: int) -> None:
        self._current = None
        self._said = []
        self._last_end = now_ms

    def _choose(self, now_ms: int, floor: int) -> int:
        """The mildest level ≥ ``floor`` with which no waiting call would start late, else the shortest."""
        deadline = int(self.rules["deadline_ms"])
        for level in LEVELS:
            if level < floor or (level == 0 and self._pending):
                continue
            start = now_ms
            if self._current is not None:
                start += self._cost(self._current, self._remaining(self._current, level))
            for call, due in zip(self._pending, self._due, strict=True):
                if start > due + deadline:
                    break
                start += self._cost(call, self._parts(call, level, first=False))
            else:
                return level
        return max(floor, LEVELS[-1])

    def _languages_at(self, call: Call, level: int) -> tuple[str, ...]:
        languages = self.call_languages(call)
        return languages[:1] if level >= 2 else languages

    def _parts(self, call: Call, level: int, *, first: bool) -> list[str]:
        """The parts of a call said at ``level``: [chime,] languages, ``repeat`` rounds at level 0.

        At level 3 the chime is left out between calls; the first call after a silence
        (``first``, when the speaker was idle) keeps it.
        """
        chime = level < 3 or (first and self._idle)
        voices = list(self._languages_at(call, level)) * (self.repeat if level == 0 else 1)
        return [CHIME, *voices] if chime else voices

    def _remaining(self, call: Call, level: int) -> list[str]:
        """What is left of the current call at ``level``, given the parts said already.

        The voice parts of a level are a prefix of those of any milder level, so the
        parts said are always a beginning of what any level would say.
        """
        parts = self._parts(call, level, first=True)
        voices_said = sum(1 for p in self._said if p != CHIME)
        voices = [p for p in parts if p != CHIME][voices_said:]
        chime_first = not self._said and parts[:1] == [CHIME]
        return [CHIME, *voices] if chime_first else voices

    def _cost(self, call: Call, parts: Sequence[str]) -> int:
        """Estimated ms of some parts of a call, each followed by the gap."""
        return sum(
            (int(self.rules["chime_ms"]) if p == CHIME else self.phrase_ms(call, p)) + self.gap_ms for p in parts
        )

    @property
    def calls(self) -> tuple[Call, ...]:
        """The calls waiting to be spoken, in order (not the one being spoken)."""
        return tuple(self._pending)


def simulate(scenario: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Play a scenario of tests/announce_vectors.json through :class:`AnnounceQueue`.

    A pure model of a speaker that takes ``audio_ms`` per phrase (the rule's estimate for
    a language without one) and the rule's chime, each part followed by the gap. Returns
    what is said, in order: ``{seq, number, window, parts, start_ms}``. The browser's
    ``AnnounceQueue.simulate`` (display/static/announcer.js) is the same function.
    """
    options = scenario.get("options") or {}
    queue = AnnounceQueue(
        int(options.get("repeat", 2)), options.get("languages", ("zh", "en")), gap_ms=options.get("gap_ms")
    )
    audio = {str(k): int(v) for k, v in (scenario.get("audio_ms") or {}).items()}
    templates = scenario.get("texts") or {}
    events = []
    for i, raw in enumerate(scenario["events"]):
        t = int(raw["t"])
        number, window = raw.get("number", "A001"), str(raw.get("window", "1"))
        events.append(
            (
                t,
                {
                    "seq": int(raw.get("seq", i + 1)),
                    "type": raw.get("type", "ticket.called"),
                    "at": int(raw.get("at", t)),
                    "window": window,
                    "ticket": {"number": number},
                    "announce": {
                        lang: {"text": text.format(number=number, window=window)} for lang, text in templates.items()
                    },
                },
            )
        )
        if scenario.get("known"):
            for lang, ms in audio.items():
                queue.learn(lang, number, window, ms)
    out: list[dict[str, Any]] = []
    t, i = 0, 0

    def deliver(until: int) -> None:
        nonlocal i
        while i < len(events) and events[i][0] <= until:
            queue.offer(events[i][1], events[i][0])
            i += 1

    while True:
        deliver(t)
        plan = queue.take(t)
        if plan is None:
            if i >= len(events):
                return out
            t = events[i][0]
            continue
        parts: list[str] = []
        said = {
            "seq": plan.call.seq,
            "number": plan.call.number,
            "window": plan.call.window,
            "parts": parts,
            "start_ms": t,
        }
        while (part := queue.step(t)) is not None:
            parts.append(part)
            if part == CHIME:
                t += int(queue.rules["chime_ms"]) + queue.gap_ms
            else:
                t += audio.get(part, queue.phrase_ms(plan.call, part)) + queue.gap_ms
            deliver(t)
        out.append(said)


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

    def phrases(self, call: Call, languages: Sequence[str] | None = None) -> list[tuple[str, str, str]]:
        """(language, voice, spoken text) of a call, in hall language order (``languages`` only)."""
        return [
            (
                lang,
                voice_for(self.voices, lang),
                spoken_text(template_for(self.templates, lang), call.number, call.window, lang),
            )
            for lang in self.languages
            if languages is None or lang in languages
        ]

    def mismatches(self, call: Call) -> list[str]:
        """Languages whose displayed text (from the event) our template does not reproduce.

        Non-empty when the server does not publish its templates and the hall
        uses its own wording: what is said would then differ from what is shown.
        """
        return [
            lang
            for lang in self.languages
            if lang in call.texts
            and call.texts[lang] != display_text(template_for(self.templates, lang), call.number, call.window)
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
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, SAMPLE_WIDTH, self.rate):
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


def wav_ms(path: Path) -> int:
    """The length of a WAV file in milliseconds."""
    with wave.open(str(path), "rb") as wav:
        return round(1000 * wav.getnframes() / wav.getframerate())


async def render_round(
    speech: Speech, voice: HallVoice, call: Call, chime: bool, languages: Sequence[str] | None = None
) -> Audio:
    """One round of a call: [chime, gap,] each language's phrase (``languages`` only) and a gap.

    The chime is generated at the rate of espeak's output, so nothing is resampled.
    """
    paths = [await speech.wav_path(v, text) for _, v, text in voice.phrases(call, languages)]
    audio = Audio(wav_rate(paths[0]))
    if chime:
        audio.frames += chime_frames(audio.rate)
        audio.silence(GAP_S)
    for path in paths:
        audio.append_wav(path)
        audio.silence(GAP_S)
    return audio


async def render_part(speech: Speech, voice: HallVoice, call: Call, part: str) -> Audio:
    """One part of a call (the chime, or its phrase in one language), followed by a gap.

    The parts of a round, joined, are :func:`render_round`'s frames.
    """
    phrases = voice.phrases(call, None if part == CHIME else (part,))
    path = await speech.wav_path(phrases[0][1], phrases[0][2])
    audio = Audio(wav_rate(path))
    if part == CHIME:
        audio.frames += chime_frames(audio.rate)
    else:
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
