"""Text messages through the hall's own SMS gateway (``[sms]``): "3 ahead of you" and
"your turn at window 3" for visitors who left a phone number.

- Which message is due, its words, the request body and signature: :mod:`server.sms_rules`.
  The numbers: :mod:`server.phone_book` (encrypted, deleted at the day's reset).
- One process per hall sends, whatever the number of workers or servers: it holds the lease
  ``hallq:{hall}:sms:lease`` (``SET NX PX``, renewed while it works, as webhooks do); the
  others wait and take over within one lease when it dies. Each message is also marked sent
  (``HSETNX``) before it goes, so even two holders in a moment of doubt never send it twice.
- The hub's listener only sets a flag: the sender looks at the tickets with numbers after
  each event, in its own task, and each message goes in a task of its own with a timeout. A
  slow or dead gateway therefore never delays a call, a screen or another message.
- At most once: a message that fails is logged (the number masked) and counted
  (``hallq_sms_messages_total{outcome=…}``), not retried — "your turn" minutes late would
  mislead more than help; the visitor's page and the screens still show the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import lease, metrics, phone_book, tasks
from server.bodies import read_body
from server.hall_model import Hall, Sms
from server.outbound import Outbound
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal
from server.sms_rules import Notice, due, finished, mask, mask_text, normalize_phone, render_body, sign, text_for
from server.ticket_bodies import Phone
from server.webhook_rules import shown_url

if TYPE_CHECKING:
    from server.runtime import HallRuntime, Runtime

log = logging.getLogger("hallq.sms")

#: The file in the data folder that holds the signing secret when the environment has none.
SECRET_FILE = "sms-secret"
#: Longest wait between two looks at the tickets with numbers (events wake the sender sooner).
IDLE_S = 2.0
#: Messages in flight at once per hall; more wait for a free place.
IN_FLIGHT = 32
#: Shortest time between two looks: a burst of events costs one look, not one each (the look
#: reads every ticket with a number, a script that other actions wait behind).
MIN_GAP_S = 0.3
#: Tickets read by one script call.
CHUNK = 200


def lease_s() -> float:
    """How long a sender's lease lasts (``HALLQ_SMS_LEASE_S``; tests shorten it)."""
    return float(os.environ.get("HALLQ_SMS_LEASE_S") or 15.0)


def load_secret(sms: Sms, data_dir: Path) -> str:
    """The signing secret: the environment variable ``sms.secret_env``, else the file
    ``sms-secret`` in the data folder (made once with a random secret, mode 0600, for the
    gateway's operator to copy)."""
    configured = os.environ.get(sms.secret_env)
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32))
            log.info("made the SMS signing secret %s (give it to the gateway, or set %s)", path, sms.secret_env)
    for _ in range(50):
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    return ""


class HallSender:
    """Sends one hall's text messages, whenever this process holds the hall's SMS lease."""

    def __init__(self, runtime: Runtime, hall_id: str) -> None:
        self.runtime = runtime
        self.hall_id = hall_id
        self.lease = keys_prefix(hall_id) + "sms:lease"
        self.token = secrets.token_hex(8)
        self.wake = asyncio.Event()
        self.renewed = 0.0
        self.client = Outbound(follow_redirects=False, headers={"User-Agent": "hallq-sms"})
        self.sending: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.task: asyncio.Task[None] | None = None

    @property
    def hall(self) -> Hall:
        return self.runtime.halls[self.hall_id].hall  # the hall file may have been reloaded

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"sms-{self.hall_id}")

    async def stop(self) -> None:
        await tasks.stop(self.task)
        for task in list(self.sending):
            task.cancel()
        await asyncio.gather(*self.sending, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await lease.release(self.runtime.redis, self.lease, self.token)
        await self.client.aclose()

    async def _hold(self) -> bool:
        """Take or renew the lease; whether this process sends now."""
        ms = int(lease_s() * 1000)
        redis = self.runtime.redis
        held = await lease.hold(redis, self.lease, self.token, ms)
        if held:
            self.renewed = time.monotonic()
        return held

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                if self.hall.sms is None or not await self._hold():
                    await asyncio.sleep(lease_s() / 3 * (0.5 + secrets.randbelow(1000) / 1000))
                    continue
                self.wake.clear()
                await self.check()
                await lease.woken(self.wake, min(IDLE_S, lease_s() / 3))
                await asyncio.sleep(MIN_GAP_S)
                delay = 0.5
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("hall %s: text messages paused, redis unreachable: %s", self.hall_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:  # never die silently: log and start again
                log.exception("hall %s: text messages failed; starting again", self.hall_id)
                await asyncio.sleep(1.0)

    async def check(self) -> None:
        """Look at every ticket with a number: send what is due, forget closed tickets."""
        sms = self.hall.sms
        if sms is None:
            return
        book = phone_book.of(self.runtime, self.hall_id)
        numbers = await book.numbers()
        if not numbers:
            return
        engine = self.runtime.halls[self.hall_id].engine
        tokens = list(numbers)
        infos: dict[str, dict[str, Any]] = {}
        for start in range(0, len(tokens), CHUNK):
            for item in await engine.tickets(tokens[start : start + CHUNK]):
                infos[str(item["ticket"].get("token"))] = item
        sent = await book.sent_to()
        for token, phone in numbers.items():
            info = infos.get(token)
            if info is None or finished(info["ticket"]):  # unknown (a new day) or closed: forget
                await book.remove(token)
                continue
            for notice in due(info["ticket"], info.get("ahead"), sms.ahead, sent.get(token, set())):
                if await book.mark(token, notice.key):
                    task = asyncio.create_task(self._send(sms, phone, info["ticket"], notice))
                    self.sending.add(task)
                    task.add_done_callback(self.sending.discard)

    async def _send(self, sms: Sms, phone: str, ticket: dict[str, Any], notice: Notice) -> None:
        """One message to the gateway; a failure is logged (number masked) and counted."""
        async with self.slots:
            hall = self.hall
            lang = str(ticket.get("lang") or hall.languages[0])
            if lang not in hall.languages:
                lang = hall.languages[0]
            values = {
                "number": str(ticket.get("number") or ""),
                "window": notice.window or "",
                "ahead": "" if notice.ahead is None else str(notice.ahead),
                "hall": hall.name.get(lang) or next(iter(hall.name.values())),
            }
            text = text_for(sms.texts, notice.kind, lang, values)
            body = render_body(sms.body, sms.content_type, {**values, "phone": phone, "text": text})
            headers = {
                "Content-Type": sms.content_type,
                sms.signature_header: sign(load_secret(sms, self.runtime.data_dir), body),
                "X-Hallq-Hall": self.hall_id,
            }
            outcome, error = "ok", ""
            try:
                async with asyncio.timeout(sms.timeout_s + 1):
                    answer = await self.client.request(
                        sms.method, sms.url, content=body, headers=headers, timeout=sms.timeout_s
                    )
                if not 200 <= answer.status_code < 300:
                    outcome, error = "http_error", f"HTTP {answer.status_code}"
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                outcome = "network_error"
                error = f"{type(exc).__name__}: {str(exc).replace(sms.url, shown_url(sms.url))}"[:200]
            metrics.SMS_MESSAGES.labels(self.hall_id, notice.kind, outcome).inc()
            if outcome == "ok":
                log.info("hall %s: sms %s for %s sent to %s", self.hall_id, notice.kind, values["number"], mask(phone))
            else:
                log.warning(
                    "hall %s: sms %s for %s to %s failed at %s: %s",
                    self.hall_id,
                    notice.kind,
                    values["number"],
                    mask(phone),
                    shown_url(sms.url),
                    mask_text(error),
                )


class Senders:
    """Every hall's sender in this process; follows hall-file reloads (a hall whose ``[sms]``
    is removed idles; one that gains it starts sending)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.halls: dict[str, HallSender] = {}

    def start(self) -> None:
        for hall_id, hall in self.runtime.halls.items():
            sender = HallSender(self.runtime, hall_id)
            self.halls[hall_id] = sender

            def wake(event: dict[str, Any], sender: HallSender = sender) -> None:
                kind = str(event.get("type", ""))
                if kind.startswith(("ticket.", "hall.")) and sender.hall.sms is not None:
                    sender.wake.set()

            hall.hub.listeners.append(wake)
            sender.start()

    async def stop(self) -> None:
        await asyncio.gather(*(s.stop() for s in self.halls.values()), return_exceptions=True)
        self.halls.clear()


# --- leaving a number: POST/GET/DELETE /api/tickets/{token}/phone ------------------------


async def _phone_ticket(request: Request) -> tuple[HallRuntime, str]:
    """The ticket's hall and token, once the caller passed the rate limit; 404 when unknown."""
    from server.asking import anonymous_limit, session_of, ticket_hall

    token = request.path_params["token"]
    hall = ticket_hall(request, token)
    await anonymous_limit(request, hall.hall.id, "anon", await session_of(request))
    return hall, token


def checked_phone(hall: Hall, raw: str) -> str:
    """The number a visitor typed, as stored (11 digits); refused with ``no_sms`` when the hall
    sends no texts, ``bad_phone`` when it is not a mobile number."""
    if hall.sms is None:
        raise Refusal("no_sms", "this hall sends no text messages")
    phone = normalize_phone(raw)
    if phone is None:
        raise Refusal("bad_phone", "a mobile number has 11 digits and starts with 1, e.g. 138 1234 5678")
    return phone


async def remember(request: Request, hall_id: str, token: str, phone: str) -> str:
    """Keep ``phone`` for the ticket and wake this process's sender; the masked number."""
    from server.runtime import runtime_of

    await phone_book.of(runtime_of(request), hall_id).put(token, phone)
    senders: Senders | None = getattr(request.app.state, "sms", None)
    if senders is not None and hall_id in senders.halls:
        senders.halls[hall_id].wake.set()  # "3 ahead" at once when it already is
    return mask(phone)


async def leave_phone(request: Request) -> Response:
    """``POST /api/tickets/{token}/phone`` ``{"phone"}``: text this ticket's "N ahead" and
    "your turn" to the number. 201 ``{"phone": "138****5678"}``; 422 ``bad_phone``; 409
    ``no_sms`` (the hall sends none), ``ticket_ended``."""
    hall, token = await _phone_ticket(request)
    body = await read_body(request, Phone)
    phone = checked_phone(hall.hall, body.phone)
    found = await hall.engine.ticket(token)
    if found is None:
        raise Refusal("unknown_ticket", "no such ticket")
    if finished(found["ticket"]):
        raise Refusal("ticket_ended", "this ticket has ended: no more messages will be sent for it")
    return JSONResponse({"phone": await remember(request, hall.hall.id, token, phone)}, status_code=201)


async def shown_phone(request: Request) -> Response:
    """``GET /api/tickets/{token}/phone``: ``{"phone": "138****5678"}`` or ``{"phone": null}``."""
    from server.runtime import runtime_of

    hall, token = await _phone_ticket(request)
    phone = await phone_book.of(runtime_of(request), hall.hall.id).number(token)
    return JSONResponse({"phone": mask(phone) if phone else None, "sms": hall.hall.sms is not None})


async def delete_phone(request: Request) -> Response:
    """``DELETE /api/tickets/{token}/phone``: forget the number (200 ``{"phone": null}``,
    whether or not there was one)."""
    from server.runtime import runtime_of

    hall, token = await _phone_ticket(request)
    await phone_book.of(runtime_of(request), hall.hall.id).remove(token)
    return JSONResponse({"phone": None})


routes = [
    Route("/api/tickets/{token}/phone", leave_phone, methods=["POST"]),
    Route("/api/tickets/{token}/phone", shown_phone, methods=["GET"]),
    Route("/api/tickets/{token}/phone", delete_phone, methods=["DELETE"]),
]
