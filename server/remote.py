"""Tickets from the phone before arriving (远程取号): the pure rules.

Whether a remote issue may happen at a moment (the hall file's ``[remote]``), and when a
visitor should set out: people ahead × average handling time, shared by the windows able
to serve them, less the way there. The daily remote quota itself is counted atomically in
``issue.lua`` (``channel = "remote"``); everything else (services' quotas, duplicate ID
refusal, numbering) is the kiosk's.
"""

from __future__ import annotations

import math

from server.hall_model import Hall
from server.hours import calendar_date, day_spans, hall_time, issuing_open
from server.queue.constants import SET_OUT_MARGIN_S


def remote_refusal(now_s: float, hall: Hall) -> tuple[str, str] | None:
    """Why a remote ticket may not be taken at ``now_s`` (code, message), or None when it may.

    ``remote_off``: the hall offers no remote tickets. ``remote_closed``: outside the hours
    the hall file allows them (the opening hours, or, with ``within_hours = false``, the
    business day up to the cutoff on a day with opening hours).
    """
    remote = hall.remote
    if remote is None or not remote.enabled:
        return "remote_off", "this hall does not issue tickets to phones / 本大厅不提供远程取号"
    if remote.within_hours:
        if issuing_open(now_s, hall):
            return None
        return "remote_closed", "remote tickets are issued only during opening hours / 仅在办公时间内可远程取号"
    moment = hall_time(now_s, hall)
    # a local day with opening hours, before its cutoff (the night after the cutoff is closed)
    opening_day = bool(day_spans(hall, calendar_date(now_s, hall)))
    if opening_day and moment.minute_of_day < hall.ticket_cutoff:
        return None
    return "remote_closed", "remote tickets are not issued at this hour / 当前时段不可远程取号"


def opens_at_s(now_s: float, hall: Hall) -> float | None:
    """When the hall opens later today (epoch seconds), if it is closed at ``now_s`` (before
    opening, over lunch) and opens again before the cutoff; else None (open now, or not today).

    A ticket taken before opening waits from then: its set-out time counts from the opening."""
    moment = hall_time(now_s, hall)
    spans = day_spans(hall, calendar_date(now_s, hall))
    if any(start <= moment.minute_of_day < end for start, end in spans):
        return None
    later = [start for start, _end in spans if moment.minute_of_day < start < hall.ticket_cutoff]
    if not later:
        return None
    return now_s - now_s % 60 + (min(later) - moment.minute_of_day) * 60


def wait_estimate_s(ahead: int, handling_s: float, windows: int) -> int:
    """People ahead × average handling time, worked through by ``windows`` windows at once."""
    if ahead <= 0:
        return 0
    return math.ceil(ahead * max(0.0, handling_s) / max(1, windows))


def set_out_in_s(wait_s: float, travel_s: float, margin_s: float = SET_OUT_MARGIN_S, opens_in_s: float = 0) -> int:
    """Seconds from now until the visitor should set out (0: now) to arrive ``margin_s``
    before their expected call (the queue can move faster), the way there taking ``travel_s``;
    before opening the queue starts moving only ``opens_in_s`` from now (:func:`opens_at_s`).

    The visitor's page computes the same (visitor.js ``setOutIn``, margin from
    ``HALL.constants``) from the live ``eta_s``; tests/test_remote_live.py holds them together."""
    return max(0, math.floor(max(0.0, opens_in_s) + wait_s - travel_s - margin_s))
