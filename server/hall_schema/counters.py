"""``[[services]]`` and ``[[windows]]``: what a hall offers and the counters that serve it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from annotated_types import Gt, Le
from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from server.hall_schema.base import Loc, Section, collecting, duplicates, fail, in_every_language, known, said
from server.hall_schema.fields import ID_RE, Listing, Matching, Names, Text, Whole
from server.queue.constants import WINDOW_RE

KINDS = ("instant", "promised")


def _capital(prefix: str) -> str:
    if not re.fullmatch(r"[A-Z]", prefix):
        raise fail(((), f"bad prefix {prefix!r}: one capital letter A–Z"))
    return prefix


class Service(Section):
    """A ``[[services]]`` table."""

    id: Annotated[str, Matching(ID_RE, "must be lowercase letters, digits, '-' or '_'")]
    prefix: Annotated[Text, AfterValidator(_capital)]
    name: Names = Field(default=None, validate_default=True)
    kind: Annotated[Literal["instant", "promised"], said(f"must be one of {', '.join(KINDS)}")] = "instant"
    expected_minutes: Annotated[float, Gt(0), Le(480), said("must be a number of minutes above 0, at most 480")] = 10.0
    daily_quota: Annotated[int, Whole(1, 999)] | None = None

    @field_validator("name")
    @classmethod
    def _in_every_language(cls, name: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return in_every_language(name, info)

    @field_validator("id")
    @classmethod
    def _served(cls, service_id: str, info: ValidationInfo) -> str:
        if service_id not in known(info).served:
            raise fail(((), f"service {service_id!r} is served by no window"))
        return service_id


Services = Annotated[
    Annotated[list[Service], Listing("at least one [[services]] table is required")],
    collecting(duplicates("id", "duplicate service id {!r}")),
    collecting(duplicates("prefix", "duplicate prefix {!r}", re.compile(r"[A-Z]").fullmatch)),
]


def _as_text(value: Any) -> Any:
    """A window id written as a number (``id = 3``) is the id "3"."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _window_id(value: Any) -> str:
    value = _as_text(value)
    if not isinstance(value, str) or not WINDOW_RE.fullmatch(value):
        raise fail(((), 'must be a short id such as "3" or "A1"'))
    return value


def _tiers(raw: Any, service_ids: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """A window's tiers, every mistake said at ``tiers`` itself."""
    if not isinstance(raw, list) or not raw:
        raise fail(((), "window serves no service: list its services in tiers"))
    problems: list[tuple[Loc, str]] = []
    listed: set[str] = set()
    for index, tier in enumerate(raw):
        if not isinstance(tier, list) or not tier:
            problems.append(((), f"tier {index} must be a non-empty list of service ids"))
            continue
        for service in tier:
            if service not in service_ids:
                problems.append(((), f"unknown service {service!r} in tiers[{index}]"))
            elif service in listed:
                problems.append(((), f"service {service!r} listed twice"))
            listed.add(service)
    if problems:
        raise fail(*problems)
    return tuple(tuple(tier) for tier in raw)


class Window(Section):
    """A ``[[windows]]`` table: its services in priority tiers (``services = [...]``: one tier)."""

    id: Annotated[str, BeforeValidator(_window_id)] = Field(default=None, validate_default=True)
    name: Names = Field(default=None, validate_default=True)
    tiers: tuple[tuple[str, ...], ...] = Field(default=None, validate_default=True)
    services: list[Any] | None = None  # read as the one tier when there is no `tiers`

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("tiers") is None and isinstance(data.get("services"), list):
            data["tiers"] = [data["services"]]
        if not data.get("name"):
            number = data.get("id")
            number = str(number) if isinstance(number, str | int) and not isinstance(number, bool) else ""
            data["name"] = {"zh": f"{number}号窗口", "en": f"Window {number}"}
        return data

    @field_validator("tiers", mode="plain")
    @classmethod
    def _known_services(cls, raw: Any, info: ValidationInfo) -> tuple[tuple[str, ...], ...]:
        return _tiers(raw, known(info).service_ids)


Windows = Annotated[
    Annotated[list[Window], Listing("at least one [[windows]] table is required")],
    collecting(duplicates("id", "duplicate window id {!r}", WINDOW_RE.fullmatch, _as_text)),
]
