"""The edge: what a refusal's code means on the wire, in one place.

Domain errors (:class:`server.queue.errors.Refusal` and its kinds) carry a code, a message
and data, never a transport's number. Here the app maps each code to the HTTP status it
answers (:func:`http_status`) and to the WebSocket close code a refused socket gets
(:func:`close_code`). :data:`CLOSE_CODES` is also the one list of close codes the clients
read: the pad page gets it as JSON (:func:`client_close_codes`), ``hallq pad`` imports it.
"""

from __future__ import annotations

from typing import Any

#: HTTP status per refusal code. Every code the server refuses with is listed (tests/test_edge.py
#: scans the Lua scripts and the Python source for them); an unlisted one would answer 409.
STATUS_BY_CODE: dict[str, int] = {
    # the request itself is malformed
    "bad_json": 400,
    "bad_since": 400,
    "body_too_large": 413,
    "json_required": 415,
    # who is asking
    "bad_credentials": 401,
    "not_logged_in": 401,
    "forbidden": 403,
    "window_not_allowed": 403,  # the staff member's `windows` list leaves this window out
    "wrong_hall": 403,
    "bad_origin": 403,
    "cross_site": 403,
    "remote_off": 403,  # a hall without [remote] takes no tickets from phones
    # what is asked for does not exist
    "unknown_hall": 404,
    "unknown_window": 404,
    "unknown_service": 404,
    "unknown_ticket": 404,
    "unknown_phrase": 404,
    "unknown_case": 404,
    "unknown_staff": 404,
    "unknown_appointment": 404,
    "no_appointments": 404,
    "unknown_slot": 404,
    "not_in_calendar": 404,
    # a value that can never be accepted
    "bad_body": 422,
    "bad_text": 422,
    "unknown_field": 422,
    "missing_field": 422,
    "bad_field": 422,
    "bad_frame": 422,
    "bad_hall_file": 422,
    "unknown_action": 422,
    "unknown_language": 422,
    "no_services": 422,
    "duplicate_service": 422,
    "bad_ticket_number": 422,
    "bad_request_id": 422,
    "bad_score": 422,
    "bad_reasons": 422,
    "bad_notice": 422,
    "missing_target": 422,
    "bad_channel": 422,
    "bad_status": 422,
    "invalid_date": 422,
    "invalid_range": 422,
    "range_too_long": 422,
    "invalid_by": 422,
    "invalid_format": 422,
    "not_bookable": 422,
    "bad_date": 422,
    "bad_code": 422,
    "bad_phone": 422,
    "bad_subscription": 422,
    "weak_pin": 422,
    "bad_staff": 422,
    "bad_window": 422,
    "bad_calendar": 422,
    "bad_service": 422,
    "bad_hours": 422,
    # not possible now (the state of the hall says no)
    "already_paused": 409,
    "already_rated": 409,
    "busy": 409,
    "cannot_disable_self": 409,
    "call_back_required": 409,
    "case_closed": 409,
    "checked_in": 409,
    "code_taken": 409,
    "day_changed": 409,
    "duplicate": 409,
    "duplicate_ticket": 409,
    "hall_closed": 409,
    "holds_another_window": 409,
    "in_hall_file": 409,
    "invalid_transition": 409,
    "just_called": 409,
    "no_sms": 409,
    "no_window_serves": 409,
    "not_booked": 409,
    "not_done": 409,
    "not_paused": 409,
    "not_rateable": 409,
    "not_suspended": 409,
    "not_waiting": 409,
    "nothing_called": 409,
    "nothing_in_hand": 409,
    "numbers_exhausted": 409,
    "overlay_unwritable": 409,
    "page_gone": 409,
    "quota_reached": 409,
    "remote_closed": 409,
    "remote_quota": 409,
    "same_window": 409,
    "slot_full": 409,
    "slot_past": 409,
    "staff_exists": 409,
    "service_exists": 409,
    "strands_visitors": 409,  # a manager's change would leave open tickets no window can serve
    "too_early": 409,
    "too_far_ahead": 409,
    "ticket_ended": 409,  # no more notices (text messages, Web Push) for a ticket that has ended
    "too_late": 409,
    "window_busy": 409,
    "window_cannot_serve": 409,
    "window_exists": 409,
    "window_not_open": 409,
    "window_paused": 409,
    "window_taken": 409,
    # too many, too often
    "too_many_attempts": 429,
    "rate_limited": 429,
    "too_many_sockets": 429,
    # a part of the server is away: try again
    "redis_unavailable": 503,
    "speech_unavailable": 503,
}

#: The WebSocket close codes the server sends, by meaning.
CLOSE_CODES: dict[str, int] = {
    "normal": 1000,
    "try_again": 1013,  # the queue store is away, or the socket fell too far behind
    "bad_request": 4400,
    "unauthorized": 4401,
    "forbidden": 4403,
    "not_found": 4404,
    "too_many": 4429,
}

#: After these a pad's reconnecting cannot help: it stops and asks for a login.
FINAL_CLOSES = ("unauthorized", "forbidden", "not_found")

#: The close code of a socket refused with a code of this HTTP status.
_CLOSE_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "too_many"}


def http_status(code: str) -> int:
    """The HTTP status a refusal with ``code`` answers (409, not possible now, if unlisted)."""
    return STATUS_BY_CODE.get(code, 409)


def close_code(code: str) -> int:
    """The close code of a socket refused with ``code``: 4000 + its HTTP status for the
    client's errors (4400/4401/4403/4404/4429; 4400 for another 4xx), 1013 (try again) for 5xx."""
    status = http_status(code)
    return CLOSE_CODES[_CLOSE_BY_STATUS.get(status) or ("try_again" if status >= 500 else "bad_request")]


def final_close_codes() -> tuple[int, ...]:
    """The close codes of :data:`FINAL_CLOSES`."""
    return tuple(CLOSE_CODES[name] for name in FINAL_CLOSES)


def client_close_codes() -> dict[str, Any]:
    """The close-code table as the pad page reads it (JSON): ``{"codes": {...}, "final": [...]}``."""
    return {"codes": dict(CLOSE_CODES), "final": list(final_close_codes())}
