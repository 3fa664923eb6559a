"""What the announcer says, and when: :class:`AnnounceQueue`, one pure rule without I/O.

The same rule as the lobby browser's (display/static/announcer.js), held together by
tests/announce_vectors.json:

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

``hallq announce`` (display/announcer.py) drives it; display/announce_audio.py renders what it plans.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.phrasing import check_number, check_window

log = logging.getLogger("hallq.announcer")

CALL_TYPES = frozenset({"ticket.called", "ticket.recalled"})

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
