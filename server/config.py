"""The hall file: TOML in, a typed and validated :class:`~server.hall_model.Hall` out.

The schema is the typed models of :mod:`server.hall_schema`; validation never stops at the
first mistake: :func:`parse_hall` reports every problem as a
:class:`~server.toml_locator.ConfigProblem` with its key path and, where it can be found, the
line in the file (:class:`~server.toml_locator.Locator`), so ``hallq check-config`` can print
them all.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from importlib import resources
from pathlib import Path

from server import calendar_overlay, staff_overlay
from server.hall_model import Hall
from server.hall_schema.hall_file import validate
from server.hall_schema.rules import DEFAULT_TEMPLATES, DEFAULT_VOICES
from server.hall_schema.staff import ROLES
from server.toml_locator import ConfigError, ConfigProblem, Locator

# DEFAULT_TEMPLATES, DEFAULT_VOICES, ROLES, ConfigError and ConfigProblem stay importable from here
__all__ = [
    "CALENDAR_MARK",
    "DEFAULT_TEMPLATES",
    "DEFAULT_VOICES",
    "OVERLAY_MARK",
    "ROLES",
    "ConfigError",
    "ConfigProblem",
    "demo_text",
    "load_demo",
    "load_hall",
    "parse_hall",
    "read_text",
]

#: Between the hall file's text and its staff overlay's in ``Hall.source_text`` (which the
#: config hash covers, so a staff change is a config change every worker picks up).
OVERLAY_MARK = "\n# --- staff overlay (written by the manager page) ---\n"
#: Before the calendar overlay's text in ``Hall.source_text`` (so a calendar change is a
#: config change too).
CALENDAR_MARK = "\n# --- calendar overlay (written by the manager page) ---\n"


def parse_hall(text: str, overlay: str | None = None, calendar: str | None = None) -> Hall:
    """Parse and validate hall-file text, with the staff ``overlay``'s text merged in
    (:mod:`server.staff_overlay`) and the ``calendar`` overlay's holidays and working days
    added (:mod:`server.calendar_overlay`); raise :class:`ConfigError` listing every mistake."""
    try:
        root = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        raise ConfigError([ConfigProblem("(file)", str(exc), int(match.group(1)) if match else None)]) from exc
    overlay_problems: list[ConfigProblem] = []
    if overlay is not None:
        root, overlay_problems = staff_overlay.merge(root, overlay)
    if calendar is not None:
        root, calendar_problems = calendar_overlay.merge(root, calendar)
        overlay_problems += calendar_problems
    hall, problems = validate(root, text)
    if hall is None or overlay_problems:
        locator = Locator(text)
        found = [ConfigProblem(path, message, locator.line_of(path)) for path, message in problems]
        # in the file's order, as a person reads it (a duplicate is found after the item's own checks)
        found.sort(key=lambda p: p.line if p.line is not None else 1 << 30)
        raise ConfigError([*overlay_problems, *found])
    if overlay is not None or calendar is not None:
        source = text + (OVERLAY_MARK + overlay if overlay is not None else "")
        source += CALENDAR_MARK + calendar if calendar is not None else ""
        hall = dataclasses.replace(hall, source_text=source)
    return hall


def read_text(path: str | Path) -> str:
    """A hall file's text (UTF-8; a byte-order mark, as Windows editors write, is fine)."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [ConfigProblem("(file)", f"is not UTF-8 text (byte {exc.start + 1}); save it as UTF-8", line)]
        ) from exc


def load_hall(path: str | Path) -> Hall:
    """Read and validate a hall file, with its staff overlay (``hall.staff.toml`` beside it)
    and its calendar overlay (``hall.calendar.toml``) when there are."""
    overlay = staff_overlay.read_text(staff_overlay.beside(path))
    calendar = staff_overlay.read_text(calendar_overlay.beside(path))
    return dataclasses.replace(parse_hall(read_text(path), overlay, calendar), source_path=str(path))


def demo_text() -> str:
    """The bundled demo hall file's text."""
    return resources.files("server").joinpath("demo_hall.toml").read_text(encoding="utf-8")


def load_demo(data_dir: str | Path | None = None) -> Hall:
    """The bundled demo hall of CONTRACT.md, with the staff and calendar overlays in
    ``data_dir`` if any."""
    if data_dir is None:
        return parse_hall(demo_text())
    overlay = staff_overlay.read_text(Path(data_dir) / staff_overlay.DEMO_FILE)
    calendar = staff_overlay.read_text(Path(data_dir) / calendar_overlay.DEMO_FILE)
    return parse_hall(demo_text(), overlay, calendar)
