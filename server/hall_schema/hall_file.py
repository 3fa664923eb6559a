"""The whole hall file: its sections validated together (every mistake at once, each with
its key path) and built into the :class:`~server.hall_model.Hall` the code uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator

from server import hall_model as model
from server.hall_schema.base import Known, Section, fail
from server.hall_schema.calendar import CalendarField, CalendarTable, unopened
from server.hall_schema.counters import Services, Windows
from server.hall_schema.hall_table import HallTable
from server.hall_schema.rules import Rules
from server.hall_schema.sections import Appointments, Ratings, Remote, Webhooks
from server.hall_schema.sms import Sms
from server.hall_schema.staff import StaffList


class HallFile(Section):
    """A hall file, section by section (a section that must be read even when absent, for its
    defaults' checks, is validated from an empty table)."""

    hall: HallTable = Field(default={}, validate_default=True)
    services: Services = Field(default=None, validate_default=True)
    windows: Windows = Field(default=None, validate_default=True)
    staff: StaffList = []  # noqa: RUF012 — a pydantic default is copied, never shared
    rules: Rules = Field(default={}, validate_default=True)
    appointments: Appointments | None = None
    webhooks: Webhooks = []  # noqa: RUF012
    ratings: Ratings = Ratings()
    remote: Remote | None = None
    sms: Sms | None = None
    calendar: CalendarField = CalendarTable()

    @field_validator("calendar")
    @classmethod
    def _workdays_open(cls, calendar: CalendarTable, info: ValidationInfo) -> CalendarTable:
        table = info.data.get("hall")
        if isinstance(table, HallTable) and (problems := unopened(calendar, table.hours.by_day())):
            raise fail(*problems)
        return calendar

    def build(self, text: str) -> model.Hall:
        """The hall as the code sees it; ``text`` is the file's (its hash names the config)."""
        table = self.hall
        service_ids = [s.id for s in self.services]
        return model.Hall(
            id=table.id,
            name=table.name,
            languages=tuple(table.languages),
            timezone=table.timezone,
            hours=table.hours.by_day(),
            ticket_cutoff=table.ticket_cutoff,
            daily_reset=table.daily_reset,
            rating_timeout_s=table.rating_timeout_s,
            event_retention=table.event_retention,
            # a key added to a table's model and to its dataclass flows through by name
            services=tuple(model.Service(**s.model_dump()) for s in self.services),
            windows=tuple(model.Window(**w.model_dump(exclude={"services"})) for w in self.windows),
            staff=tuple(s.build() for s in self.staff),
            rules=self.rules.build(),
            source_text=text,
            appointments=None if self.appointments is None else self.appointments.build(service_ids),
            webhooks=tuple(w.build() for w in self.webhooks),
            follow_up_days=self.ratings.follow_up_days,
            remote=None if self.remote is None else model.Remote(**self.remote.model_dump()),
            sms=None if self.sms is None else self.sms.build(),
            calendar=self.calendar.build(table.hours.by_day()),
        )


def path_of(loc: tuple[str | int, ...]) -> str:
    """Our key path for a pydantic ``loc``: ``("services", 2, "id")`` → ``services[2].id``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def validate(root: Mapping[str, Any], text: str) -> tuple[model.Hall | None, list[tuple[str, str]]]:
    """The hall of the parsed file ``root`` and ``text``, or None and every problem as
    (key path, sentence), in the file's order of sections."""
    try:
        hall_file = HallFile.model_validate(root, context=Known.of(root))
    except ValidationError as exc:
        return None, [(path_of(e["loc"]), str(e["msg"])) for e in exc.errors()]
    return hall_file.build(text), []
