"""The calendar overlay: holidays and 调休 working days the manager adds on the manager page.

Like the staff overlay (:mod:`server.staff_overlay`), these changes never rewrite the hall file
a person wrote: they go into a small TOML file beside it (``hall.toml`` →
``hall.calendar.toml``; for the bundled demo hall, ``demo.calendar.toml`` in the data folder)
of ``[[holidays]]`` and ``[[workdays]]`` tables, with the keys of the hall file's
``[calendar]`` lists. Its entries are added to the hall file's, and the whole goes through the
same :func:`server.config.parse_hall` as the hall file alone, so a date listed twice, or both
a holiday and a working day, is refused with ``hallq check-config``'s words.

Written whole and atomically under a lock file, with :func:`server.staff_overlay.locked`
and :func:`server.staff_overlay.write`.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from server.hall_schema.calendar import as_date
from server.toml_locator import ConfigProblem

#: The lists of the overlay and the keys of their tables.
SECTIONS = {"holidays": ("date", "until", "name"), "workdays": ("date", "hours_of", "name")}
WHERE = "(calendar overlay)"
HEADER = (
    "# hallq calendar overlay: written by the manager page, added to the hall file's [calendar]\n"
    '# (docs/operations.md, "The calendar: holidays and 调休"). Edit with care.\n'
)
#: The file of the demo hall's calendar overlay, in the data folder.
DEMO_FILE = "demo.calendar.toml"


def beside(hall_file: str | Path) -> Path:
    """The calendar overlay of ``hall_file``: ``hall.toml`` → ``hall.calendar.toml``."""
    path = Path(hall_file)
    return path.with_name(f"{path.stem}.calendar.toml")


def entries_of(text: str | None, section: str) -> list[dict[str, Any]]:
    """The overlay's ``[[holidays]]`` (or ``[[workdays]]``) tables, for editing."""
    if not text:
        return []
    try:
        tables = tomllib.loads(text).get(section)
    except tomllib.TOMLDecodeError:
        return []
    return [dict(item) for item in tables if isinstance(item, Mapping)] if isinstance(tables, list) else []


def merge(root: Mapping[str, Any], overlay_text: str) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The hall file's tables with the overlay's holidays and working days added to its
    ``[calendar]`` lists, and the problems of the overlay itself (bad TOML, another section,
    a section that is not a list of tables)."""
    try:
        overlay = tomllib.loads(overlay_text)
    except tomllib.TOMLDecodeError as exc:
        return dict(root), [ConfigProblem(WHERE, f"is not valid TOML: {exc}")]
    problems = [
        ConfigProblem(f"{WHERE} {key}", "unknown section; the calendar overlay holds [[holidays]] and [[workdays]]")
        for key in overlay
        if key not in SECTIONS
    ]
    merged = dict(root)
    calendar = root.get("calendar", {})
    if not isinstance(calendar, Mapping):
        return merged, problems  # the hall file's own mistake: parse_hall reports it
    calendar = dict(calendar)
    for section in SECTIONS:
        entries = overlay.get(section, [])
        if not isinstance(entries, list):
            problems.append(ConfigProblem(f"{WHERE} {section}", f"must be a list of [[{section}]] tables"))
            continue
        base = calendar.get(section, [])
        if entries and isinstance(base, list):
            calendar[section] = [*base, *entries]
    merged["calendar"] = calendar
    return merged, problems


def dumps(holidays: list[dict[str, Any]], workdays: list[dict[str, Any]]) -> str:
    """The overlay file's text (dates written as TOML dates)."""
    parts = [HEADER]
    for section, tables in (("holidays", holidays), ("workdays", workdays)):
        for table in tables:
            lines = [f"[[{section}]]"]
            for key in SECTIONS[section]:
                if table.get(key) in (None, ""):
                    continue
                value = as_date(table[key]) or table[key]  # a valid date is written as a TOML date
                lines.append(f"{key} = {value.isoformat() if isinstance(value, date) else _text(value)}")
            parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _text(value: Any) -> str:
    # a JSON string is a TOML basic string (same escapes), but for DEL, which TOML wants escaped
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def day_of(table: Mapping[str, Any]) -> str:
    """An overlay table's first date as ``YYYY-MM-DD`` (its id on the manager page)."""
    value = table.get("date")
    return value.isoformat() if isinstance(value, date) else str(value)
