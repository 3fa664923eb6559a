"""The staff overlay: the manager page's staff and hall changes, kept beside the hand-written hall file.

A manager adds clerks, resets PINs and disables or enables staff from the manager page
(:mod:`server.staff_api`). Those changes never rewrite the hall file a person wrote: they go
into a small TOML file of ``[[staff]]`` tables, the *overlay*, next to it
(``hall.toml`` → ``hall.staff.toml``; for the bundled demo hall, ``demo.staff.toml`` in the
data folder). Each overlay table names a staff ``id``: when the hall file has that id, the
overlay's keys replace the file's (``pin_hash``, ``disabled``, ``name``, ``role``, ``windows``;
an empty ``windows = []`` removes the file's list, so the clerk may serve any window); otherwise
it adds a staff member. The merged tables then go through the very same
:func:`server.config.parse_hall` as the hall file alone, so every rule and every message is
``hallq check-config``'s (which reads the overlay too).

``[[windows]]`` tables add windows or retire the file's (``closed = true``), ``[[services]]``
tables add services, change the file's (names, letter, kind, minutes, ``daily_quota``; ``0``
takes the file's quota away) or take one away (``removed = true``: it leaves the
``[appointments]`` list too, and the manager page writes the windows' ``tiers`` without it),
and one ``[hall]`` table may replace the opening ``hours`` and the ``ticket_cutoff``.

The file is written whole, atomically (a temporary file renamed over it), under a lock
file, so two workers changing staff at once cannot lose one change.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from server.toml_locator import ConfigProblem

#: The keys an overlay's ``[[staff]]`` table may hold (a clear PIN never: only its hash).
#: ``windows = []`` in the overlay takes the hall file's list away: any window again.
KEYS = ("id", "name", "role", "pin_hash", "disabled", "windows")
#: The keys of an overlay's ``[[windows]]`` table: a window added (``services``, ``name``), or
#: one of the hall file's taken out of service (``closed = true``).
WINDOW_KEYS = ("id", "name", "services", "tiers", "closed")
#: The keys of an overlay's ``[[services]]`` table: a service added, one changed (``daily_quota
#: = 0``: no quota), or one taken away (``removed = true``).
SERVICE_KEYS = ("id", "prefix", "name", "kind", "expected_minutes", "daily_quota", "removed")
SECTIONS = {"staff": KEYS, "windows": WINDOW_KEYS, "services": SERVICE_KEYS}
#: The key that takes the hall file's table away, per section (staff are disabled instead).
GONE = {"windows": "closed", "services": "removed"}
#: The keys of the overlay's ``[hall]`` table: the opening hours and the ticket cutoff, which
#: replace the hall file's (``hours`` whole: a weekday left out has no opening).
HALL_KEYS = ("hours", "ticket_cutoff")
#: What the overlay may hold, as its problems say it.
HOLDS = "[[staff]], [[windows]], [[services]] and [hall] hours and ticket_cutoff"
#: Where problems of the overlay itself (not of a merged staff table) are reported.
WHERE = "(staff overlay)"
HEADER = (
    "# hallq staff overlay: written by the manager page, merged over the hall file's [[staff]]\n"
    '# by id (docs/operations.md, "Staff changes from the manager page"). Edit with care.\n'
)
#: The file of the demo hall's overlay, in the data folder.
DEMO_FILE = "demo.staff.toml"


def beside(hall_file: str | Path) -> Path:
    """The overlay of ``hall_file``: ``hall.toml`` → ``hall.staff.toml`` in the same folder."""
    path = Path(hall_file)
    return path.with_name(f"{path.stem}.staff.toml")


def read_text(path: Path | None) -> str | None:
    """The overlay's text, or None when there is none."""
    if path is None:
        return None
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return None


def entries_of(text: str | None, section: str = "staff") -> list[dict[str, Any]]:
    """The overlay's ``[[staff]]`` (or ``[[windows]]``) tables, for editing (:func:`merge` checks them)."""
    if not text:
        return []
    try:
        tables = tomllib.loads(text).get(section)
    except tomllib.TOMLDecodeError:
        return []
    return [dict(item) for item in tables if isinstance(item, Mapping)] if isinstance(tables, list) else []


def merge(root: Mapping[str, Any], overlay_text: str) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """The hall file's tables with the overlay's ``[[staff]]`` and ``[[windows]]`` merged in by
    id, and the problems of the overlay itself (bad TOML, another section, a table without an id)."""
    try:
        overlay = tomllib.loads(overlay_text)
    except tomllib.TOMLDecodeError as exc:
        return dict(root), [ConfigProblem(WHERE, f"is not valid TOML: {exc}")]
    problems = [
        ConfigProblem(f"{WHERE} {key}", f"unknown section; the staff overlay holds {HOLDS} only")
        for key in overlay
        if key not in SECTIONS and key != "hall"
    ]
    merged = dict(root)
    if "hall" in overlay:
        merged["hall"], found = _merge_hall(root.get("hall", {}), overlay["hall"])
        problems += found
    for section, keys in SECTIONS.items():
        if section in overlay:
            merged[section], found = _merge_section(root.get(section, []), overlay[section], section, keys)
            problems += found
    return _without_removed_bookings(merged, overlay.get("services")), problems


def _without_removed_bookings(merged: dict[str, Any], services: Any) -> dict[str, Any]:
    """A service taken away takes no appointments: out of the hall file's ``[appointments]
    services`` list (an empty list is then check-config's problem, said as for the file)."""
    gone = {e["id"] for e in services if isinstance(e, Mapping) and e.get("removed") is True} if services else set()
    table = merged.get("appointments")
    if gone and isinstance(table, Mapping) and isinstance(table.get("services"), list):
        merged["appointments"] = {**table, "services": [s for s in table["services"] if s not in gone]}
    return merged


def _merge_hall(base: Any, table: Any) -> tuple[Any, list[ConfigProblem]]:
    """The hall file's ``[hall]`` with the overlay's ``hours`` and ``ticket_cutoff`` in place."""
    if not isinstance(table, Mapping):
        return base, [ConfigProblem(f"{WHERE} hall", "must be a table")]
    problems = [
        ConfigProblem(f"{WHERE} hall.{key}", f"unknown key {key!r}; expected one of {', '.join(HALL_KEYS)}")
        for key in table
        if key not in HALL_KEYS
    ]
    if not isinstance(base, Mapping):
        return base, problems  # the hall file's own mistake: parse_hall reports it
    return {**base, **{k: v for k, v in table.items() if k in HALL_KEYS}}, problems


def _merge_section(base: Any, entries: Any, section: str, keys: tuple[str, ...]) -> tuple[Any, list[ConfigProblem]]:
    if not isinstance(entries, list):
        return base, [ConfigProblem(f"{WHERE} {section}", f"must be a list of [[{section}]] tables")]
    if not isinstance(base, list):
        return base, []  # the hall file's own mistake: parse_hall reports it
    problems: list[ConfigProblem] = []
    tables = [dict(item) if isinstance(item, Mapping) else item for item in base]
    # window ids may be written as numbers in the hall file (id = 3)
    by_id = {str(item.get("id")): item for item in tables if isinstance(item, dict)}
    closed: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{WHERE} {section}[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str) or not entry["id"]:
            problems.append(ConfigProblem(where, "must be a table with an id"))
            continue
        for key in entry:
            if key not in keys:
                expected = ", ".join(keys)
                problems.append(ConfigProblem(f"{where}.{key}", f"unknown key {key!r}; expected one of {expected}"))
        gone = GONE.get(section, "")
        changes = {k: v for k, v in entry.items() if k in keys and k != gone}
        if gone and entry.get(gone) is True:
            closed.add(entry["id"])
        elif gone in entry and entry[gone] is not False:
            problems.append(ConfigProblem(f"{where}.{gone}", "must be true or false"))
        _put(by_id, tables, entry["id"], changes, section)
    return [t for t in tables if not (isinstance(t, dict) and str(t.get("id")) in closed)], problems


def _put(by_id: dict[str, Any], tables: list[Any], table_id: str, changes: dict[str, Any], section: str) -> None:
    """Set an overlay table's ``changes`` on the hall file's table ``table_id`` (added when missing)."""
    table = by_id.get(table_id)
    if section == "staff" and changes.get("windows") == []:  # back to any window
        del changes["windows"]
        if isinstance(table, dict):
            table.pop("windows", None)
    if section == "services" and changes.get("daily_quota") == 0:  # no quota (the file's taken away)
        del changes["daily_quota"]
        if isinstance(table, dict):
            table.pop("daily_quota", None)
    if table_id in by_id:
        by_id[table_id].update(changes)
        if "services" in changes and "tiers" not in changes:  # the overlay's services replace the file's tiers
            by_id[table_id].pop("tiers", None)
        if "tiers" in changes:
            by_id[table_id].pop("services", None)
    else:
        by_id[table_id] = dict(changes)
        tables.append(by_id[table_id])


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_value(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    # a JSON string is a TOML basic string (same escapes), but for DEL, which TOML wants escaped
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def hall_of(text: str | None) -> dict[str, Any]:
    """The overlay's ``[hall]`` table (hours, cutoff), for editing; empty when it has none."""
    if not text:
        return {}
    try:
        table = tomllib.loads(text).get("hall")
    except tomllib.TOMLDecodeError:
        return {}
    return dict(table) if isinstance(table, Mapping) else {}


def replaced(old: str | None, section: str, tables: list[dict[str, Any]] | dict[str, Any]) -> str:
    """The overlay's text with ``section``'s tables (``"hall"``: its one table) replaced, every
    other section kept."""
    parts: dict[str, Any] = {name: entries_of(old, name) for name in SECTIONS}
    parts["hall"] = hall_of(old)
    parts[section] = tables
    return dumps(parts["staff"], parts["windows"], parts["services"], parts["hall"])


def dumps(
    entries: list[dict[str, Any]],
    windows: list[dict[str, Any]] | None = None,
    services: list[dict[str, Any]] | None = None,
    hall: dict[str, Any] | None = None,
) -> str:
    """The overlay file's text for staff ``entries``, ``windows`` and ``services`` tables and
    the ``hall`` table (strings, numbers, booleans, lists and tables of them)."""
    parts = [HEADER]
    if hall:
        parts.append(
            "\n".join(["[hall]", *(f"{key} = {_value(hall[key])}" for key in HALL_KEYS if key in hall)]) + "\n"
        )
    for section, tables in (("staff", entries), ("windows", windows or []), ("services", services or [])):
        for table in tables:
            keys = SECTIONS[section]
            lines = [f"[[{section}]]", *(f"{key} = {_value(table[key])}" for key in keys if key in table)]
            parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def change(entries: list[dict[str, Any]], staff_id: str, **changes: Any) -> list[dict[str, Any]]:
    """``entries`` with ``changes`` set on ``staff_id``'s table (added when missing)."""
    result = [dict(entry) for entry in entries]
    for entry in result:
        if entry.get("id") == staff_id:
            entry.update(changes)
            return result
    return [*result, {"id": staff_id, **changes}]


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the overlay's lock file (``.NAME.lock`` beside it) against other processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write(path: Path, text: str | None) -> None:
    """Replace the overlay atomically with ``text`` (None: remove it)."""
    if text is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
