"""What a window action's script is given, from the hall file: checked before the one script call.

Pure functions of the hall (no I/O); each mistake the hall file rules out is its own refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server import cases
from server.hall_model import Hall, Staff
from server.queue.constants import NUMBER_RE
from server.queue.errors import Refusal
from server.queue.scripts import CALLING_ACTIONS


def all_windows(hall: Hall) -> list[dict[str, Any]]:
    """Every window with its tiers, in the hall file's order (for scripts that pick one)."""
    return [{"id": w.id, "tiers": [list(t) for t in w.tiers]} for w in hall.windows]


def window_of(hall: Hall, window_id: str) -> Any:
    """The hall's window ``window_id``; refused (``unknown_window``) when there is none."""
    window = hall.window(window_id)
    if window is None:
        raise Refusal("unknown_window", f"there is no window {window_id!r} in this hall")
    return window


def action_args(
    hall: Hall,
    window: Any,
    action: str,
    staff: Staff,
    *,
    rid: str | None,
    ticket: str | None,
    service: str | None,
    to_window: str | None,
    min_call_ms: int,
    window_ids: list[str],
) -> dict[str, Any]:
    """The arguments of window action ``action``'s script (see :meth:`Engine.act`)."""
    args: dict[str, Any] = {
        "window": window.id,
        "tiers": [list(t) for t in window.tiers],
        "clerk": {"id": staff.id, "name": staff.name},
        "rid": rid,
        "force": action == "close" and staff.role == "admin",
    }
    if action in CALLING_ACTIONS:
        args["min_call_ms"] = min_call_ms
    if action != "close":  # opening a window counts against the clerk's windows_per_clerk
        args.update(windows_all=window_ids, max_windows=hall.rules.windows_per_clerk)
    if action in ("call", "resume"):
        if not isinstance(ticket, str) or not NUMBER_RE.fullmatch(ticket):
            raise Refusal("bad_ticket_number", "give the ticket number, a letter and three digits, e.g. A012")
        args["number"] = ticket
    if action == "transfer":
        if not service and not to_window:
            raise Refusal("missing_target", "transfer needs a service, a window or both")
        if service:
            if hall.service(service) is None:
                raise Refusal("unknown_service", f"there is no service {service!r} in this hall")
            if not hall.windows_serving([service]):
                raise Refusal("no_window_serves", f"no window serves {service!r}")
            args["services_new"] = [service]
            args["service"] = service
        if to_window:
            target = window_of(hall, to_window)
            args["to_window"] = target.id
            args["to_tiers"] = [list(t) for t in target.tiers]
            args["all_windows"] = all_windows(hall)
    if action == "no_show":
        rules = hall.rules.no_show
        args.update(
            places_back=rules.places_back,
            max_times=rules.max_times,
            min_ms=rules.min_seconds_after_call * 1000,
            all_windows=all_windows(hall),
        )
    return args


def rate_args(
    hall: Hall,
    score: int,
    reasons: Sequence[str],
    *,
    token: str | None,
    window: str | None,
    number: str | None,
) -> dict[str, Any]:
    """The ``rate`` script's arguments: a score 1–5, up to 8 reason codes, by ``token`` or at
    ``window``'s rating pad (ticket ``number``); a bad score's case keeps the hall's
    ``follow_up_days`` (its deadline is worked out from them when read:
    :func:`server.cases.dated`). Refusals: ``bad_score``, ``bad_reasons``, ``unknown_window``,
    ``bad_ticket_number``."""
    reasons = cases.checked_rating(score, reasons)
    args: dict[str, Any] = {"score": score, "reasons": reasons or [""]}
    if cases.is_bad(score):
        args["case_days"] = hall.follow_up_days
    if window is not None:
        window_of(hall, window)
        if number is None or not NUMBER_RE.fullmatch(number):
            raise Refusal("bad_ticket_number", "a ticket number is a letter and three digits, e.g. A012")
        args.update(window=window, number=number, timeout_ms=hall.rating_timeout_s * 1000)
    else:
        args["token"] = token
    return args
