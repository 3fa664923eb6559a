"""What browsers are told and held to: security headers, and no cross-site writes.

* Every HTTP answer carries a Content-Security-Policy without inline script (page data
  travels in ``<script type="application/json">`` blocks, read by a static file),
  ``X-Content-Type-Options: nosniff``, ``frame-ancestors 'none'`` / ``X-Frame-Options:
  DENY`` (no page of ours inside another site's frame) and ``Referrer-Policy:
  no-referrer`` (a visitor's page URL holds their ticket token).
* A write (POST, PUT, PATCH, DELETE) authenticated by the session cookie must carry JSON
  or nothing (``Content-Type: application/json``, which a cross-site HTML form cannot
  send without a preflight we never grant) and, when
  the browser names its Origin, come from this server's own origin. ``SameSite=Strict``
  alone is not enough: a page on another port of the same host is the *same site* and
  its form posts carry the cookie. Requests with ``Authorization: Bearer`` are not
  affected (a browser never adds that header by itself).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.edge import http_status

SESSION_COOKIE = "hallq_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)


def write_refusal(method: str, headers: Headers, public_url: str | None = None) -> tuple[str, str] | None:
    """Why a write must be refused as possibly cross-site, as (code, message); None when fine.

    Pure: looks only at the method and the request's headers.
    """
    if method.upper() in SAFE_METHODS:
        return None
    if headers.get("authorization") or SESSION_COOKIE not in _cookie_names(headers.get("cookie", "")):
        return None
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    # a write without a body (logout, cancel) has no type; any body must be JSON
    if content_type not in ("", "application/json") or (not content_type and _has_body(headers)):
        return "json_required", "a logged-in change must be sent as application/json"
    origin = headers.get("origin")
    if origin is not None:
        allowed = {headers.get("host", "")}
        if public_url:
            allowed.add(urlsplit(public_url).netloc)
        if urlsplit(origin).netloc not in allowed:
            return "cross_site", "changes are accepted from this server's own pages only"
    elif headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return "cross_site", "changes are accepted from this server's own pages only"
    return None


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


def _cookie_names(cookie: str) -> set[str]:
    return {part.split("=", 1)[0].strip() for part in cookie.split(";") if "=" in part}


class BrowserGuard:
    """ASGI middleware applying :data:`SECURITY_HEADERS` and :func:`write_refusal`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine for other scopes: no frame of ours held for a websocket's whole life.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        refusal = write_refusal(scope["method"], Headers(scope=scope), os.environ.get("HALLQ_PUBLIC_URL"))
        if refusal is not None:
            code, message = refusal
            response = JSONResponse({"error": {"code": code, "message": message}}, status_code=http_status(code))
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
