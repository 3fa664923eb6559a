"""The word catalogue: every message a person reads, one JSON file per language.

``server/words/{lang}.json`` is a flat object ``key → text``; texts may hold ``{name}``
placeholders. The same files are embedded in every page (``HQ.t`` in kiosk/static/hq.js
reads them) and read here, so Python and the pages say the same thing. Keys by family:

- ``err_<code>``: a refusal, by its error ``code`` (the server's English ``message`` is only a
  fallback for a code the catalogue does not know);
- ``st_<status>`` ticket statuses, ``ws_<status>`` window statuses, ``rating_<1..5>`` and
  ``reason_<code>`` for ratings;
- everything else: a page's own labels (``k_`` kiosk, ``d_`` desk, ``v_`` visitor, ``p_``/``a_``/``r_``
  clerk pad, ``rp_`` rating pad, ``m_`` manager).

Adding a language is adding a file with every key of ``zh.json`` (tests/test_words.py checks it).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def languages() -> list[str]:
    """The languages that have a catalogue, e.g. ``["en", "zh"]``."""
    folder = resources.files("server").joinpath("words")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The catalogue of ``lang`` (``KeyError`` when there is none)."""
    if lang not in languages():
        raise KeyError(lang)
    text = resources.files("server").joinpath("words", f"{lang}.json").read_text(encoding="utf-8")
    words: dict[str, str] = json.loads(text)
    return words


def catalogues(langs: list[str]) -> dict[str, dict[str, str]]:
    """The catalogues of a hall's languages (those without one are left out), for a page."""
    return {lang: catalogue(lang) for lang in langs if lang in languages()}


def text(lang: str, key: str, **values: Any) -> str:
    """``key`` in ``lang`` with its placeholders filled; English, then the key, when missing."""
    words = catalogue(lang) if lang in languages() else {}
    found = words.get(key) or catalogue("en").get(key) or key
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), found)


def error_text(lang: str, code: str, fallback: str = "") -> str:
    """What a person reads for a refusal ``code``: the catalogue's text, else ``fallback``."""
    words = catalogue(lang) if lang in languages() else {}
    return words.get(f"err_{code}") or fallback or text(lang, "err_unknown", code=code)
