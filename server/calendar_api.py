"""The manager's calendar (admin login): holidays and 调休 working days, kept live.

Routes::

    GET    /api/halls/{hall}/calendar                      the calendar (hall file and overlay), today
    POST   /api/halls/{hall}/calendar/holidays             {"date", "until"?, "name"} → 201
    DELETE /api/halls/{hall}/calendar/holidays/{date}      a holiday added here (by its first date)
    POST   /api/halls/{hall}/calendar/workdays             {"date", "hours_of"?, "name"?} → 201
    DELETE /api/halls/{hall}/calendar/workdays/{date}      a working day added here

A change goes into the hall's calendar overlay (:mod:`server.calendar_overlay`, never the
hand-written hall file) only after the hall file, its staff overlay and the new calendar
overlay together pass the checks of ``hallq check-config`` (:func:`server.config.parse_hall`;
else 422 ``bad_calendar`` with every problem); then the hall is reloaded live
(:func:`server.reload.reload_halls`: the queue stays, other workers follow the ``hall.config``
event, kiosks close or open at once) and the change goes to the audit log. An entry of the hall
file itself cannot be removed here (409 ``in_hall_file``): it is changed in the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import calendar_overlay, staff_overlay
from server.auth import Session
from server.bodies import read_body
from server.config import parse_hall
from server.hall_model import Hall
from server.hours import calendar_date, holiday_at
from server.overlay_change import admin_session, applied
from server.queue.errors import Refusal
from server.runtime import Runtime, runtime_of
from server.staff_api import hall_file_text
from server.staff_api import overlay_path as staff_overlay_path
from server.staff_bodies import NewHoliday, NewWorkday
from server.toml_locator import ConfigError

Edit = Callable[[str | None], str]


def calendar_path(runtime: Runtime, hall: Hall) -> Path:
    """The hall's calendar overlay: beside its hall file, or in the data folder (demo hall)."""
    if hall.source_path:
        return calendar_overlay.beside(hall.source_path)
    return Path(runtime.data_dir) / calendar_overlay.DEMO_FILE


def listing(hall: Hall, overlay: str | None, now_s: float) -> dict[str, Any]:
    """The calendar as the manager sees it: every holiday and working day in date order, each
    marked ``added`` when it is the overlay's (removable here), and today's local date."""
    added = {
        section: {calendar_overlay.day_of(t) for t in calendar_overlay.entries_of(overlay, section)}
        for section in calendar_overlay.SECTIONS
    }
    holiday = holiday_at(now_s, hall)
    return {
        "holidays": [
            {"date": h.first.isoformat(), "until": h.last.isoformat(), "name": h.name}
            | {"added": h.first.isoformat() in added["holidays"]}
            for h in hall.calendar.holidays
        ],
        "workdays": [
            {"date": w.day.isoformat(), "hours_of": w.hours_of, "name": w.name}
            | {"added": w.day.isoformat() in added["workdays"]}
            for w in hall.calendar.workdays
        ],
        "today": calendar_date(now_s, hall).isoformat(),
        "holiday": None if holiday is None else holiday.name,
    }


def adding(section: str, table: dict[str, Any]) -> Edit:
    """The new overlay text from the old: ``table`` added to ``section``."""

    def edit(old: str | None) -> str:
        tables = {s: calendar_overlay.entries_of(old, s) for s in calendar_overlay.SECTIONS}
        tables[section].append({k: v for k, v in table.items() if v not in (None, "")})
        return calendar_overlay.dumps(tables["holidays"], tables["workdays"])

    return edit


def removing(section: str, day: str, in_file: set[str]) -> Edit:
    """The new overlay text from the old: the ``section`` entry starting on ``day`` taken out
    (404 ``not_in_calendar``; 409 ``in_hall_file`` when ``day`` is one of ``in_file``, the
    first days of the hall file's own entries: the page cannot change the file)."""

    def edit(old: str | None) -> str:
        tables = {s: calendar_overlay.entries_of(old, s) for s in calendar_overlay.SECTIONS}
        kept = [t for t in tables[section] if calendar_overlay.day_of(t) != day]
        if len(kept) == len(tables[section]):
            if day in in_file:
                said = f"the {section[:-1]} on {day} is written in the hall file; change it there"
                raise Refusal("in_hall_file", said, {"date": day})
            raise Refusal("not_in_calendar", f"the calendar has no {section[:-1]} on {day[:10]!r}")
        tables[section] = kept
        return calendar_overlay.dumps(tables["holidays"], tables["workdays"])

    return edit


def file_days(hall: Hall, section: str) -> set[str]:
    """The first days (``YYYY-MM-DD``) of the ``section`` entries of the hand-written hall
    file itself (without the overlays; none when it does not parse)."""
    try:
        calendar = parse_hall(hall_file_text(hall)).calendar
    except (ConfigError, OSError):
        return set()
    listed = [h.first for h in calendar.holidays] if section == "holidays" else [w.day for w in calendar.workdays]
    return {d.isoformat() for d in listed}


def _write(path: Path, staff_path: Path, hall: Hall, edit: Edit) -> str | None:
    """Check and write one change under the overlay's lock; the old overlay text."""
    try:
        with staff_overlay.locked(path):
            old = staff_overlay.read_text(path)
            text, staff = hall_file_text(hall), staff_overlay.read_text(staff_path)
            try:
                parse_hall(text, staff, old)
            except ConfigError as exc:
                found = {"problems": [str(p) for p in exc.problems]}
                raise Refusal("bad_hall_file", "the hall file or its overlays have problems", found) from exc
            new = edit(old)
            try:
                parse_hall(text, staff, new)
            except ConfigError as exc:
                found = {"problems": [str(p) for p in exc.problems]}
                raise Refusal(
                    "bad_calendar", "the change breaks the hall's rules (as hallq check-config says)", found
                ) from exc
            staff_overlay.write(path, new)
            return old
    except OSError as exc:  # the folder is read-only or full: nothing was written
        raise Refusal("overlay_unwritable", f"cannot write the calendar overlay {path}: {exc.strerror}") from exc


async def _apply(request: Request, session: Session, edit: Edit, action: str, detail: str) -> Hall:
    """Write one change, reload the hall live, record it; the hall as it is now."""
    runtime = runtime_of(request)
    hall = runtime.hall(session.hall).hall
    path = calendar_path(runtime, hall)
    old = await run_in_threadpool(_write, path, staff_overlay_path(runtime, hall), hall, edit)
    return await applied(request, session, path, old, action, detail, "the calendar was not changed")


async def _answer(request: Request, hall: Hall, status: int = 200) -> Response:
    runtime = runtime_of(request)
    overlay = await run_in_threadpool(staff_overlay.read_text, calendar_path(runtime, hall))
    now_s = runtime.hall(hall.id).engine.clock()
    return JSONResponse({"calendar": listing(hall, overlay, now_s)}, status_code=status)


async def show_calendar(request: Request) -> Response:
    session = await admin_session(request)
    return await _answer(request, runtime_of(request).hall(session.hall).hall)


async def add_holiday(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, NewHoliday)
    span = body.date if not body.until or body.until == body.date else f"{body.date}–{body.until}"
    table = {"date": body.date, "until": body.until, "name": body.name}
    hall = await _apply(request, session, adding("holidays", table), "holiday_add", f"{span} {body.name}")
    return await _answer(request, hall, 201)


async def add_workday(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, NewWorkday)
    table = {"date": body.date, "hours_of": body.hours_of, "name": body.name}
    detail = f"{body.date} ({body.hours_of or 'usual'} hours){' ' + body.name if body.name else ''}"
    hall = await _apply(request, session, adding("workdays", table), "workday_add", detail)
    return await _answer(request, hall, 201)


async def remove_holiday(request: Request) -> Response:
    return await _remove(request, "holidays", "holiday_remove")


async def remove_workday(request: Request) -> Response:
    return await _remove(request, "workdays", "workday_remove")


async def _remove(request: Request, section: str, action: str) -> Response:
    session = await admin_session(request)
    day = request.path_params["date"]
    # read from the file, not the hall in memory: that also holds the overlay's entries, which
    # another manager may have removed meanwhile (the edit reads the overlay under its lock)
    in_file = await run_in_threadpool(file_days, runtime_of(request).hall(session.hall).hall, section)
    hall = await _apply(request, session, removing(section, day, in_file), action, day[:10])
    return await _answer(request, hall)


routes = [
    Route("/api/halls/{hall}/calendar", show_calendar),
    Route("/api/halls/{hall}/calendar/holidays", add_holiday, methods=["POST"]),
    Route("/api/halls/{hall}/calendar/holidays/{date}", remove_holiday, methods=["DELETE"]),
    Route("/api/halls/{hall}/calendar/workdays", add_workday, methods=["POST"]),
    Route("/api/halls/{hall}/calendar/workdays/{date}", remove_workday, methods=["DELETE"]),
]
