"""Web Push sending: one process per hall sends the notices of :mod:`server.push`'s subscriptions.

One process per hall sends (the lease ``hallq:{hall}:push:lease``, as webhooks hold theirs).
After each hall event it reads the subscribed tickets in one script call and asks
:func:`server.push_rules.decide` what to send; what was sent is kept in
``hallq:{hall}:push:sent``, written (only while holding the lease) before sending, so a new
holder never repeats a notice. Notifications are encrypted (aes128gcm, RFC 8291) and signed
(VAPID, RFC 8292) with pywebpush and py_vapid and POSTed with their own HTTP client, in order
per ticket, in tasks of their own: a slow or failing push service never delays a call.
Failures are logged (``hallq.push``) and counted (``hallq_push_notifications_total{outcome}``);
a notification is not retried (it would be stale), the next one is sent as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from redis.exceptions import RedisError

from server import lease, metrics, tasks
from server.outbound import Outbound
from server.push import sent_key, subs_key, vapid_of
from server.push_rules import AHEAD_THRESHOLD, Notice, State, decide
from server.queue.constants import keys_prefix

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.push")

#: Seconds a push service keeps a notification for a phone that is offline.
TTL_S = 600


def threshold() -> int:
    value = os.environ.get("HALLQ_PUSH_AHEAD", "")
    return int(value) if value.isdigit() else AHEAD_THRESHOLD


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
        self.client = Outbound(timeout=httpx.Timeout(timeout_s, connect=min(2.0, timeout_s)), follow_redirects=False)
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
        await tasks.stop(self.task)
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
                    await lease.woken(self.wake, self.lease_s / 3)
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
                written = await lease.write_held(
                    redis, sent_key(self.hall_id), self.lease, self.token, {token: decision.state.dump()}
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
            async with asyncio.timeout(self.timeout_s + 1):
                answer = await self.client.post(endpoint, content=body, headers=headers)
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
