"""The shapes of ticket tokens and request ids, and the namespace a request id is kept in."""

from __future__ import annotations

import re

from server.queue.errors import Refusal

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
TOKEN_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,31})\.([A-Za-z0-9_-]{22,64})$")


def hall_of_token(token: str) -> str | None:
    """The hall id a ticket token belongs to, or None when it is not a token's shape."""
    match = TOKEN_RE.fullmatch(token)
    return match.group(1) if match else None


def scoped_request_id(action: str, caller: str, request_id: str) -> str:
    """The key a ``request_id`` answer is stored under: one namespace per (action, caller).

    ``caller`` names who sent it (a staff session's stable id, or an anonymous client's
    address); another caller's id, or the same id for another action, is never a replay.
    """
    return f"{action}|{caller}|{request_id}"


def check_request_id(request_id: str | None) -> None:
    """Refuse (``bad_request_id``) a ``request_id`` that is not 1–64 letters, digits or ``_.:-``."""
    if request_id is not None and (not isinstance(request_id, str) or not REQUEST_ID_RE.fullmatch(request_id)):
        raise Refusal("bad_request_id", "request_id must be 1–64 letters, digits or _.:-")
