"""Reading a TOML file for people: every mistake with its key path and line.

tomllib keeps no positions, so :class:`Locator` finds a key path's line by scanning the text;
the schema (:mod:`server.hall_schema`) names each mistake's key path, and a
:class:`ConfigProblem` carries both, so ``hallq check-config`` prints them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

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
