"""The hall as the code sees it: services, windows, staff, rules and the optional sections,
typed and frozen (:mod:`server.config` builds it from a hall file and checks it)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from server.pins import verify_pin
from server.queue import constants, rules

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Service:
    id: str
    prefix: str
    name: Mapping[str, str]
    kind: str
    expected_minutes: float
    daily_quota: int | None = None


@dataclass(frozen=True)
class Window:
    id: str
    name: Mapping[str, str]
    tiers: tuple[tuple[str, ...], ...]

    @property
    def services(self) -> tuple[str, ...]:
        """Every service this window serves, best tier first."""
        return tuple(s for tier in self.tiers for s in tier)

    def tier_of(self, services: Sequence[str]) -> int | None:
        """The tier at which this window takes a ticket for ``services``.

        A ticket covering several services goes only to windows that serve all
        of them, at the worst (highest) tier among them; ``None`` when the
        window does not serve every one.
        """
        tier = rules.tier_of(self.tiers, services)
        return tier if tier is not None and tier >= 0 else None  # no services: no tier


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str
    pin_hash: str = field(repr=False)
    #: ``disabled = true`` (the manager's staff overlay, or the hall file): kept for the
    #: statistics' names, but no login and no session
    disabled: bool = False
    #: ``windows = ["1", "2"]``: the only windows this staff member may serve (log in at, act
    #: at); None (the key left out) for any window of the hall
    windows: tuple[str, ...] | None = None

    def may_serve(self, window_id: str) -> bool:
        """Whether this staff member may open and act at ``window_id`` (their ``windows``)."""
        return self.windows is None or window_id in self.windows

    def check_pin(self, pin: str) -> bool:
        """Whether ``pin`` matches the stored scrypt hash (constant-time compare)."""
        return verify_pin(pin, self.pin_hash)


@dataclass(frozen=True)
class NoShowRules:
    #: how many tickets a no-show goes back behind (``rules.no_show.places_back``; the older
    #: key ``move_back`` is read as the same)
    places_back: int = 3
    max_times: int = 2
    min_seconds_after_call: int = 15


@dataclass(frozen=True)
class AnnounceRules:
    repeat: int = 2
    templates: Mapping[str, str] = field(default_factory=dict)
    voices: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    no_show: NoShowRules = NoShowRules()
    announce: AnnounceRules = AnnounceRules()
    #: A window's next call (call_next, 特呼) is refused with ``just_called`` this many seconds
    #: after its ticket in hand was called, so a double tap never closes a visitor unserved.
    min_call_interval_s: int = 3
    #: How many windows one clerk may hold at once (``[rules] windows_per_clerk``).
    windows_per_clerk: int = 1


@dataclass(frozen=True)
class Appointments:
    """The hall file's ``[appointments]`` (预约): slots per service through the opening hours.

    A hall without the section takes no appointments. Slots follow the hall's opening spans
    (``hall.hours``: a weekday without spans has none), ``slot_minutes`` long, each with
    ``per_slot`` places per service; a visitor checks in from ``check_in_early_min`` before
    a slot's start to ``check_in_late_min`` after it, and books up to ``days_ahead`` days on.
    """

    services: tuple[str, ...]
    slot_minutes: int = 30
    per_slot: int = 4
    check_in_early_min: int = 30
    check_in_late_min: int = 15
    days_ahead: int = 14


@dataclass(frozen=True)
class Remote:
    """The hall file's ``[remote]``: tickets taken on the phone before arriving (远程取号).

    ``within_hours``: only while the hall is open (as the kiosk); when false, also from the
    business day's start until the cutoff on an opening day (at 07:30 for a 09:00 opening),
    so a visitor who lives far away can take a ticket before setting out. ``daily_quota``
    caps the remote tickets of a business day, all services together (0: no cap beyond the
    services' own quotas). The rules are in :mod:`server.remote`.
    """

    enabled: bool = True
    within_hours: bool = True
    daily_quota: int = 0


@dataclass(frozen=True)
class Webhook:
    """A receiver of the hall's events (``[[webhooks]]``); see :mod:`server.webhooks`."""

    url: str
    #: signs every body; never logged nor shown (``repr`` leaves it out)
    secret: str = field(repr=False)
    #: event types it gets; ``("*",)`` for all
    events: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class Sms:
    """The hall's own SMS gateway (``[sms]``); see :mod:`server.sms`.

    Each message is one HTTP request to ``url`` with ``body`` (a template with ``{phone}``,
    ``{text}``, ``{number}``, ``{window}``, ``{ahead}``, ``{hall}``) signed in the
    ``signature_header`` with the secret from the environment variable ``secret_env`` (else
    the file ``sms-secret`` in the data folder).
    """

    url: str
    method: str = "POST"
    content_type: str = "application/json"
    body: str = '{"phone":"{phone}","text":"{text}"}'
    signature_header: str = "X-Hallq-Signature"
    secret_env: str = "HALLQ_SMS_SECRET"
    #: "N ahead of you" goes out once a waiting ticket has at most this many in front
    ahead: int = 3
    #: message texts per kind ("ahead", "called") and language; defaults in server/sms_rules.py
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timeout_s: float = 5.0


@dataclass(frozen=True)
class Holiday:
    """A public holiday (``[calendar] holidays``): the hall is closed from ``first`` to
    ``last`` (both included), named ``name`` (国庆节)."""

    first: date
    last: date
    name: str

    def days(self) -> tuple[date, ...]:
        """Every date of the holiday, in order."""
        return tuple(date.fromordinal(n) for n in range(self.first.toordinal(), self.last.toordinal() + 1))


@dataclass(frozen=True)
class Workday:
    """A 调休 make-up working day (``[calendar] workdays``): the hall opens on ``day`` (a
    Saturday or Sunday, usually) with the opening hours of the weekday ``hours_of``."""

    day: date
    hours_of: str
    name: str = ""


@dataclass(frozen=True)
class Calendar:
    """The hall's holidays and 调休 working days (the hall file's ``[calendar]`` and the
    manager's calendar overlay). Rules that read it are in :mod:`server.hours`."""

    holidays: tuple[Holiday, ...] = ()
    workdays: tuple[Workday, ...] = ()

    def holiday(self, day: date) -> Holiday | None:
        """The holiday ``day`` falls in, or None."""
        return next((h for h in self.holidays if h.first <= day <= h.last), None)

    def workday(self, day: date) -> Workday | None:
        """The 调休 working day ``day`` is, or None."""
        return next((w for w in self.workdays if w.day == day), None)

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(d for h in self.holidays for d in h.days())

    def workday_dates(self) -> frozenset[date]:
        return frozenset(w.day for w in self.workdays)


@dataclass(frozen=True)
class Hall:
    id: str
    name: Mapping[str, str]
    languages: tuple[str, ...]
    timezone: str
    hours: Mapping[str, tuple[tuple[int, int], ...]]
    ticket_cutoff: int
    daily_reset: int
    rating_timeout_s: int
    event_retention: int
    services: tuple[Service, ...]
    windows: tuple[Window, ...]
    staff: tuple[Staff, ...]
    rules: Rules
    source_text: str = field(default="", repr=False, compare=False)
    #: the hall file it was read from ("" for the bundled demo hall)
    source_path: str = field(default="", repr=False, compare=False)
    #: ``[appointments]``; None when the hall takes none
    appointments: Appointments | None = None
    webhooks: tuple[Webhook, ...] = ()
    #: ``[ratings] follow_up_days``: working days to settle a bad-rating case (server/cases.py).
    follow_up_days: int = 5
    #: ``[remote]``: tickets from the phone; None when the hall offers none
    remote: Remote | None = None
    #: ``[sms]``; None when the hall sends no text messages
    sms: Sms | None = None
    #: ``[calendar]`` with the manager's calendar overlay: holidays and 调休 working days
    calendar: Calendar = Calendar()

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def window(self, window_id: str) -> Window | None:
        return next((w for w in self.windows if w.id == window_id), None)

    def staff_member(self, staff_id: str) -> Staff | None:
        return next((s for s in self.staff if s.id == staff_id), None)

    def windows_serving(self, services: Sequence[str]) -> tuple[Window, ...]:
        """Windows that serve every one of ``services``."""
        return tuple(w for w in self.windows if w.tier_of(services) is not None)

    def public(self) -> dict[str, Any]:
        """The public config, as ``GET /api/halls/{hall}`` answers it."""
        return {
            "id": self.id,
            "name": dict(self.name),
            "languages": list(self.languages),
            "timezone": self.timezone,
            "services": [
                {
                    "id": s.id,
                    "prefix": s.prefix,
                    "name": dict(s.name),
                    "kind": s.kind,
                    "expected_minutes": s.expected_minutes,
                    "daily_quota": s.daily_quota,
                }
                for s in self.services
            ],
            "windows": [
                {
                    "id": w.id,
                    "name": dict(w.name),
                    "services": list(w.services),
                    "tiers": [list(t) for t in w.tiers],
                }
                for w in self.windows
            ],
            "announce": {
                "repeat": self.rules.announce.repeat,
                "templates": {lang: self.rules.announce.templates[lang] for lang in self.languages},
                "voices": {lang: self.rules.announce.voices[lang] for lang in self.languages},
            },
            "rating_timeout_s": self.rating_timeout_s,
            # pads wait this long between calls themselves (the server refuses just_called)
            "min_call_interval_s": self.rules.min_call_interval_s,
            # the patterns and thresholds the pages check as the server does (constants.json)
            "constants": constants.for_pages(),
            # text messages ([sms]): the visitor's page offers to leave a phone number; null: none
            "sms": None if self.sms is None else {"ahead": self.sms.ahead},
            "appointments": None
            if self.appointments is None
            else {
                "services": list(self.appointments.services),
                "slot_minutes": self.appointments.slot_minutes,
                "per_slot": self.appointments.per_slot,
                "check_in_early_min": self.appointments.check_in_early_min,
                "check_in_late_min": self.appointments.check_in_late_min,
                "days_ahead": self.appointments.days_ahead,
            },
            "remote": None
            if self.remote is None or not self.remote.enabled
            else {
                "within_hours": self.remote.within_hours,
                "daily_quota": self.remote.daily_quota,
            },
        }


def config_hash(hall: Hall) -> str:
    """The hall file's content hash (SHA-256 of its text, first 16 hex digits): what
    ``GET /api/version`` names, ``hall.config`` announces, snapshots and pages carry."""
    return hashlib.sha256(hall.source_text.encode()).hexdigest()[:16]
