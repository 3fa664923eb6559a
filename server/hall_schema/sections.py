"""The optional sections: ``[appointments]``, ``[remote]``, ``[ratings]``, ``[[webhooks]]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from server.hall_model import Appointments as AppointmentsModel
from server.hall_model import Webhook as WebhookModel
from server.hall_schema.base import Loc, Section, collecting, duplicates, fail, known, said
from server.hall_schema.fields import Flag, Text, Whole
from server.webhook_rules import ALL, EVENT_TYPES, shown_url, valid_url


class Appointments(Section):
    """``[appointments]`` (预约): which services take them (all when not said), and the slots."""

    services: list[Any] | None = None
    slot_minutes: Annotated[int, Whole(5, 240)] = 30
    per_slot: Annotated[int, Whole(1, 1000)] = 4
    check_in_early_min: Annotated[int, Whole(0, 240)] = 30
    check_in_late_min: int = 15  # at most the slot's length: see _within_the_slot
    days_ahead: Annotated[int, Whole(0, 90)] = 14

    @field_validator("services", mode="plain")
    @classmethod
    def _known(cls, chosen: Any, info: ValidationInfo) -> list[str]:
        ids = known(info).service_ids
        if not isinstance(chosen, list) or not chosen:
            raise fail(((), "must list at least one service id"))
        problems: list[tuple[Loc, str]] = [
            ((index,), f"unknown service {service!r}") for index, service in enumerate(chosen) if service not in ids
        ]
        if len(set(map(str, chosen))) != len(chosen):
            problems.append(((), "lists a service twice"))
        if problems:
            raise fail(*problems)
        return chosen

    @field_validator("check_in_late_min", mode="plain")
    @classmethod
    def _within_the_slot(cls, late: Any, info: ValidationInfo) -> int:
        slot = info.data.get("slot_minutes", 30)  # (a bad slot_minutes has its own problem)
        if isinstance(late, bool) or not isinstance(late, int) or not 0 <= late <= slot:
            raise fail(((), f"must be a whole number from 0 to {slot}"))
        return late

    def build(self, service_ids: Sequence[str]) -> AppointmentsModel:
        return AppointmentsModel(
            services=tuple(self.services if self.services is not None else service_ids),
            slot_minutes=self.slot_minutes,
            per_slot=self.per_slot,
            check_in_early_min=self.check_in_early_min,
            check_in_late_min=self.check_in_late_min,
            days_ahead=self.days_ahead,
        )


class Remote(Section):
    """``[remote]``: tickets taken on the phone before arriving (远程取号)."""

    enabled: Annotated[bool, Flag()] = True
    within_hours: Annotated[bool, Flag()] = True
    daily_quota: Annotated[int, Whole(0, 100_000)] = 0


class Ratings(Section):
    """``[ratings]``: working days to settle a bad-rating case."""

    follow_up_days: Annotated[int, Whole(1, 60)] = 5


def _receiver(url: str) -> str:
    if why := valid_url(url):
        raise fail(((), why))
    return url


def _event_types(events: list[str]) -> list[str]:
    unknown = [(nth, kind) for nth, kind in enumerate(events) if kind != ALL and kind not in EVENT_TYPES]
    if unknown:
        known_types = ", ".join(sorted(EVENT_TYPES))
        raise fail(*(((), f"unknown event type {k!r} (item {n + 1}); known: {known_types}") for n, k in unknown))
    return events


class Webhook(Section):
    """A ``[[webhooks]]`` receiver. No sentence quotes its secret, nor a URL's credentials or
    query (:func:`server.webhook_rules.shown_url`)."""

    url: Annotated[Text, AfterValidator(_receiver)]
    secret: Annotated[Text, said("must be a non-empty string (the key that signs every body)")] = Field(
        default=None, validate_default=True, repr=False
    )
    events: Annotated[
        list[str], Field(min_length=1), said('must list event types, or ["*"] for all'), AfterValidator(_event_types)
    ] = [ALL]  # noqa: RUF012 — a pydantic default is copied, never shared

    def build(self) -> WebhookModel:
        return WebhookModel(url=self.url, secret=self.secret, events=tuple(self.events))


def _listed_twice(tables: Any) -> list[tuple[Loc, str]]:
    found = duplicates("url", "{}", lambda url: valid_url(url) is None)(tables)
    return [(loc, f"receiver {shown_url(url)} is listed twice") for loc, url in found]


Webhooks = Annotated[list[Webhook], said("must be a list of [[webhooks]] tables"), collecting(_listed_twice)]
