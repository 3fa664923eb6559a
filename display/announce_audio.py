"""The announcer's sound: a hall's voice settings and each call rendered as WAV audio.

:class:`HallVoice` is what ``GET /api/halls/{hall}`` says about speaking (languages, repeat,
templates, voices); :func:`render_part` and :func:`render_round` assemble the chime and the
phrases synthesised by a :class:`Speech` (``server.speech.SpeechService``) into one
:class:`Audio`, mono 16-bit PCM at espeak's rate, with :data:`GAP_S` of silence after each part.
"""

from __future__ import annotations

import logging
import os
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from display.announce_queue import CHIME, Call
from server.chime import chime_frames
from server.phrasing import display_text, spoken_text, template_for, voice_for
from server.speech import SpeechError

log = logging.getLogger("hallq.announcer")

GAP_S = 0.35  # silence between the chime and each phrase
SAMPLE_WIDTH = 2


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


async def phrase_wav(speech: Speech, voice: str, text: str) -> Path:
    """The WAV of one phrase, asked twice before giving up: a synthesis that timed out (a
    loaded PC) killed its worker, and the next request gets a fresh one. A call given up on
    is a visitor who does not hear their number, so one more try is worth its seconds."""
    try:
        return await speech.wav_path(voice, text)
    except SpeechError as exc:
        log.warning("could not synthesise %r in %s (%s); trying once more", text, voice, exc)
        return await speech.wav_path(voice, text)


async def render_round(
    speech: Speech, voice: HallVoice, call: Call, chime: bool, languages: Sequence[str] | None = None
) -> Audio:
    """One round of a call: [chime, gap,] each language's phrase (``languages`` only) and a gap.

    The chime is generated at the rate of espeak's output, so nothing is resampled.
    """
    paths = [await phrase_wav(speech, v, text) for _, v, text in voice.phrases(call, languages)]
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
    path = await phrase_wav(speech, phrases[0][1], phrases[0][2])
    audio = Audio(wav_rate(path))
    if part == CHIME:
        audio.frames += chime_frames(audio.rate)
    else:
        audio.append_wav(path)
    audio.silence(GAP_S)
    return audio
