"""Refusals: an action that is not possible, with the status and code the API answers."""

from __future__ import annotations

from typing import Any

#: HTTP status per refusal code; anything not listed is 409 (not possible now).
STATUS_BY_CODE = {
    "unknown_ticket": 404,
    "unknown_window": 404,
    "unknown_service": 404,
    "unknown_hall": 404,
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
    "bad_field": 422,
    "bad_frame": 422,
    "bad_json": 400,
    "invalid_date": 422,
    "invalid_range": 422,
    "range_too_long": 422,
    "invalid_by": 422,
    "invalid_format": 422,
    "unknown_phrase": 404,
    "speech_unavailable": 503,
    "redis_unavailable": 503,
    # tickets from the phone (远程取号): a hall without [remote] does not allow them;
    # remote_closed and remote_quota are 409 (not possible now), like hall_closed and quota_reached
    "remote_off": 403,
    # appointments (预约)
    "unknown_appointment": 404,
    "no_appointments": 404,
    "unknown_slot": 404,
    "not_bookable": 422,
    "bad_date": 422,
    "bad_code": 422,
    # text messages (server/sms.py)
    "bad_phone": 422,
    "no_sms": 409,
    "ticket_closed": 409,
}


class Refusal(Exception):
    """A refused request: nothing was changed. ``code`` is machine-readable, ``message`` human."""

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None, *, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self._status = status

    @property
    def status(self) -> int:
        """The HTTP status: as given, else by code (409, not possible now, by default)."""
        return self._status or STATUS_BY_CODE.get(self.code, 409)

    def body(self) -> dict[str, Any]:
        """The JSON error body of the contract, with any extra details (e.g. ``number``)."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}
