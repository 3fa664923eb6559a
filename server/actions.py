"""A clerk's window actions, one path for both transports: the HTTP route and the pad socket
read a :class:`~server.staff_bodies.WindowAction`, scope request_ids with :func:`caller_id` and run
:func:`perform` (timed, audited)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from server import audit, metrics
from server.auth import Session
from server.queue.errors import Refusal
from server.queue.scripts import ACTIONS
from server.runtime import HallRuntime
from server.staff_bodies import WindowAction

#: The one action a staff member may take at a window outside their ``windows``: leaving it
#: (a clerk whose windows were changed while holding one must be able to let it go).
ALWAYS_ALLOWED = ("close",)


def check_window(session: Session, window: str) -> None:
    """Refuse with ``window_not_allowed`` (403) when the staff member's ``windows`` (hall file
    or the manager page) leave ``window`` out; nothing is changed."""
    if not session.staff.may_serve(window):
        allowed = ", ".join(session.staff.windows or ())
        raise Refusal(
            "window_not_allowed",
            f"{session.staff.id} may serve windows {allowed} only, not window {window[:16]}",
            {"windows": list(session.staff.windows or ())},
        )


def caller_id(token: str | None, client: str) -> str:
    """Who sent a request, as request_id answers are scoped (CONTRACT.md): a staff session
    by a stable digest of its token (never the token: stored keys must not hold a usable
    one), else the anonymous client's address."""
    if token:
        return "s:" + hashlib.sha256(b"hallq-request-scope:" + token.encode()).hexdigest()[:24]
    return "a:" + client


async def perform(
    hall: HallRuntime, session: Session, window: str, body: WindowAction, caller: str, client: str = ""
) -> dict[str, Any]:
    """One window action for a clerk (HTTP and the pad socket share it): timed into
    ``hallq_action_seconds`` and, when done, written to the audit log. ``caller``
    (:func:`caller_id` of the session) scopes its request_id. A window outside the staff
    member's ``windows`` is refused (:func:`check_window`) before anything runs, but for
    ``close``."""
    if body.action not in ALWAYS_ALLOWED:
        check_window(session, window)
    started = time.perf_counter()
    answer = await _act(hall, session, window, body, caller)
    action = body.action if body.action in ACTIONS else "other"
    metrics.ACTION_SECONDS.labels(hall.hall.id, action).observe(time.perf_counter() - started)
    ticket = answer.get("ticket")
    detail = ",".join(f"{k}={v}" for k, v in (("service", body.service), ("to_window", body.to_window)) if v) or None
    await audit.record(
        hall.engine.redis,
        hall.hall.id,
        audit.entry(
            action,
            staff=session.staff.id,
            role=session.role,
            window=window,
            client=client or None,
            ticket=ticket.get("number") if isinstance(ticket, dict) else body.ticket,
            seq=answer.get("seq"),
            detail=detail,
        ),
        once=f"{session.staff.id}:{body.request_id}" if body.request_id else None,
    )
    return answer


async def _act(hall: HallRuntime, session: Session, window: str, body: WindowAction, caller: str) -> dict[str, Any]:
    return await hall.engine.act(
        window,
        body.action,
        session.staff,
        ticket=body.ticket,
        service=body.service,
        to_window=body.to_window,
        request_id=body.request_id,
        caller=caller,
    )
