"""Appointments (预约) on a hall's engine: slots, booking, cancellation, check-in.

Reads (the slots' places left, an appointment by token) are plain Redis reads; every change
is one Lua script (``lua/book.lua``, ``unbook.lua``, ``check_in.lua``) that checks and writes
atomically, so fifty phones booking the last four places of a slot get exactly four. Python
only validates against the hall file and turns local slot times into epoch milliseconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.appointments import (
    Slot,
    bookable_days,
    booking_closed,
    check_in_window,
    find_slot,
    local_date,
    parse_day,
    slots_of_day,
)
from server.hall_model import Appointments
from server.hours import closed_for
from server.queue.action_args import all_windows
from server.queue.answers import with_eta
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.queue.ids import check_request_id, scoped_request_id

#: How long an appointment's keys outlive its date (for the visitor's page and statistics).
KEEP_S = 40 * 86400
CODE_DIGITS = 8


def new_code() -> str:
    """An 8-digit check-in code (typed on the kiosk's keypad; the kiosk's rate limit and the
    narrow check-in window make guessing one pointless)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


@dataclass
class Booking:
    """The appointments of one hall, on its :class:`Engine` (same Redis, clock and key)."""

    engine: Engine

    @property
    def config(self) -> Appointments:
        config = self.engine.hall.appointments
        if config is None:
            raise Refusal("no_appointments", "this hall takes no appointments")
        return config

    # --- reading --------------------------------------------------------

    def _day(self, text: str) -> date:
        day = parse_day(text)
        if day is None:
            raise Refusal("bad_date", "date must be YYYY-MM-DD")
        return day

    def _services(self, services: Sequence[str]) -> list[str]:
        config = self.config
        if not isinstance(services, list | tuple) or not services or len(services) > 10:
            raise Refusal("no_services", "choose at least one service")
        out = [str(s) for s in services]
        if len(set(out)) != len(out):
            raise Refusal("duplicate_service", "a service is listed twice")
        for service_id in out:
            if self.engine.hall.service(service_id) is None:
                raise Refusal("unknown_service", f"there is no service {service_id[:64]!r} in this hall")
            if service_id not in config.services:
                raise Refusal("not_bookable", f"service {service_id!r} takes no appointments")
        if not self.engine.hall.windows_serving(out):
            raise Refusal("no_window_serves", "no window serves these services together; book them separately")
        return out

    async def slots(self, day_text: str, services: Sequence[str]) -> list[dict[str, Any]]:
        """The slots of a date for ``services``: ``[{"start", "end", "left"}]``.

        ``left`` is the fewest places left among the services; 0 for a slot that can no
        longer be booked (its check-in window is over) and on dates outside the booking range.
        """
        config = self.config
        services = self._services(services)
        day = self._day(day_text)
        now = self.engine.clock()
        in_range = day in bookable_days(self.engine.hall, config, now)
        slots = slots_of_day(self.engine.hall, config, day)
        taken: dict[str, str] = {}
        if slots:
            raw = await self.engine.redis.hgetall(self.engine.prefix + f"ap:slot:{day.isoformat()}")
            taken = {str(k): str(v) for k, v in raw.items()}
        out = []
        for slot in slots:
            left = min(config.per_slot - int(taken.get(f"{s}|{slot.start_text}", 0)) for s in services)
            if not in_range or booking_closed(self.engine.hall, config, slot, now):
                left = 0
            out.append({"start": slot.start_text, "end": slot.end_text, "left": max(0, left)})
        return out

    async def appointment(self, token: str) -> dict[str, Any] | None:
        """The visitor's view of an appointment by its token, or None. A booking whose
        check-in window has closed unused reads as ``missed`` at once (it is counted missed
        at the next day's rollover)."""
        prefix = self.engine.prefix
        code = await self.engine.redis.get(prefix + f"apt:{token}")
        if not code:
            return None
        raw = await self.engine.redis.hgetall(prefix + f"ap:{code!s}")
        a = {str(k): str(v) for k, v in raw.items()}
        if not a:
            return None
        status = a["status"]
        if status == "booked" and self.engine.clock() * 1000 > int(a["until_ms"]):
            status = "missed"
        answer: dict[str, Any] = {
            "code": a["code"],
            "token": a["token"],
            "date": a["date"],
            "start": a["start"],
            "end": a["end"],
            "services": a["services"].split(","),
            "status": status,
            "check_in_from": int(a["from_ms"]),
            "check_in_until": int(a["until_ms"]),
        }
        if a.get("number"):
            answer["number"] = a["number"]
            answer["ticket_token"] = a["ticket"]
        return answer

    # --- changing -------------------------------------------------------

    async def book(
        self,
        services: Sequence[str],
        day_text: str,
        start: str,
        *,
        id_number: str | None = None,
        phone: str | None = None,
        by: str | None = None,
        request_id: str | None = None,
        caller: str = "anonymous",
    ) -> dict[str, Any]:
        """Book a place in slot (``day_text``, ``start``) for ``services``:
        ``{"appointment": {code, token, date, start, end, services, status}, "seq"}``.

        One booking per person (hashed ID number, else hashed phone number) per date and
        service. The same ``request_id`` from the same ``caller`` books once.
        """
        config = self.config
        services = self._services(services)
        day = self._day(day_text)
        hall = self.engine.hall
        now = self.engine.clock()
        if day not in bookable_days(hall, config, now):
            if day < local_date(hall, now):
                raise Refusal("slot_past", "that date has passed")
            raise Refusal("too_far_ahead", f"appointments open {config.days_ahead} days ahead")
        holiday = hall.calendar.holiday(day)
        if holiday is not None:  # the calendar closes the hall that day: no slots, say why
            raise closed_for(holiday, day)
        slot: Slot | None = find_slot(hall, config, day, start) if isinstance(start, str) else None
        if slot is None:
            raise Refusal("unknown_slot", f"there is no slot starting at {str(start)[:8]!r} on {day.isoformat()}")
        if booking_closed(hall, config, slot, now):
            raise Refusal("slot_past", "that slot's check-in time is over")
        check_request_id(request_id)
        person = None
        if id_number:
            person = self.engine.person_hash(id_number)
        elif phone:
            person = self.engine.person_hash("phone:" + phone)
        from_ms, until_ms = check_in_window(hall, config, slot)
        args: dict[str, Any] = {
            "services": services,
            "date": slot.day,
            "start": slot.start_text,
            "end": slot.end_text,
            "per_slot": config.per_slot,
            "person": person,
            "from_ms": from_ms,
            "until_ms": until_ms,
            "token": f"{hall.id}.{secrets.token_urlsafe(18)}",
            "by": by,
            "ttl_s": max(KEEP_S, int(until_ms / 1000 - now) + KEEP_S),
            "rid": scoped_request_id("book", caller, request_id) if request_id else None,
        }
        for _attempt in range(5):
            args["code"] = new_code()
            try:
                return await self.engine._run("book", args)
            except Refusal as refusal:
                if refusal.code != "code_taken":
                    raise
        raise Refusal("code_taken", "no free code found; try again")

    async def cancel(self, token: str) -> dict[str, Any]:
        """Cancel a booked appointment by its token; its places are free at once."""
        if not isinstance(token, str) or not token:
            raise Refusal("unknown_appointment", "no such appointment")
        return await self.engine._run("unbook", {"token": token})

    async def check_in(
        self, *, code: str | None = None, id_number: str | None = None, lang: str | None = None
    ) -> dict[str, Any]:
        """Check in by code or by ID number (that person's bookings whose check-in may be open now): a waiting ticket of
        class ``a``: ``{"ticket", "ahead", "eta_s", "seq", "appointment"}``."""
        config = self.config
        hall = self.engine.hall
        lang = lang or hall.languages[0]
        if lang not in hall.languages:
            raise Refusal("unknown_language", f"language {lang!r} is not offered here")
        args: dict[str, Any] = {
            "token": f"{hall.id}.{secrets.token_urlsafe(18)}",
            "lang": lang,
            "prefixes": {s.id: s.prefix for s in hall.services},
            "windows": self.engine._window_ids,
            "all_windows": all_windows(self.engine.hall),
        }
        if code:
            if not isinstance(code, str) or not code.isdigit() or len(code) != CODE_DIGITS:
                raise Refusal("bad_code", f"an appointment code is {CODE_DIGITS} digits")
            args["code"] = code
        elif id_number:
            args["person"] = self.engine.person_hash(id_number)
            # a slot just after midnight opens for check-in the evening before: look in both days
            now = self.engine.clock()
            days = {local_date(hall, now), local_date(hall, now + config.check_in_early_min * 60)}
            args["dates"] = sorted(d.isoformat() for d in days)
            args["all_services"] = list(config.services)
        else:
            raise Refusal("bad_code", "give the appointment code or the ID number it was booked with")
        holiday = hall.calendar.holiday(local_date(hall, self.engine.clock()))
        if holiday is not None:  # declared after the booking: the hall is closed all the same
            raise closed_for(holiday)
        answer = await self.engine._run("check_in", args)
        result = with_eta(self.engine.hall, answer)
        result["appointment"] = answer["appointment"]
        return result
