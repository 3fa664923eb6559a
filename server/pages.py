"""The pages: jinja2 templates from display/, kiosk/, caller/ and admin/, and their static files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from server.edge import client_close_codes
from server.hall_model import Hall, config_hash
from server.queue.errors import Refusal
from server.queue.ids import hall_of_token
from server.remote import opens_at_s
from server.runtime import Runtime
from server.words import catalogues

PAGE_PACKAGES = ("display", "kiosk", "caller", "admin")


def package_dir(package: str, sub: str) -> Path:
    return Path(str(resources.files(package).joinpath(sub)))


environment = jinja2.Environment(
    loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(package_dir(p, "templates")) for p in PAGE_PACKAGES]),
    autoescape=jinja2.select_autoescape(["html"]),
    auto_reload=False,
)


templates = Jinja2Templates(env=environment)


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """The page ``template`` with ``context`` (plus ``request``), never cached: a screen
    reloading after an upgrade gets the new page."""
    return templates.TemplateResponse(
        request, template, context, status_code=status, headers={"Cache-Control": "no-cache"}
    )


def page_context(hall: Hall) -> dict[str, Any]:
    """What every page of ``hall`` is drawn with: the public hall (plus ``config``, the hall
    file's hash, which reloader.js compares with snapshots and ``GET /api/version``), its first
    language and its catalogues."""
    public = {**hall.public(), "config": config_hash(hall)}
    return {"hall": public, "lang": hall.languages[0], "words": catalogues(list(hall.languages))}


def hall_context(request: Request) -> dict[str, Any]:
    runtime: Runtime = request.app.state.runtime
    return page_context(runtime.hall(request.path_params["hall"]).hall)


def window_context(request: Request) -> dict[str, Any]:
    context = hall_context(request)
    window = request.path_params["window"]
    if window not in {w["id"] for w in context["hall"]["windows"]}:
        raise Refusal("unknown_window", f"there is no window {window!r}")
    return {**context, "window_id": window}


async def lobby(request: Request) -> Response:
    return render(request, "lobby.html", **hall_context(request))


async def window_screen(request: Request) -> Response:
    return render(request, "window.html", **window_context(request))


async def kiosk(request: Request) -> Response:
    return render(request, "kiosk.html", **hall_context(request))


async def desk(request: Request) -> Response:
    return render(request, "desk.html", **hall_context(request))


async def pad(request: Request) -> Response:
    return render(request, "pad.html", **hall_context(request), close_codes=client_close_codes())


async def rating_pad(request: Request) -> Response:
    return render(request, "rate.html", **window_context(request))


async def admin(request: Request) -> Response:
    return render(request, "admin.html", **hall_context(request))


async def visitor(request: Request) -> Response:
    """A visitor's ticket page; an unknown or expired token gets a clear page (404), not an error."""
    runtime: Runtime = request.app.state.runtime
    token = request.path_params["token"]
    hall_runtime = runtime.halls.get(hall_of_token(token) or "")
    found = await hall_runtime.engine.ticket(token) if hall_runtime else None
    if hall_runtime is None or found is None:
        first = next(iter(runtime.halls.values()))
        return render(
            request,
            "visitor.html",
            status=404,
            **page_context(first.hall),
            token="",
            ticket_missing=True,
        )
    hall = hall_runtime.hall
    # a ticket taken on the phone before opening waits from the opening: "set out by" counts from it
    opens = opens_at_s(hall_runtime.engine.clock(), hall) if found["ticket"].get("remote") else None
    return render(
        request,
        "visitor.html",
        **page_context(hall),
        token=token,
        ticket_missing=False,
        opens_at_ms=None if opens is None else int(opens * 1000),
    )


routes = [
    Route("/display/{hall}", lobby),
    Route("/display/{hall}/windows/{window}", window_screen),
    Route("/kiosk/{hall}", kiosk),
    Route("/desk/{hall}", desk),
    Route("/pad/{hall}", pad),
    Route("/t/{token}", visitor, name="visitor_page"),
    Route("/rate/{hall}/{window}", rating_pad),
    Route("/admin/{hall}", admin),
    *[
        Mount(f"/static/{p}", StaticFiles(directory=package_dir(p, "static")), name=f"static-{p}")
        for p in PAGE_PACKAGES
    ],
]
