"""``[hall]``: the hall's identity, languages, time zone, opening hours and day."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from server.hall_model import WEEKDAYS
from server.hall_schema.base import LANG_RE, Section, fail, in_every_language, said
from server.hall_schema.fields import ID_RE, Matching, Names, Text, Time, Whole
from server.toml_locator import parse_time


def _span(value: Any) -> tuple[int, int]:
    parts = value.split("-") if isinstance(value, str) else []
    times = [parse_time(part.strip()) for part in parts]
    if len(times) != 2 or times[0] is None or times[1] is None or times[0] >= times[1]:
        raise fail(((), f"bad opening span {value!r}: expected HH:MM-HH:MM"))
    return times[0], times[1]


#: The opening spans of one weekday, ``["08:30-12:00", "13:30-17:30"]``, in order.
Spans = Annotated[
    list[Annotated[tuple[int, int], BeforeValidator(_span)]],
    said('must be a list like ["08:30-12:00", "13:30-17:30"]'),
    AfterValidator(sorted),
]


class Hours(Section):
    """``[hall.hours]``: a weekday left out has no opening; no table at all, open all week."""

    unknown_key = f"unknown weekday; use one of {', '.join(WEEKDAYS)}"
    mon: Spans | None = None
    tue: Spans | None = None
    wed: Spans | None = None
    thu: Spans | None = None
    fri: Spans | None = None
    sat: Spans | None = None
    sun: Spans | None = None

    def by_day(self) -> dict[str, tuple[tuple[int, int], ...]]:
        days = {day: getattr(self, day) for day in WEEKDAYS if getattr(self, day) is not None}
        if not days:
            return {day: ((0, 24 * 60),) for day in WEEKDAYS}
        return {day: tuple(spans) for day, spans in days.items()}


def _language(value: Any) -> str:
    if not isinstance(value, str) or not LANG_RE.fullmatch(value):
        raise fail(((), f"bad language code {value!r}"))
    return value


def _once_each(languages: list[str]) -> list[str]:
    if len(set(languages)) != len(languages):
        raise fail(((), "lists a language twice"))
    return languages


def _zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise fail(((), f"unknown time zone {name!r}")) from None
    return name


def _before_midnight(minutes: int) -> int:
    if minutes >= 24 * 60:
        raise fail(((), "must be before 24:00"))
    return minutes


class HallTable(Section):
    """``[hall]``."""

    id: Annotated[str, Matching(ID_RE, "must be lowercase letters, digits, '-' or '_' (at most 32)")]
    name: Names = Field(default=None, validate_default=True)
    languages: Annotated[
        list[Annotated[str, BeforeValidator(_language)]],
        Field(min_length=1),
        said('must list at least one language, e.g. ["zh", "en"]'),
        AfterValidator(_once_each),
    ] = ["zh", "en"]  # noqa: RUF012 — a pydantic default is copied, never shared
    timezone: Annotated[Text, AfterValidator(_zone)] = "Asia/Shanghai"
    hours: Hours = Hours()
    ticket_cutoff: Time = 24 * 60
    daily_reset: Annotated[Time, AfterValidator(_before_midnight)] = 0
    rating_timeout_s: Annotated[int, Whole(5, 3600)] = 60
    event_retention: Annotated[int, Whole(10_000, 1_000_000)] = 10_000

    @field_validator("name")
    @classmethod
    def _in_every_language(cls, name: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return in_every_language(name, info)
