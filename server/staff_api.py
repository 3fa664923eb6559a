"""The manager's staff changes (admin login): add clerks, reset PINs, disable and enable.

Routes::

    GET  /api/halls/{hall}/staff                          every staff member (never a PIN hash)
    POST /api/halls/{hall}/staff                          {"id", "name", "role", "pin"} → 201
    POST /api/halls/{hall}/staff/{staff}/pin              {"pin"}: its sessions end
    POST /api/halls/{hall}/staff/{staff}/disable          its sessions end, its logins are refused
    POST /api/halls/{hall}/staff/{staff}/enable
    POST /api/halls/{hall}/staff/{staff}/windows          {"windows": ["1", "2"]}: the only windows
                                                          they may serve ([]: any window again)

The windows, services and opening hours go through the same overlay and the same
:func:`_apply`: :mod:`server.hall_api`.

A change is written to the hall's staff overlay (:mod:`server.staff_overlay`, never the
hand-written hall file) only after the hall file and the new overlay together pass the
checks of ``hallq check-config`` (:func:`server.config.parse_hall`); then the hall is
reloaded live (:func:`server.reload.reload_halls`: the queue stays, other workers follow
the ``hall.config`` event) and the change goes to the audit log — who changed whom, never
the PIN. A PIN reset or a disable then ends the staff member's sessions on every worker
(:meth:`server.auth.Sessions.end_all`); their open pads are closed by
:mod:`server.pad_watch`. A refused change writes nothing, neither the file nor Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import staff_overlay
from server.auth import Session
from server.bodies import read_body
from server.config import ROLES, demo_text, parse_hall, read_text
from server.hall_model import Hall, Staff
from server.overlay_change import admin_session, applied
from server.pins import PIN_MAX, PIN_MIN, hash_pin
from server.queue.errors import Refusal
from server.runtime import Runtime, runtime_of
from server.staff_bodies import NewPin, NewStaff, StaffWindows
from server.stranding import stranding_guard
from server.toml_locator import ConfigError


def pin_problem(pin: str, staff_id: str = "") -> str | None:
    """Why ``pin`` is too weak to be a staff PIN, or None: 4 to 32 printable ASCII
    characters without spaces, not one character repeated, not a run such as 1234 or 4321,
    not the staff id."""
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        return f"a PIN has {PIN_MIN} to {PIN_MAX} characters"
    if not pin.isascii() or not pin.isprintable() or " " in pin:
        return "a PIN has letters, digits and signs only (no spaces)"
    if len(set(pin)) == 1 or pin in "01234567890" or pin in "09876543210" or pin.lower() == staff_id:
        return "this PIN is too easy to guess"
    return None


def public(staff: Staff, in_file: bool) -> dict[str, Any]:
    """A staff member as the manager sees it (no PIN hash); ``windows`` null: any window."""
    return {
        "id": staff.id,
        "name": staff.name,
        "role": staff.role,
        "disabled": staff.disabled,
        "added": not in_file,
        "windows": None if staff.windows is None else list(staff.windows),
    }


def overlay_path(runtime: Runtime, hall: Hall) -> Path:
    """The hall's staff overlay: beside its hall file, or in the data folder (demo hall)."""
    if hall.source_path:
        return staff_overlay.beside(hall.source_path)
    return Path(runtime.data_dir) / staff_overlay.DEMO_FILE


def hall_file_text(hall: Hall) -> str:
    return read_text(hall.source_path) if hall.source_path else demo_text()


def file_ids(hall: Hall) -> set[str]:
    """The staff ids of the hand-written hall file itself (without the overlay)."""
    try:
        return {s.id for s in parse_hall(hall_file_text(hall)).staff}
    except (ConfigError, OSError):
        return set()


def staff_change(staff_id: str, changes: dict[str, Any]) -> Callable[[str | None], str]:
    """The new overlay text from the old: ``changes`` set on ``staff_id``'s table."""

    def edit(old: str | None) -> str:
        return staff_overlay.replaced(
            old, "staff", staff_overlay.change(staff_overlay.entries_of(old), staff_id, **changes)
        )

    return edit


def _write(
    path: Path,
    hall: Hall,
    edit: Callable[[str | None], str],
    check: Callable[[Hall], None],
    code: str,
    guard: Callable[[Hall], None] | None = None,
) -> str | None:
    """Check, validate and write one change under the overlay's lock; the old overlay text.
    ``guard`` sees the changed hall before anything is written (:func:`server.stranding.stranding_guard`)."""
    try:
        return _write_locked(path, hall, edit, check, code, guard)
    except OSError as exc:  # the folder is read-only or full: nothing was written
        raise Refusal("overlay_unwritable", f"cannot write the staff overlay {path}: {exc.strerror}") from exc


def _write_locked(
    path: Path,
    hall: Hall,
    edit: Callable[[str | None], str],
    check: Callable[[Hall], None],
    code: str,
    guard: Callable[[Hall], None] | None,
) -> str | None:
    with staff_overlay.locked(path):
        old = staff_overlay.read_text(path)
        try:
            text = hall_file_text(hall)
            current = parse_hall(text, old)
        except (ConfigError, OSError) as exc:
            found = [str(p) for p in exc.problems] if isinstance(exc, ConfigError) else [str(exc)]
            raise Refusal(
                "bad_hall_file", "the hall file or its staff overlay has problems", {"problems": found}
            ) from exc
        check(current)
        new = edit(old)
        try:
            changed = parse_hall(text, new)
        except ConfigError as exc:
            raise _broken(code, [str(p) for p in exc.problems]) from exc
        if guard is not None:
            guard(changed)
        staff_overlay.write(path, new)
        return old


def _broken(code: str, problems: list[str]) -> Refusal:
    """The refusal of a change that breaks the hall's rules, with ``check-config``'s problems."""
    message, details = "the change breaks the hall's rules (as hallq check-config says)", {"problems": problems}
    if code == "bad_window":
        return Refusal("bad_window", message, details)
    if code == "bad_service":
        return Refusal("bad_service", message, details)
    if code == "bad_hours":
        return Refusal("bad_hours", message, details)
    return Refusal("bad_staff", message, details)


async def _apply(
    request: Request,
    session: Session,
    edit: Callable[[str | None], str],
    check: Callable[[Hall], None],
    action: str,
    detail: str,
    code: str = "bad_staff",
) -> Hall:
    """Write one change, reload the hall live, record it; the hall as it is now."""
    runtime = runtime_of(request)
    hall = runtime.hall(session.hall).hall
    path = overlay_path(runtime, hall)
    guard = stranding_guard(runtime.hall(session.hall).engine)
    old = await run_in_threadpool(_write, path, hall, edit, check, code, guard)
    return await applied(request, session, path, old, action, detail, "the staff change was not made")


def _known(staff_id: str) -> Callable[[Hall], None]:
    def check(hall: Hall) -> None:
        if hall.staff_member(staff_id) is None:
            raise Refusal("unknown_staff", f"there is no staff member {staff_id[:40]!r}")

    return check


def _answer(hall: Hall, staff_id: str, status: int = 200) -> Response:
    staff = hall.staff_member(staff_id)
    assert staff is not None
    return JSONResponse({"staff": public(staff, staff_id in file_ids(hall))}, status_code=status)


async def list_staff(request: Request) -> Response:
    session = await admin_session(request)
    hall = runtime_of(request).hall(session.hall).hall
    in_file = await run_in_threadpool(file_ids, hall)
    overlay = await run_in_threadpool(staff_overlay.read_text, overlay_path(runtime_of(request), hall))
    retired = [w["id"] for w in staff_overlay.entries_of(overlay, "windows") if w.get("closed") is True]
    windows = [{"id": w.id, "services": list(w.services), "retired": False} for w in hall.windows]
    windows += [{"id": w, "services": [], "retired": True} for w in retired if hall.window(w) is None]
    return JSONResponse(
        {"staff": [public(s, s.id in in_file) for s in hall.staff], "roles": list(ROLES), "windows": windows}
    )


async def add_staff(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, NewStaff)
    staff_id, name, role, pin = body.id, body.name, body.role, body.pin
    problem = pin_problem(pin, staff_id)
    if problem:
        raise Refusal("weak_pin", problem)

    def check(hall: Hall) -> None:
        if hall.staff_member(staff_id) is not None:
            raise Refusal("staff_exists", f"there is a staff member {staff_id!r} already")

    pin_hash = await run_in_threadpool(hash_pin, pin)
    changes = {"name": name, "role": role, "pin_hash": pin_hash, "disabled": False}
    hall = await _apply(
        request, session, staff_change(staff_id, changes), check, "staff_add", f"{staff_id} ({role}, {name})"
    )
    return _answer(hall, staff_id, 201)


async def reset_pin(request: Request) -> Response:
    session = await admin_session(request)
    staff_id = request.path_params["staff"]
    body = await read_body(request, NewPin)
    _known(staff_id)(runtime_of(request).hall(session.hall).hall)
    problem = pin_problem(body.pin, staff_id)
    if problem:
        raise Refusal("weak_pin", problem)
    pin_hash = await run_in_threadpool(hash_pin, body.pin)
    hall = await _apply(
        request, session, staff_change(staff_id, {"pin_hash": pin_hash}), _known(staff_id), "staff_pin", staff_id
    )
    await runtime_of(request).sessions.end_all(session.hall, staff_id)  # the old PIN's sessions
    return _answer(hall, staff_id)


async def disable_staff(request: Request) -> Response:
    return await _set_disabled(request, True)


async def enable_staff(request: Request) -> Response:
    return await _set_disabled(request, False)


async def _set_disabled(request: Request, disabled: bool) -> Response:
    session = await admin_session(request)
    staff_id = request.path_params["staff"]
    _known(staff_id)(runtime_of(request).hall(session.hall).hall)
    if disabled and staff_id == session.staff.id:
        raise Refusal("cannot_disable_self", "you cannot disable your own login")
    action = "staff_disable" if disabled else "staff_enable"
    hall = await _apply(
        request, session, staff_change(staff_id, {"disabled": disabled}), _known(staff_id), action, staff_id
    )
    if disabled:
        await runtime_of(request).sessions.end_all(session.hall, staff_id)
    return _answer(hall, staff_id)


async def assign_windows(request: Request) -> Response:
    """The windows a staff member may serve: at once, the next action (or pad socket) at
    another window is refused with ``window_not_allowed``; a window that is not the hall's is
    refused as ``check-config`` says (``bad_staff``, the problems listed)."""
    session = await admin_session(request)
    staff_id = request.path_params["staff"]
    body = await read_body(request, StaffWindows)
    _known(staff_id)(runtime_of(request).hall(session.hall).hall)
    windows = list(dict.fromkeys(body.windows))  # a window ticked twice is the window once
    detail = f"{staff_id}: {', '.join(windows) if windows else 'any window'}"
    edit = staff_change(staff_id, {"windows": windows})
    hall = await _apply(request, session, edit, _known(staff_id), "staff_windows", detail)
    return _answer(hall, staff_id)


routes = [
    Route("/api/halls/{hall}/staff", list_staff),
    Route("/api/halls/{hall}/staff", add_staff, methods=["POST"]),
    Route("/api/halls/{hall}/staff/{staff}/pin", reset_pin, methods=["POST"]),
    Route("/api/halls/{hall}/staff/{staff}/disable", disable_staff, methods=["POST"]),
    Route("/api/halls/{hall}/staff/{staff}/enable", enable_staff, methods=["POST"]),
    Route("/api/halls/{hall}/staff/{staff}/windows", assign_windows, methods=["POST"]),
]
