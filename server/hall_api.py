"""The manager's hall changes (admin login): add a window or take one out of service, add a
service, change its wording or its settings, take one away, change the opening hours and the
ticket cutoff.

Routes::

    POST /api/halls/{hall}/windows                   {"id", "services"} → 201: a window added
    POST /api/halls/{hall}/windows/{window}/retire   out of service (refused while it strands a visitor)
    POST /api/halls/{hall}/windows/{window}/restore  a window retired here, back
    POST /api/halls/{hall}/services                  {"id", "prefix", "name", "kind", "windows"} → 201
    POST /api/halls/{hall}/services/{service}/name   {"name": {"zh", "en"}}: what kiosks, screens and calls say
    POST /api/halls/{hall}/services/{service}/settings  any of {"prefix", "kind", "expected_minutes",
                                                     "daily_quota"} (0: no quota)
    POST /api/halls/{hall}/services/{service}/remove taken away, and out of every window's tiers
    GET  /api/halls/{hall}/hours                     {"hours": {"mon": ["08:30-12:00", …]}, "ticket_cutoff"}
    POST /api/halls/{hall}/hours                     the same: replaces the opening spans and the cutoff

They go the way of the staff changes (:mod:`server.staff_api`): into the staff overlay beside
the hall file (``[[services]]``, ``[[windows]]`` ``tiers``, ``[hall]`` ``hours`` and
``ticket_cutoff``: :mod:`server.staff_overlay`), only once the merged hall passes
``hallq check-config``'s checks (422 ``bad_service`` / ``bad_hours`` with the problems) and
strands no visitor of the live queue (409 ``strands_visitors``); then reloaded live — the
waiting queue stays — and audited. A new service joins the *last* tier of each window named
(a comprehensive window stays comprehensive; a specialised one takes it as a fallback).

A service's settings apply from the next ticket: a new letter numbers the next ticket from
that letter's own count of the day (E001 on a letter unused today; numbers are counted per
letter per day, so a number is never given twice). Tickets already issued keep their
numbers, which is why a letter changes only while no ticket of the old letter is open today
(else 409 ``strands_visitors``, reason ``letter_changed``: its call could not be spoken nor
its number typed on a pad, which know the hall's letters only). A quota counts the day's
tickets issued while the service had one (a first quota set at noon counts from noon).

Taking a service away (``removed = true`` in the overlay) takes it out of every window's
tiers and out of the ``[appointments]`` list; refused while anyone waits for it, is being
served for it or holds a booked appointment for it not yet over (409 ``strands_visitors``),
and as check-config refuses when a window would serve nothing (422 ``bad_service``: retire
that window first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import staff_overlay
from server.bodies import BadRequest, read_body
from server.config import parse_hall
from server.hall_bodies import NewService, NewWindow, OpeningHours, ServiceSettings, ServiceWording
from server.hall_model import WEEKDAYS, Hall
from server.overlay_change import admin_session
from server.queue.errors import Refusal
from server.runtime import runtime_of
from server.staff_api import _apply, hall_file_text
from server.toml_locator import ConfigError


def hhmm(minutes: int) -> str:
    """``510`` → ``"08:30"`` (``1440`` → ``"24:00"``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_of(hall: Hall) -> dict[str, Any]:
    """The hall's opening spans per weekday (a closed weekday left out) and its ticket cutoff,
    as the hours routes answer them."""
    spans = {day: [f"{hhmm(a)}-{hhmm(b)}" for a, b in hall.hours[day]] for day in WEEKDAYS if hall.hours.get(day)}
    return {"hours": spans, "ticket_cutoff": hhmm(hall.ticket_cutoff), "timezone": hall.timezone}


def public_service(hall: Hall, service_id: str) -> dict[str, Any]:
    service = hall.service(service_id)
    assert service is not None
    windows = [w.id for w in hall.windows if service_id in w.services]
    return {
        "id": service.id,
        "prefix": service.prefix,
        "name": dict(service.name),
        "kind": service.kind,
        "expected_minutes": service.expected_minutes,
        "daily_quota": service.daily_quota,
        "windows": windows,
    }


def _service_exists(service_id: str, must: bool) -> Callable[[Hall], None]:
    def check(hall: Hall) -> None:
        if must and hall.service(service_id) is None:
            raise Refusal("unknown_service", f"there is no service {service_id[:32]!r}")
        if not must and hall.service(service_id) is not None:
            raise Refusal("service_exists", f"there is a service {service_id!r} already")

    return check


def service_added(hall: Hall, body: NewService) -> Callable[[str | None], str]:
    """The new overlay text from the old: the service, and each named window's tiers with it
    in their last tier."""

    def edit(old: str | None) -> str:
        current = parse_hall(hall_file_text(hall), old)
        services = staff_overlay.change(
            staff_overlay.entries_of(old, "services"),
            body.id,
            prefix=body.prefix,
            name=dict(body.name),
            kind=body.kind,
        )
        for table in services:  # a service taken away here comes back
            if table.get("id") == body.id:
                table.pop("removed", None)
        windows = staff_overlay.entries_of(old, "windows")
        for window_id in dict.fromkeys(body.windows):
            window = current.window(window_id)
            if window is None:
                raise Refusal("unknown_window", f"there is no window {window_id[:16]!r}")
            tiers = [list(tier) for tier in window.tiers]
            tiers[-1].append(body.id)
            windows = staff_overlay.change(windows, window_id, tiers=tiers)
            for table in windows:  # tiers say it all: an added window's `services` would repeat it
                if table.get("id") == window_id:
                    table.pop("services", None)
        return staff_overlay.replaced(staff_overlay.replaced(old, "services", services), "windows", windows)

    return edit


async def add_service(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, NewService)
    hall = runtime_of(request).hall(session.hall).hall
    names = " / ".join(body.name.values())
    detail = f"{body.id} ({body.prefix}, {names}) at {', '.join(dict.fromkeys(body.windows))}"
    check = _service_exists(body.id, must=False)
    check(hall)
    hall = await _apply(request, session, service_added(hall, body), check, "service_add", detail, "bad_service")
    return JSONResponse(
        {"service": public_service(hall, body.id), "services": [s.id for s in hall.services]}, status_code=201
    )


async def rename_service(request: Request) -> Response:
    session = await admin_session(request)
    service_id = request.path_params["service"]
    body = await read_body(request, ServiceWording)
    check = _service_exists(service_id, must=True)
    check(runtime_of(request).hall(session.hall).hall)

    def edit(old: str | None) -> str:
        services = staff_overlay.change(staff_overlay.entries_of(old, "services"), service_id, name=dict(body.name))
        return staff_overlay.replaced(old, "services", services)

    detail = f"{service_id}: {' / '.join(body.name.values())}"
    hall = await _apply(request, session, edit, check, "service_name", detail, "bad_service")
    return JSONResponse({"service": public_service(hall, service_id)})


async def change_service(request: Request) -> Response:
    session = await admin_session(request)
    service_id = request.path_params["service"]
    body = await read_body(request, ServiceSettings)
    changes = body.model_dump(exclude_none=True)
    if not changes:
        raise BadRequest("bad_field", "give at least one of prefix, kind, expected_minutes, daily_quota")
    check = _service_exists(service_id, must=True)
    check(runtime_of(request).hall(session.hall).hall)

    def edit(old: str | None) -> str:
        services = staff_overlay.change(staff_overlay.entries_of(old, "services"), service_id, **changes)
        return staff_overlay.replaced(old, "services", services)

    said = {**changes, **({"daily_quota": "none"} if changes.get("daily_quota") == 0 else {})}
    detail = f"{service_id}: {', '.join(f'{key} {value}' for key, value in said.items())}"
    hall = await _apply(request, session, edit, check, "service_settings", detail, "bad_service")
    return JSONResponse({"service": public_service(hall, service_id)})


def service_removal(hall: Hall, service_id: str) -> Callable[[str | None], str]:
    """The new overlay text from the old: the service marked ``removed``, and every window
    that served it with its tiers written without it (a tier left empty goes), a window
    retired here too, so that it can be restored."""

    def edit(old: str | None) -> str:
        text = hall_file_text(hall)
        services = [t for t in staff_overlay.entries_of(old, "services") if t.get("id") != service_id]
        services.append({"id": service_id, "removed": True})
        windows = staff_overlay.entries_of(old, "windows")
        served: dict[str, Any] = {w.id: w.tiers for w in parse_hall(text, old).windows}
        served.update({t["id"]: _retired_tiers(text, t) for t in windows if t.get("closed") is True})
        for window_id, tiers in served.items():
            if any(service_id in tier for tier in tiers):
                kept = [[s for s in tier if s != service_id] for tier in tiers]
                windows = staff_overlay.change(windows, window_id, tiers=[tier for tier in kept if tier])
                for table in windows:  # tiers say it all (as when a service is added)
                    if table.get("id") == window_id:
                        table.pop("services", None)
        return staff_overlay.replaced(staff_overlay.replaced(old, "services", services), "windows", windows)

    return edit


def _retired_tiers(hall_text: str, table: dict[str, Any]) -> Any:
    """The tiers of a window retired on the manager page, as its overlay table or the hall
    file gives them."""
    if isinstance(table.get("tiers"), list):
        return table["tiers"]
    if isinstance(table.get("services"), list):
        return [table["services"]]
    try:
        window = parse_hall(hall_text).window(str(table["id"]))
    except ConfigError:
        return []
    return [] if window is None else window.tiers


async def remove_service(request: Request) -> Response:
    session = await admin_session(request)
    service_id = request.path_params["service"]
    check = _service_exists(service_id, must=True)
    hall = runtime_of(request).hall(session.hall).hall
    check(hall)
    edit = service_removal(hall, service_id)
    hall = await _apply(request, session, edit, check, "service_remove", service_id, "bad_service")
    return JSONResponse({"service": None, "services": [s.id for s in hall.services]})


async def get_hours(request: Request) -> Response:
    session = await admin_session(request)
    return JSONResponse(hours_of(runtime_of(request).hall(session.hall).hall))


async def set_hours(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, OpeningHours)
    hours = {day: list(spans) for day, spans in body.hours.model_dump(exclude_none=True).items()}
    if not hours:  # no [hall.hours] at all would mean open around the clock: say so in the hall file
        raise BadRequest("bad_field", "hours must give the spans of at least one weekday")
    table = {"hours": hours, "ticket_cutoff": body.ticket_cutoff}

    def edit(old: str | None) -> str:
        return staff_overlay.replaced(old, "hall", table)

    days = "; ".join(f"{day} {' '.join(spans) or '-'}" for day, spans in hours.items())
    detail = f"{days}; cutoff {body.ticket_cutoff}"
    hall = await _apply(request, session, edit, lambda hall: None, "hours", detail, "bad_hours")
    return JSONResponse(hours_of(hall))


routes = [
    Route("/api/halls/{hall}/services", add_service, methods=["POST"]),
    Route("/api/halls/{hall}/services/{service}/name", rename_service, methods=["POST"]),
    Route("/api/halls/{hall}/services/{service}/settings", change_service, methods=["POST"]),
    Route("/api/halls/{hall}/services/{service}/remove", remove_service, methods=["POST"]),
    Route("/api/halls/{hall}/hours", get_hours),
    Route("/api/halls/{hall}/hours", set_hours, methods=["POST"]),
]


# --- windows: added, or taken out of service, through the same overlay -----------------------


def window_change(window_id: str, changes: dict[str, Any], must_be_closed: bool = False) -> Callable[[str | None], str]:
    """The new overlay text from the old: ``changes`` set on ``window_id``'s table."""

    def edit(old: str | None) -> str:
        windows = staff_overlay.entries_of(old, "windows")
        if must_be_closed and not any(w.get("id") == window_id and w.get("closed") is True for w in windows):
            raise Refusal("unknown_window", f"window {window_id[:8]!r} was not closed on the manager page")
        return staff_overlay.replaced(old, "windows", staff_overlay.change(windows, window_id, **changes))

    return edit


def _window_answer(hall: Hall, window_id: str, status: int = 200) -> Response:
    window = hall.window(window_id)
    answer = None if window is None else {"id": window.id, "services": list(window.services)}
    return JSONResponse({"window": answer, "windows": [w.id for w in hall.windows]}, status_code=status)


async def add_window(request: Request) -> Response:
    session = await admin_session(request)
    body = await read_body(request, NewWindow)
    window_id, services = body.id, body.services

    def check(hall: Hall) -> None:
        if hall.window(window_id) is not None:
            raise Refusal("window_exists", f"there is a window {window_id!r} already")

    edit = window_change(window_id, {"services": services, "closed": False})
    detail = f"{window_id} ({', '.join(services)})"
    hall = await _apply(request, session, edit, check, "window_add", detail, "bad_window")
    return _window_answer(hall, window_id, 201)


async def close_window(request: Request) -> Response:
    session = await admin_session(request)
    window_id = request.path_params["window"]

    def check(hall: Hall) -> None:
        if hall.window(window_id) is None:
            raise Refusal("unknown_window", f"there is no window {window_id[:8]!r}")

    check(runtime_of(request).hall(session.hall).hall)
    edit = window_change(window_id, {"closed": True})
    hall = await _apply(request, session, edit, check, "window_retire", window_id, "bad_window")
    return _window_answer(hall, window_id)


async def reopen_window(request: Request) -> Response:
    session = await admin_session(request)
    window_id = request.path_params["window"]
    edit = window_change(window_id, {"closed": False}, must_be_closed=True)
    hall = await _apply(request, session, edit, lambda hall: None, "window_restore", window_id, "bad_window")
    return _window_answer(hall, window_id)


routes += [
    Route("/api/halls/{hall}/windows", add_window, methods=["POST"]),
    Route("/api/halls/{hall}/windows/{window}/retire", close_window, methods=["POST"]),
    Route("/api/halls/{hall}/windows/{window}/restore", reopen_window, methods=["POST"]),
]
