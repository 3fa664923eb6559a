"""The simulated day's visitors and desk: a ticket, a phone following it, a walk to the window called.

:func:`visitor_day`: at its arrival time a visitor takes a ticket at a kiosk (each its own
loopback address; again after a 429) or at the desk, tries a second one if it is the
``duplicate`` kind, follows it on a phone socket (:func:`follow_phone`: reconnecting, every
frame recorded; the ``noshow_once`` kind ignores its first call, ``never_comes`` every call),
walks to the window the phone names (:func:`walk`), fetches a document when suspended and
comes back (:func:`fetch_document`), gives up and cancels if it is a ``leaver``
(:func:`give_up`), and once done rates (a second rating is refused). The desk also looks
tickets up by number (:func:`desk_consultations`); :func:`login` is the staff login.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from typing import Any

import websockets
from day_model import HALL, Hall, Visitor, arrival_fraction


async def visitor_day(hall: Hall, visitor: Visitor, desk_token: str, kiosks: list[str]) -> None:
    """Arrive, take a ticket, follow it on the phone, walk to the window called, rate."""
    rng = random.Random(visitor.vid * 7919 + 1)
    await hall.day.until(visitor.arrive)
    body: dict[str, Any] = {
        "services": visitor.services,
        "priority": visitor.priority,
        "lang": "zh",
        "request_id": uuid.uuid4().hex[:16],
    }
    if visitor.id_number:
        body["id_number"] = visitor.id_number
    status, answer = 0, None
    for attempt in range(6):
        if visitor.via == "desk":
            status, answer = await hall.request(
                "127.0.0.1", "POST", f"/api/halls/{HALL}/tickets", "issue_desk", body, token=desk_token
            )
        else:
            kiosk = kiosks[(visitor.vid + attempt) % len(kiosks)]
            status, answer = await hall.request(kiosk, "POST", f"/api/halls/{HALL}/tickets", "issue_kiosk", body)
        if status != 429:
            break
        await asyncio.sleep(2)
    if status != 201 or not isinstance(answer, dict):
        visitor.done.set()
        return
    visitor.token = answer["ticket"]["token"]
    visitor.number = answer["ticket"]["number"]
    hall.by_number[visitor.number] = visitor
    if visitor.kind == "duplicate":  # a second ticket for the same service: refused
        kiosk = kiosks[visitor.vid % len(kiosks)]
        await hall.request(
            kiosk, "POST", f"/api/halls/{HALL}/tickets", "issue_kiosk", {**body, "request_id": uuid.uuid4().hex[:16]}
        )
    follower = asyncio.create_task(follow_phone(hall, visitor, rng))
    patience = asyncio.create_task(give_up(hall, visitor, rng, desk_token)) if visitor.kind == "leaver" else None
    await visitor.done.wait()
    follower.cancel()
    if patience:
        patience.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    if visitor.final_status == "done" and visitor.rates:
        for _ in range(visitor.rates):  # the second rating is refused (一次一评)
            await hall.request(
                visitor.address,
                "POST",
                f"/api/tickets/{visitor.token}/rating",
                "rate",
                {"score": rng.choice([5, 5, 5, 4, 4, 3, 1])},
            )


async def give_up(hall: Hall, visitor: Visitor, rng: random.Random, desk_token: str) -> None:
    await asyncio.sleep(hall.day.hall_minutes(rng.uniform(5, 25)))
    if visitor.final_status is None and not visitor.started:
        if rng.random() < 0.5:
            await hall.request(visitor.address, "DELETE", f"/api/tickets/{visitor.token}", "cancel_phone")
        else:
            await hall.request("127.0.0.1", "DELETE", f"/api/tickets/{visitor.token}", "cancel_desk", token=desk_token)


async def follow_phone(hall: Hall, visitor: Visitor, rng: random.Random) -> None:  # noqa: C901 — a simulated phone: one branch per frame it can get
    """The visitor's phone page: one socket, reconnecting; every frame is recorded."""
    url = f"{hall.ws_base}/ws/tickets/{visitor.token}"
    last_call: tuple[str, Any] | None = None
    walking: asyncio.Task[None] | None = None
    last_window = "1"
    fetching = False
    trips: set[asyncio.Task[None]] = set()
    while not visitor.done.is_set():
        try:
            async with websockets.connect(url, local_addr=(visitor.address, 0), max_size=2**22) as phone:
                async for raw in phone:
                    frame = json.loads(raw)
                    if frame.get("type") != "ticket":
                        continue
                    frame["t"] = time.time()
                    visitor.phone.append(frame)
                    ticket = frame.get("ticket") or {}
                    status = ticket.get("status")
                    if ticket.get("window"):
                        last_window = str(ticket["window"])
                    if status != "suspended":
                        fetching = False
                    if status == "called":
                        call = (str(ticket.get("window")), ticket.get("called_at"))
                        if call != last_call:
                            last_call = call
                            if visitor.kind in ("noshow_once", "never_comes") and (
                                visitor.kind == "never_comes" or visitor.ignored == 0
                            ):
                                visitor.ignored += 1
                                continue
                            if walking is None or walking.done():
                                walking = asyncio.create_task(walk(hall, visitor, rng))
                    elif status == "suspended" and not fetching:
                        fetching = True  # leaves for the document at once (the clerk's answer may come later)
                        trips.add(asyncio.create_task(fetch_document(hall, visitor, rng, last_window)))
                    elif status in ("done", "no_show", "cancelled", "expired"):
                        visitor.final_status = status
                        visitor.done.set()
                        return
        except (OSError, websockets.WebSocketException):
            await asyncio.sleep(0.5)


async def walk(hall: Hall, visitor: Visitor, rng: random.Random) -> None:
    """To the window the phone names now (it may have changed on the way)."""
    await asyncio.sleep(rng.uniform(0.5, 2.5))
    ticket = (visitor.phone[-1].get("ticket") or {}) if visitor.phone else {}
    if ticket.get("status") == "called" and ticket.get("window"):
        visitor.arrivals += 1
        hall.windows[str(ticket["window"])].arrivals.put_nowait(str(visitor.number))
    elif ticket.get("status") == "done":
        visitor.arrivals += 1
        visitor.turned_away += 1


async def fetch_document(hall: Hall, visitor: Visitor, rng: random.Random, window: str) -> None:
    await asyncio.sleep(max(2.0, hall.day.hall_minutes(rng.uniform(8, 20))))
    target = visitor.suspended_at or window
    if target not in hall.open_windows():
        target = (hall.open_windows() or ["1"])[0]
    hall.windows[target].returns.put_nowait(str(visitor.number))


async def desk_consultations(hall: Hall, desk_token: str, count: int, rng: random.Random) -> None:
    """The consultation desk's other work: looking visitors' tickets up by number."""
    for _ in range(count):
        await hall.day.until(arrival_fraction(rng))
        if hall.by_number:
            number = rng.choice(sorted(hall.by_number))
            await hall.request(
                "127.0.0.1", "GET", f"/api/halls/{HALL}/tickets?number={number}", "desk_lookup", token=desk_token
            )


async def login(hall: Hall, staff: str, pin: str = "1234") -> str:
    status, body = await hall.request(
        "127.0.0.1", "POST", "/api/auth/login", "login", {"hall": HALL, "staff": staff, "pin": pin}
    )
    if status != 200:
        raise RuntimeError(f"login {staff}: {status} {body}")
    return str(body["token"])
