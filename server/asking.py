"""Who is asking, and from where: what every HTTP route module reads off a request
(client address, session, the public base address, the hall of a ticket token), and the
anonymous rate limit."""

from __future__ import annotations

from starlette.requests import Request

from server import ratelimit
from server.auth import Session
from server.queue.errors import Refusal
from server.queue.ids import hall_of_token
from server.runtime import HallRuntime, runtime_of


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public_base(request: Request) -> str:
    """Where visitors reach us: ``--public-url`` when set, else this request's own base address.

    Links and QR codes that leave the hall are built on it, so a proxy's ``Host`` header
    (often ``localhost``) never ends up printed on a ticket.
    """
    configured: str | None = getattr(request.app.state, "public_url", None)
    return configured or str(request.base_url).rstrip("/")


def ticket_url(request: Request, token: str) -> str:
    """The visitor's page of a ticket, as printed in its QR code."""
    return f"{public_base(request)}/t/{token}"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("hallq_session")


async def session_of(request: Request) -> Session | None:
    return await runtime_of(request).sessions.lookup(bearer(request))


async def anonymous_limit(request: Request, hall_id: str, scope: str, session: Session | None) -> None:
    """Anonymous requests are rate limited per client address; staff are exempt."""
    if session is None:
        await ratelimit.check(runtime_of(request).redis, hall_id, scope, client_of(request))


def ticket_hall(request: Request, token: str) -> HallRuntime:
    hall_id = hall_of_token(token)
    if hall_id is None or hall_id not in runtime_of(request).halls:
        raise Refusal("unknown_ticket", "no such ticket")
    return runtime_of(request).hall(hall_id)
