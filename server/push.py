"""Web Push: "3 ahead of you" and "your turn at window 3" on a phone whose page is in the background.

- **Keys.** One VAPID key pair per server, made on first use in the data folder
  (``DATA/vapid_private.pem``, mode 0600; every worker and restart uses the same one, so
  subscriptions stay valid). ``GET /api/push/key`` gives the public key the page subscribes with.
- **Subscriptions.** ``POST /api/tickets/{token}/push`` stores the browser's
  ``PushSubscription.toJSON()`` for that ticket in the hall's hash ``hallq:{hall}:push``;
  ``DELETE`` removes it. The subscription ends with the ticket (done, cancelled, expired),
  when the push service answers 404 or 410, and at the day's reset (rollover.lua).
- **Sending.** One process per hall sends (the lease ``hallq:{hall}:push:lease``, as
  webhooks hold theirs). After each hall event it reads the subscribed tickets in one script
  call and asks :func:`server.push_rules.decide` what to send; what was sent is kept in
  ``hallq:{hall}:push:sent``, written (only while holding the lease) before sending, so a new
  holder never repeats a notice. Notifications are
  encrypted (aes128gcm, RFC 8291) and signed (VAPID, RFC 8292) with pywebpush and py_vapid and
  POSTed with their own HTTP client, in order per ticket, in tasks of their own: a slow or
  failing push service never delays a call. Failures are logged (``hallq.push``) and counted
  (``hallq_push_notifications_total{outcome}``); a notification is not retried (it would be
  stale), the next one is sent as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import lease, metrics
from server.bodies import BadRequest, read_body
from server.push_rules import AHEAD_THRESHOLD, BadSubscription, Notice, State, check_subscription, decide
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal
from server.ticket_bodies import PushSubscription

if TYPE_CHECKING:
    from server.runtime import HallRuntime, Runtime

log = logging.getLogger("hallq.push")

KEY_FILE = "vapid_private.pem"
#: Seconds a push service keeps a notification for a phone that is offline.
TTL_S = 600

# Lua: record what a ticket was told only while holding the hall's push lease (then send it).
_GUARDED_HSET = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
"""


def subs_key(hall_id: str) -> str:
    """Hash: ticket token → its PushSubscription JSON."""
    return keys_prefix(hall_id) + "push"


def sent_key(hall_id: str) -> str:
    """Hash: ticket token → what it was told (:class:`server.push_rules.State`)."""
    return keys_prefix(hall_id) + "push:sent"


def allow_http() -> bool:
    """Plain-http endpoints are refused unless ``HALLQ_PUSH_ALLOW_HTTP=1`` (a local stand-in in tests)."""
    return os.environ.get("HALLQ_PUSH_ALLOW_HTTP", "") == "1"


def threshold() -> int:
    value = os.environ.get("HALLQ_PUSH_AHEAD", "")
    return int(value) if value.isdigit() else AHEAD_THRESHOLD


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


# --- sending --------------------------------------------------------------------------------


class HallPusher:
    """Sends one hall's notifications while this process holds the hall's push lease."""

    def __init__(self, runtime: Runtime, hall_id: str, lease_s: float, timeout_s: float) -> None:
        self.runtime = runtime
        self.hall_id = hall_id
        self.lease = keys_prefix(hall_id) + "push:lease"
        self.lease_s = lease_s
        self.token = secrets.token_hex(8)
        self.wake = asyncio.Event()
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=min(2.0, timeout_s)), follow_redirects=False
        )
        self.timeout_s = timeout_s
        #: The last send of each ticket, so its notices go out in order.
        self.chains: dict[str, asyncio.Task[None]] = {}
        self.task: asyncio.Task[None] | None = None

    def on_event(self, event: dict[str, Any]) -> None:
        if "seq" in event or event.get("type") == "hall.reset":
            self.wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"push-{self.hall_id}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for chain in list(self.chains.values()):
            chain.cancel()
        await asyncio.gather(*self.chains.values(), return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await lease.release(self.runtime.redis, self.lease, self.token)
        await self.client.aclose()

    async def _hold(self) -> bool:
        redis = self.runtime.redis
        ms = int(self.lease_s * 1000)
        return await lease.hold(redis, self.lease, self.token, ms)

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                if await self._hold():
                    # after an event, and on a quiet tick too (a subscription made since the last event)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self.lease_s / 3)
                    self.wake.clear()
                    await self.round()
                else:
                    await asyncio.sleep(self.lease_s / 3 * (0.5 + secrets.randbelow(1000) / 1000))
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("hall %s: push paused, redis unreachable: %s", self.hall_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("hall %s: push round failed", self.hall_id)
                await asyncio.sleep(1.0)

    async def round(self) -> None:
        """Read every subscribed ticket once; send what :func:`decide` says; forget ended ones."""
        redis = self.runtime.redis
        subs: dict[str, str] = dict(await redis.hgetall(subs_key(self.hall_id)))  # type: ignore[arg-type]
        if not subs:
            return
        states: dict[str, str] = dict(await redis.hgetall(sent_key(self.hall_id)))  # type: ignore[arg-type]
        hall_rt = self.runtime.halls[self.hall_id]
        hall = hall_rt.hall
        infos = {item["ticket"]["token"]: item for item in await hall_rt.engine.tickets(list(subs))}
        names = {w.id: w.name for w in hall.windows}
        for token, raw in subs.items():
            before = State.load(states.get(token))
            decision = decide(
                infos.get(token),
                before,
                token=token,
                hall_name=hall.name,
                window_names=names,
                languages=hall.languages,
                threshold=threshold(),
            )
            if decision.ended:
                await redis.hdel(subs_key(self.hall_id), token)
                await redis.hdel(sent_key(self.hall_id), token)
                continue
            if decision.state != before:
                written = await redis.eval(
                    _GUARDED_HSET, 2, sent_key(self.hall_id), self.lease, self.token, token, decision.state.dump()
                )
                if not written:  # another process holds the lease now: it sends
                    log.info("hall %s: push is sent by another process now", self.hall_id)
                    return
            for notice in decision.notices:
                self._queue(token, json.loads(raw), notice)

    def _queue(self, token: str, subscription: dict[str, Any], notice: Notice) -> None:
        previous = self.chains.get(token)

        async def send_after() -> None:
            if previous is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await previous
            await self.send(token, subscription, notice)

        task = asyncio.create_task(send_after(), name=f"push-send-{self.hall_id}")
        self.chains[token] = task
        task.add_done_callback(lambda done, token=token: self._forget(token, done))  # type: ignore[misc]

    def _forget(self, token: str, done: asyncio.Task[None]) -> None:
        if self.chains.get(token) is done:
            del self.chains[token]

    async def send(self, token: str, subscription: dict[str, Any], notice: Notice) -> None:
        """Encrypt, sign and POST one notification; a 404/410 ends the subscription."""
        outcome = "ok"
        endpoint = str(subscription.get("endpoint", ""))
        shown = _shown(endpoint)
        # imported on the first notice: pywebpush pulls in aiohttp (~0.2 s), which every
        # worker would otherwise pay at start-up, though most halls never send a push
        from pywebpush import WebPusher

        try:
            body = WebPusher(subscription).encode(notice.body(), "aes128gcm")["body"]
            parts = urlsplit(endpoint)
            claims = {
                "aud": f"{parts.scheme}://{parts.netloc}",
                "exp": int(time.time()) + 12 * 3600,
                "sub": os.environ.get("HALLQ_PUSH_CONTACT") or "mailto:hallq@localhost",
            }
            headers = {
                **vapid_of(self.runtime).sign(claims),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(TTL_S),
                "Urgency": "high",
            }
            answer = await asyncio.wait_for(
                self.client.post(endpoint, content=body, headers=headers), self.timeout_s + 1
            )
            if answer.status_code in (404, 410):
                outcome = "gone"
                await self.runtime.redis.hdel(subs_key(self.hall_id), token)
                await self.runtime.redis.hdel(sent_key(self.hall_id), token)
                log.info(
                    "hall %s: push subscription at %s is gone (%d); removed", self.hall_id, shown, answer.status_code
                )
            elif not 200 <= answer.status_code < 300:
                outcome = "http_error"
                log.warning(
                    "hall %s: push service %s answered %d (%s notice)",
                    self.hall_id,
                    shown,
                    answer.status_code,
                    notice.kind,
                )
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            outcome = "network_error"
            log.warning(
                "hall %s: push service %s unreachable (%s notice): %s",
                self.hall_id,
                shown,
                notice.kind,
                type(exc).__name__,
            )
        except RedisError as exc:
            log.warning("hall %s: push subscription cleanup failed: %s", self.hall_id, exc)
        except Exception:
            outcome = "error"
            log.exception("hall %s: push notice to %s failed", self.hall_id, shown)
        metrics.PUSH_NOTIFICATIONS.labels(self.hall_id, notice.kind, outcome).inc()


def _shown(endpoint: str) -> str:
    """An endpoint as logs show it: scheme and host only (the path identifies the phone)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class Pushers:
    """The push senders of every hall of this process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        lease_s = float(os.environ.get("HALLQ_PUSH_LEASE_S") or 15.0)
        timeout_s = float(os.environ.get("HALLQ_PUSH_TIMEOUT_S") or 5.0)
        self.halls = [
            HallPusher(runtime, hall_id, max(lease_s, 2 * (timeout_s + 1)), timeout_s) for hall_id in runtime.halls
        ]

    def start(self) -> None:
        for pusher in self.halls:
            self.runtime.halls[pusher.hall_id].hub.listeners.append(pusher.on_event)
            pusher.start()

    async def stop(self) -> None:
        await asyncio.gather(*(p.stop() for p in self.halls), return_exceptions=True)
