"""What is said and shown when a ticket is called: pure functions, no I/O.

The hall's template per language (``rules.announce.templates``) is filled twice:

* the **display text** with the ticket number and window id as written
  (``请A012号到3号窗口办理``), shown on screens and carried in events;
* the **spoken text** with forms that the speech engine (espeak-ng) reads the
  way a hall announcer would: ticket digits one by one (``A零一二``, English
  ``A0 1 2`` → "A zero one two"), window numbers as numbers (``十二``, English
  ``12`` → "twelve").

The audio URL of a call is a function of (hall, language, number, window), and
the spoken text is a function of the same, so a cached WAV per phrase can serve
every later request for that URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from server.config import DEFAULT_TEMPLATES, DEFAULT_VOICES
from server.hall_model import Hall
from server.queue.constants import NUMBER_RE, WINDOW_RE

__all__ = [
    "DEFAULT_TEMPLATES",
    "DEFAULT_VOICES",
    "PhraseError",
    "Said",
    "announcement",
    "audio_url",
    "check_number",
    "check_window",
    "display_text",
    "hall_spoken_text",
    "spoken_number",
    "spoken_text",
    "spoken_window",
    "template_for",
    "voice_for",
    "zh_numeral",
]


_ZH_DIGITS = "零一二三四五六七八九"
_ZH_UNITS = ("千", "百", "十", "")


class PhraseError(ValueError):
    """A ticket number, window id or language that cannot be announced."""


class Said(TypedDict):
    """One language's part of an event's ``announce``: what is shown and where its audio is."""

    text: str
    audio: str


def check_number(number: str) -> str:
    """Return ``number`` if it is a ticket number like ``A012``, else raise :class:`PhraseError`."""
    if not isinstance(number, str) or not NUMBER_RE.fullmatch(number):
        raise PhraseError(f"bad ticket number {number!r}: expected a capital letter and 3 digits")
    return number


def check_window(window: str) -> str:
    """Return ``window`` if it is a window id like ``3`` or ``A1``, else raise PhraseError."""
    if not isinstance(window, str) or not WINDOW_RE.fullmatch(window):
        raise PhraseError(f"bad window id {window!r}")
    return window


def _zh_section(n: int) -> str:
    """Chinese numeral for 0 < n < 10000, with 零 for inner gaps (一百零五, 一千零一十)."""
    out: list[str] = []
    gap = False
    started = False
    for digit, unit in zip(f"{n:04d}", _ZH_UNITS, strict=True):
        if digit == "0":
            gap = gap or started
            continue
        if gap:
            out.append("零")
            gap = False
        out.append(_ZH_DIGITS[int(digit)] + unit)
        started = True
    return "".join(out)


def zh_numeral(n: int) -> str:
    """Read ``n`` (0 ≤ n < 10⁸) as a Chinese number: 3 → 三, 12 → 十二, 105 → 一百零五.

    A leading 一十 is said 十 (十二, 十万), as announcers do. Numbers outside the
    range are read digit by digit rather than refused.
    """
    if n < 0 or n >= 10**8:
        return "".join(_ZH_DIGITS[int(d)] for d in str(abs(n)))
    if n == 0:
        return _ZH_DIGITS[0]
    high, low = divmod(n, 10_000)
    if high:
        text = _zh_section(high) + "万"
        if low:
            text += ("零" if low < 1000 else "") + _zh_section(low)
    else:
        text = _zh_section(low)
    return text[1:] if text.startswith("一十") else text


def spoken_number(number: str, lang: str) -> str:
    """The ticket number as it should be read aloud: its digits one by one.

    zh: ``A012`` → ``A零一二``. Other languages: the letter glued to the first
    digit and the rest spaced, ``A0 1 2``: espeak then says the letter's name
    ("ay zero one two"); a lone ``A`` would be read as the article "a".
    """
    check_number(number)
    prefix, digits = number[0], number[1:]
    if lang == "zh":
        return prefix + "".join(_ZH_DIGITS[int(d)] for d in digits)
    return prefix + " ".join(digits)


def spoken_window(window: str, lang: str) -> str:
    """The window as it should be read aloud: a number when it is one, else as written.

    zh: ``12`` → ``十二``, ``105`` → ``一百零五``. Other languages: the number
    without leading zeros (espeak reads ``12`` as "twelve"). ``VIP`` stays ``VIP``.
    """
    check_window(window)
    if not window.isdigit():
        return window
    if lang == "zh":
        return zh_numeral(int(window))
    return str(int(window))


def display_text(template: str, number: str, window: str) -> str:
    """The template filled with the number and window as written: ``请A012号到3号窗口办理``."""
    return template.format(number=check_number(number), window=check_window(window))


def spoken_text(template: str, number: str, window: str, lang: str) -> str:
    """The template filled with the spoken forms: ``请A零一二号到三号窗口办理``."""
    return template.format(number=spoken_number(number, lang), window=spoken_window(window, lang))


def audio_url(hall_id: str, lang: str, number: str, window: str) -> str:
    """The URL path of a call's spoken phrase: ``/audio/demo/zh/A012/3.wav``."""
    return f"/audio/{hall_id}/{lang}/{check_number(number)}/{check_window(window)}.wav"


def template_for(templates: Mapping[str, str], lang: str) -> str:
    """The template for ``lang``: the hall's, else the built-in default; PhraseError if none."""
    template = templates.get(lang) or DEFAULT_TEMPLATES.get(lang)
    if template is None:
        raise PhraseError(f"no announcement template for language {lang!r}")
    return template


def voice_for(voices: Mapping[str, str], lang: str) -> str:
    """The espeak voice id for ``lang`` (zh → ``cmn``, en → ``en``); else the code itself."""
    return voices.get(lang) or DEFAULT_VOICES.get(lang) or lang


def announcement(hall: Hall, number: str, window: str) -> dict[str, Said]:
    """The ``announce`` field of a ``ticket.called`` / ``ticket.recalled`` event.

    ``{lang: {"text": display text, "audio": audio URL}}`` in ``hall.languages``
    order. Raises :class:`PhraseError` for a malformed number or window id.
    """
    templates = hall.rules.announce.templates
    return {
        lang: Said(
            text=display_text(template_for(templates, lang), number, window),
            audio=audio_url(hall.id, lang, number, window),
        )
        for lang in hall.languages
    }


def hall_spoken_text(hall: Hall, lang: str, number: str, window: str) -> str:
    """The spoken text of a call in one of ``hall``'s languages; PhraseError for others."""
    if lang not in hall.languages:
        raise PhraseError(f"hall {hall.id!r} does not announce in {lang!r}")
    return spoken_text(template_for(hall.rules.announce.templates, lang), number, window, lang)
