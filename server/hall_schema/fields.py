"""The field types the hall file's sections are written with, each with its sentence.

Each is metadata for ``Annotated`` (``Annotated[int, Whole(0, 50)]``), so a new key is one
typed line in its section.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from annotated_types import Ge, GroupedMetadata, Le, MinLen
from pydantic import AfterValidator, BeforeValidator

from server.hall_schema.base import fail, said
from server.toml_locator import parse_time

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise fail(((), "must be a non-empty string"))
    return value


#: A string with something in it.
Text = Annotated[str, said("must be a non-empty string"), AfterValidator(_not_blank)]


@dataclass(frozen=True)
class Whole(GroupedMetadata):
    """A whole number from ``low`` to ``high`` (``true`` is not 1, nor 2.0 a whole number)."""

    low: int
    high: int

    def __iter__(self) -> Iterator[Any]:
        yield Ge(self.low)
        yield Le(self.high)
        yield said(f"must be a whole number from {self.low} to {self.high}")


@dataclass(frozen=True)
class Flag(GroupedMetadata):
    """``true`` or ``false`` (``"yes"`` and ``1`` are mistakes, quoted when ``quote``)."""

    quote: bool = True

    def __iter__(self) -> Iterator[Any]:
        yield said(lambda v: f"must be true or false, not {v!r}" if self.quote else "must be true or false")


@dataclass(frozen=True)
class Matching(GroupedMetadata):
    """A non-empty string that fully matches ``pattern``, else ``message``."""

    pattern: re.Pattern[str] | str
    message: str

    def __iter__(self) -> Iterator[Any]:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise fail(((), self.message))
            return value

        yield said("must be a non-empty string")
        yield AfterValidator(_not_blank)
        yield AfterValidator(check)


@dataclass(frozen=True)
class Listing(GroupedMetadata):
    """A list with at least one item, else ``message`` (an item's mistakes keep their place)."""

    message: str

    def __iter__(self) -> Iterator[Any]:
        yield MinLen(1)
        yield said(self.message)


def _minutes(value: Any) -> int:
    minutes = parse_time(value) if isinstance(value, str) else None
    if minutes is None:
        raise fail(((), f"bad time {value!r}: expected HH:MM, 00:00 to 24:00"))
    return minutes


#: ``"HH:MM"`` (``"24:00"`` allowed) as minutes since midnight.
Time = Annotated[int, BeforeValidator(_minutes)]


def _names(value: Any) -> Any:
    if isinstance(value, str) and value.strip():
        return {"zh": value, "en": value}  # one name for every language
    if not isinstance(value, Mapping) or not value:
        raise fail(((), 'must be a table of names per language, e.g. { zh = "…", en = "…" }'))
    return value


#: Names per language (``{ zh = "…", en = "…" }``), or one string for all.
Names = Annotated[dict[str, Text], BeforeValidator(_names)]
