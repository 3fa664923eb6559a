"""The end of every manager's change to an overlay beside the hall file (staff, windows,
services and hours: :mod:`server.staff_api`, :mod:`server.hall_api`; the calendar:
:mod:`server.calendar_api`): who may make one, and what happens once it is written."""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from server import audit, staff_overlay
from server.asking import client_of, session_of
from server.auth import ADMIN, Session, require
from server.hall_model import Hall
from server.queue.errors import Refusal
from server.reload import reload_halls
from server.runtime import runtime_of


async def admin_session(request: Request) -> Session:
    """The request's session, if it is the hall's manager (else 401/403)."""
    hall = runtime_of(request).hall(request.path_params["hall"])
    return require(await session_of(request), hall.hall.id, ADMIN)


async def applied(
    request: Request, session: Session, path: Path, old: str | None, action: str, detail: str, unchanged: str
) -> Hall:
    """After the overlay at ``path`` was written (``old``: its text before): reload the halls
    live (every worker follows), record the change in the audit log; the hall as it is now.

    When another hall file broke meanwhile, the overlay is put back and nothing changes:
    422 ``bad_hall_file`` with the problems, its message ending with ``unchanged`` (e.g. "the
    staff change was not made").
    """
    runtime = runtime_of(request)
    result = await reload_halls(runtime, reason=f"manager {session.staff.id}: {action} {detail}")
    if not result.ok:
        await run_in_threadpool(staff_overlay.write, path, old)
        raise Refusal("bad_hall_file", f"the hall files have problems; {unchanged}", {"problems": result.problems})
    await audit.record(
        runtime.redis,
        session.hall,
        audit.entry(action, staff=session.staff.id, role=session.role, client=client_of(request), detail=detail),
    )
    return runtime.hall(session.hall).hall
