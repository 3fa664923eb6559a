"""Tickets from the phone before arriving (远程取号): ``POST /api/halls/{hall}/remote-tickets``
and the phone's page ``/remote/{hall}``.

The rules are :mod:`server.remote`'s and the kiosk's (services' quotas, duplicate ID refusal,
numbering); the handler is the kiosk's (:func:`server.api.issue_from`) with ``channel="remote"``.
After the ticket, the phone goes to the visitor's ticket page (``/t/{token}``), which says when
to set out and keeps the screen awake.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api import issue_from
from server.bodies import read_body
from server.ticket_bodies import RemoteIssue


async def issue_remote(request: Request) -> Response:
    """201 ``{"ticket", "ahead", "eta_s", "url"}`` as ``POST /tickets``; refused with 403
    ``remote_off``, 409 ``remote_closed`` / ``remote_quota`` and the kiosk's refusals."""
    return await issue_from(request, await read_body(request, RemoteIssue), "remote")


async def remote_page(request: Request) -> Response:
    from server.pages import hall_context, render

    return render(request, "remote.html", **hall_context(request))


routes = [
    Route("/api/halls/{hall}/remote-tickets", issue_remote, methods=["POST"]),
    Route("/remote/{hall}", remote_page),
]
