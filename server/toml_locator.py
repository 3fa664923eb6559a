"""Reading a TOML file for people: every mistake with its key path and line.

tomllib keeps no positions, so :class:`Locator` finds a key path's line by scanning the text;
:class:`FieldReader` reads typed values (strings, bounded integers, names per language, times,
booleans) and collects a :class:`ConfigProblem` for each bad one, so ``hallq check-config``
prints them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
# a table header line: [a.b] or [[a.b]] with bare keys (never a line of a multi-line array)
_HEADER_RE = re.compile(r"^\[\[?\s*[A-Za-z0-9_-]+(\s*\.\s*[A-Za-z0-9_-]+)*\s*\]\]?\s*(#.*)?$")


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in a hall file: where it is and what is wrong."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}"


class ConfigError(Exception):
    """A hall file with one or more mistakes; ``problems`` lists them all."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def parse_time(text: str) -> int | None:
    """Minutes since midnight for ``"HH:MM"`` (``"24:00"`` allowed), else None."""
    match = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if not match:
        return None
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    return minutes if minutes <= 24 * 60 else None


class Locator:
    """Finds the line of a key path in TOML text, well enough for messages.

    tomllib keeps no positions, so we scan the text: ``windows[2].tiers`` is the
    ``tiers =`` line after the third ``[[windows]]`` header.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, path: str) -> int | None:
        parts = re.findall(r"([A-Za-z_][\w-]*)(?:\[(\d+)\])?", path)
        start = 0
        table: list[str] = []
        anchored = False  # whether line `start` is the header of `table`
        for position, (key, index) in enumerate(parts):
            is_last = position == len(parts) - 1
            if index:
                header = "[[" + ".".join([*table, key]) + "]]"
                found = self._nth(header, int(index), start)
                if found is not None:
                    start, table, anchored = found, [*table, key], True
                    continue
                # not an array of tables but an array value (`mon = ["08:30-12:00"]`): its key's line
            header = "[" + ".".join([*table, key]) + "]"
            found = self._nth(header, 0, start)
            if found is not None and not is_last:
                start, table, anchored = found, [*table, key], True
                continue
            line = self._key_line(key, start, anchored) if anchored or not table else None
            if line is not None:
                return line
            if found is not None:
                return found + 1
            if not is_last and not index:
                # a table with no header of its own (`[rules.no_show]` but no `[rules]`): go inside
                table, anchored = [*table, key], False
                continue
            # a missing key: point at its table's header rather than at nothing
            return start + 1 if anchored else None
        return start + 1 if anchored else None

    def _key_line(self, key: str, start: int, in_table: bool) -> int | None:
        """The line of ``key = …`` within the table whose header is line ``start``
        (the top of the file when not ``in_table``), stopping at the next header so a
        missing key is never found in a later table."""
        for number in range(start + 1 if in_table else 0, len(self.lines)):
            stripped = self.lines[number].strip()
            if _HEADER_RE.match(stripped):
                return None
            if re.match(rf"^{re.escape(key)}\s*=", stripped):
                return number + 1
        return None

    def _nth(self, header: str, nth: int, start: int) -> int | None:
        seen = 0
        for number in range(start, len(self.lines)):
            if self.lines[number].strip().replace(" ", "") == header.replace(" ", ""):
                if seen == nth:
                    return number
                seen += 1
        return None


class FieldReader:
    """Reads typed values out of parsed TOML, recording every mistake as a
    :class:`ConfigProblem` with its key path and line instead of stopping at the first."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.locator = Locator(text)
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message, self.locator.line_of(path)))

    def known(self, data: Mapping[str, Any], path: str, keys: Sequence[str]) -> None:
        """Report keys a table should not have: a misspelt key would otherwise be ignored
        silently (``[hall.hourz]`` would leave the hall open around the clock)."""
        for key in data:
            if key not in keys:
                where = f"{path}.{key}" if path else key
                self.problem(where, f"unknown key {key!r}; expected one of {', '.join(keys)}")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            self.problem(path, "must be a table")
            return {}
        return value

    def string(self, data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.problem(path, "is required" if value is None else "must be a non-empty string")
            return ""
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: str, default: int, low: int, high: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(path, f"must be a whole number from {low} to {high}")
            return default
        return value

    def names(self, data: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return {"zh": value, "en": value}
        if not isinstance(value, Mapping) or not value:
            self.problem(path, 'must be a table of names per language, e.g. { zh = "…", en = "…" }')
            return {}
        result: dict[str, str] = {}
        for lang, name in value.items():
            if not isinstance(name, str) or not name.strip():
                self.problem(f"{path}.{lang}", "must be a non-empty string")
            else:
                result[lang] = name
        return result

    def time(self, data: Mapping[str, Any], key: str, path: str, default: str) -> int:
        raw = data.get(key, default)
        minutes = parse_time(raw) if isinstance(raw, str) else None
        if minutes is None:
            self.problem(path, f"bad time {raw!r}: expected HH:MM, 00:00 to 24:00")
            return parse_time(default) or 0
        return minutes

    def boolean(self, data: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, not {value!r}")
            return default
        return value
