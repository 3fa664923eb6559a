"""Web Push: "3 ahead of you" and "your turn at window 3" on a phone whose page is in the background.

- **Keys.** One VAPID key pair per server, made on first use in the data folder
  (``DATA/vapid_private.pem``, mode 0600; every worker and restart uses the same one, so
  subscriptions stay valid). ``GET /api/push/key`` gives the public key the page subscribes with.
- **Subscriptions.** ``POST /api/tickets/{token}/push`` stores the browser's
  ``PushSubscription.toJSON()`` for that ticket in the hall's hash ``hallq:{hall}:push``;
  ``DELETE`` removes it. The subscription ends with the ticket (done, cancelled, expired),
  when the push service answers 404 or 410, and at the day's reset (rollover.lua).
- **Sending** is :mod:`server.push_sender`'s: one leased sender per hall.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import metrics
from server.bodies import BadRequest, read_body
from server.push_rules import BadSubscription, check_subscription
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal
from server.ticket_bodies import PushSubscription

if TYPE_CHECKING:
    from server.runtime import HallRuntime, Runtime

log = logging.getLogger("hallq.push")

KEY_FILE = "vapid_private.pem"


def subs_key(hall_id: str) -> str:
    """Hash: ticket token → its PushSubscription JSON."""
    return keys_prefix(hall_id) + "push"


def sent_key(hall_id: str) -> str:
    """Hash: ticket token → what it was told (:class:`server.push_rules.State`)."""
    return keys_prefix(hall_id) + "push:sent"


def allow_http() -> bool:
    """Plain-http endpoints are refused unless ``HALLQ_PUSH_ALLOW_HTTP=1`` (a local stand-in in tests)."""
    return os.environ.get("HALLQ_PUSH_ALLOW_HTTP", "") == "1"


# --- keys -----------------------------------------------------------------------------------


def load_vapid(data_dir: Path) -> Vapid02:
    """The server's VAPID key, made once in ``data_dir`` (workers racing to make it agree on one)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fresh = Vapid02()
        fresh.generate_keys()
        temp = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(fresh.private_pem())
        try:
            os.link(temp, path)  # atomic, and never replaces a key another worker made first
            log.info("made the Web Push (VAPID) key %s", path)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    vapid: Vapid02 = Vapid02.from_pem(path.read_bytes())
    return vapid


def public_key(vapid: Vapid02) -> str:
    """The public key as ``applicationServerKey`` takes it: base64url of the uncompressed point."""
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    text: str = b64urlencode(raw)
    return text


_VAPID: dict[Path, Vapid02] = {}


def vapid_of(runtime: Runtime) -> Vapid02:
    """The server's VAPID key (read once per process)."""
    found = _VAPID.get(runtime.data_dir)
    if found is None:
        found = _VAPID[runtime.data_dir] = load_vapid(runtime.data_dir)
    return found


# --- HTTP -----------------------------------------------------------------------------------


async def key_route(request: Request) -> Response:
    """``GET /api/push/key``: ``{"public_key": base64url}``."""
    from server.runtime import runtime_of

    vapid = vapid_of(runtime_of(request))
    return JSONResponse({"public_key": public_key(vapid)}, headers={"Cache-Control": "public, max-age=3600"})


async def _ticket_for_push(request: Request) -> tuple[HallRuntime, str]:
    from server.asking import anonymous_limit, session_of, ticket_hall

    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    await anonymous_limit(request, hall.hall.id, "anon", await session_of(request))
    return hall, token


async def subscribe_route(request: Request) -> Response:
    """``POST /api/tickets/{token}/push``: store the PushSubscription JSON; 201 ``{"push": true}``."""
    from server.asking import ticket_hall
    from server.runtime import runtime_of

    ticket_hall(request, request.path_params["token"])  # an unknown hall is refused before the body is read
    body = await read_body(request, PushSubscription)
    keys = body.keys
    try:
        check_subscription(body.endpoint, keys.p256dh, keys.auth, allow_http=allow_http())
    except BadSubscription as exc:
        raise BadRequest("bad_subscription", str(exc)) from exc
    hall, token = await _ticket_for_push(request)
    found = await hall.engine.ticket(token)
    if found is None:
        raise Refusal("unknown_ticket", "no such ticket")
    status = found["ticket"].get("status")
    if status in ("done", "cancelled", "expired"):
        raise Refusal("ticket_ended", f"the ticket is {status}; there is nothing more to notify")
    subscription = {"endpoint": body.endpoint, "keys": {"p256dh": keys.p256dh, "auth": keys.auth}}
    await runtime_of(request).redis.hset(subs_key(hall.hall.id), token, json.dumps(subscription))
    metrics.PUSH_SUBSCRIPTIONS.labels(hall.hall.id).inc()
    return JSONResponse({"push": True}, status_code=201)


async def unsubscribe_route(request: Request) -> Response:
    """``DELETE /api/tickets/{token}/push``: forget the subscription; 200 ``{"push": false}``."""
    from server.runtime import runtime_of

    hall, token = await _ticket_for_push(request)
    redis = runtime_of(request).redis
    await redis.hdel(subs_key(hall.hall.id), token)
    await redis.hdel(sent_key(hall.hall.id), token)
    return JSONResponse({"push": False})


async def service_worker(request: Request) -> Response:
    """``GET /push-sw.js``: the service worker, at the root so it may take the scope ``/t/``."""
    from server.pages import package_dir

    return Response(
        (package_dir("kiosk", "static") / "push-sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/t/"},
    )


routes = [
    Route("/api/push/key", key_route),
    Route("/api/tickets/{token}/push", subscribe_route, methods=["POST"]),
    Route("/api/tickets/{token}/push", unsubscribe_route, methods=["DELETE"]),
    Route("/push-sw.js", service_worker),
]
