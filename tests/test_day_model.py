"""The model of the day: a Hypothesis state machine over the real engine on a real Redis.

Rules perform what people in the demo hall do: the kiosk and the desk issue tickets (single,
combined, priority, with an ID number and so refused as duplicates); clerks at windows 1-5
call, recall, start, complete, mark no-shows (after the allowed delay, or too early), transfer
to a service and/or a window, call a number out of order (特呼), suspend and resume, pause,
unpause and close; visitors cancel; the clock runs, issuing stops at the cut-off and the day
rolls over. A plain Python model predicts every answer and every refusal; after each step the
invariants of issue 9 are checked against the engine:

- no ticket is called twice (only recall repeats a call): no ticket sits at two windows, a
  ticket in a window's hands is not waiting, and the engine's statuses equal the model's;
- no ticket is stranded: a ticket reserved for a window is only at an open, unpaused window
  (every other waiting ticket has a window of the hall able to serve it);
- a requeued no-show goes behind exactly ``places_back`` more tickets (or all there are), and
  call_next never calls it before one of them that the window holds in its class and tier;
- what call_next picks is ``rules.next_for_window`` over the model's waiting set (priority,
  transfers, tiers, combined tickets);
- every waiting ticket's "ahead" (what the phone shows) is ``rules.people_ahead``;
- statistics add up: per day, issued = open + served + no-show + cancelled + expired, and each
  figure of ``server.stats.report`` equals the model's count.

The default run is bounded (a few seconds); ``HALLQ_MODEL_STEPS=N`` runs at least N steps in
all (the long variant, ``pytest -m long``), see docs/model.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from server.config import load_demo
from server.embedded import EmbeddedRedis
from server.hall_model import Hall, Staff
from server.hours import hall_time, issuing_open
from server.queue.booking import Booking
from server.queue.constants import keys_prefix
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.queue.rules import (
    HallWindows,
    WaitingTicket,
    call_key,
    called_before,
    competes_with,
    next_for_window,
    people_ahead,
    requeue_score,
    tier_of,
)
from server.stats import report, stats_key
from tests.conftest import DEMO_MORNING, HallClock

R = TypeVar("R")
HALL = load_demo()
P = keys_prefix(HALL.id)
WINDOWS = tuple(w.id for w in HALL.windows)
SERVICES = tuple(s.id for s in HALL.services)
PREFIX = {s.id: s.prefix for s in HALL.services}
TIERS: HallWindows = {w.id: w.tiers for w in HALL.windows}
CLERKS = tuple(s for s in HALL.staff if s.role == "clerk")
ADMIN = next(s for s in HALL.staff if s.role == "admin")
RULES = HALL.rules.no_show
OPEN = ("waiting", "called", "serving", "suspended")
ZONE = ZoneInfo(HALL.timezone)

services_st = st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True)
window_st = st.sampled_from(WINDOWS)
pick_st = st.integers(0, 10_000)


@dataclass
class Ticket:
    """A ticket as the model knows it."""

    token: str
    number: str
    services: tuple[str, ...]
    cls: str
    score: float
    day: str
    person: str | None
    status: str = "waiting"
    to_window: str | None = None
    window: str | None = None
    noshows: int = 0
    called_at: float | None = None
    ever_called: bool = False
    #: how many times it was called (call_next, 特呼); a recall is not a call
    calls: int = 0
    #: after a no-show: the tickets it went behind and must not be called before
    owed: set[str] = field(default_factory=set)

    def waiting(self) -> WaitingTicket:
        return WaitingTicket(self.token, self.services, self.cls, self.score, self.to_window)


@dataclass
class Window:
    """A window as the model knows it."""

    clerk: Staff | None = None
    paused: bool = False
    token: str | None = None
    serving: bool = False

    @property
    def status(self) -> str:
        if self.clerk is None:
            return "closed"
        if self.paused:
            return "paused"
        if self.token is None:
            return "idle"
        return "serving" if self.serving else "calling"


def steps_wanted() -> int:
    return int(os.environ.get("HALLQ_MODEL_STEPS", "0") or 0)


class DayMachine(RuleBasedStateMachine):
    """One hall's day (and the next ones) on the real engine, against a model."""

    redis_url = ""
    steps_run = 0
    #: what the runs exercised (printed by the tests: a model that never transfers proves little)
    seen: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(self.redis_url, decode_responses=True)
        self.run(self.redis.flushall())
        self.clock = HallClock(DEMO_MORNING)
        self.hall: Hall = HALL
        self.engine = Engine(self.redis, self.hall, secret=b"model-secret", clock=self.clock)
        self.tickets: dict[str, Ticket] = {}
        self.windows = {w: Window() for w in WINDOWS}
        self.day = hall_time(self.clock.now, self.hall).day
        self.order = 0
        self.counters: Counter[str] = Counter()
        self.stats: dict[str, Counter[str]] = {}
        self.steps_today = 0
        #: ticket.called events seen in the hall's stream, per (business day, number)
        self.called_events: Counter[tuple[str, str]] = Counter()
        self.events_seen = 0
        self.stream_day = self.day
        #: appointments: places taken per (date, start, service), bookings per (person, date, service)
        self.slot_taken: Counter[tuple[str, str, str]] = Counter()
        self.booked: set[tuple[str, str, str]] = set()
        # the hall starts its first day now, so every later day change is a real rollover
        assert self.run(self.engine.rollover())["rolled"] is False

    def teardown(self) -> None:
        self.run(self.redis.aclose())
        self.loop.close()

    # --- plumbing ---------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(coro)

    def stat(self, metric: str, day: str | None = None) -> None:
        self.stats.setdefault(day or self.day, Counter())[metric] += 1

    def refused(self, code: str, coro: Coroutine[Any, Any, Any]) -> None:
        """The engine refuses with ``code`` and the hall's event stream does not move."""
        self.seen[f"refused {code}"] += 1
        before = self.current_seq()
        try:
            answer = self.run(coro)
        except Refusal as refusal:
            assert refusal.code == code, f"expected {code}, engine refused {refusal.code}: {refusal.message}"
        else:
            raise AssertionError(f"expected refusal {code}, engine answered {answer}")
        assert self.current_seq() == before, f"refusal {code} changed the event stream"

    def current_seq(self) -> int:
        return int(self.run(self.redis.get(P + "seq")) or 0)

    def waiting(self) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.status == "waiting"]

    def today(self) -> list[Ticket]:
        return [t for t in self.tickets.values() if t.day == self.day]

    def pick(self, tickets: list[Ticket], index: int) -> Ticket | None:
        tickets = sorted(tickets, key=lambda t: t.number)
        return tickets[index % len(tickets)] if tickets else None

    def leave_waiting(self, ticket: Ticket) -> None:
        """``ticket`` stops waiting: it no longer counts as owed by any requeued no-show."""
        ticket.owed.clear()
        for other in self.tickets.values():
            other.owed.discard(ticket.token)

    def clerk_for(self, window: str, other: bool) -> Staff:
        """The clerk who acts at ``window``: whoever holds it (another one when ``other``)."""
        holder = self.windows[window].clerk
        default = CLERKS[WINDOWS.index(window) % len(CLERKS)]
        if holder is None:
            return default
        if other:
            return next(c for c in CLERKS if c.id != holder.id)
        return holder

    def advance(self, seconds: float) -> None:
        """Time passes; when the business day changes the hall rolls over at once."""
        self.clock.advance(seconds)
        if hall_time(self.clock.now, self.hall).day != self.day:
            answer = self.run(self.engine.rollover())
            assert answer["rolled"] is True
            self.rollover()

    def rollover(self) -> None:
        """The model's day change: open tickets expire, windows close, numbering restarts."""
        old = self.day
        for ticket in self.tickets.values():
            if ticket.status in OPEN:
                if ticket.status == "waiting":
                    self.leave_waiting(ticket)
                ticket.status = "expired"
                ticket.window = None
                self.stat("expired", old)
        self.windows = {w: Window() for w in WINDOWS}
        self.counters.clear()
        self.day = hall_time(self.clock.now, self.hall).day
        self.steps_today = 0

    def finish_current(self, window: str) -> None:
        w = self.windows[window]
        if w.token is not None:
            ticket = self.tickets[w.token]
            ticket.status, ticket.window = "done", None
            self.stat("served")
        w.token, w.serving = None, False

    def hand(self, ticket: Ticket, window: str, status: str) -> None:
        if ticket.status == "waiting":
            self.leave_waiting(ticket)
        ticket.status, ticket.window = status, window
        if status == "called":
            ticket.called_at = self.clock.now
            ticket.calls += 1
            if not ticket.ever_called:
                ticket.ever_called = True
                self.stat("first_called")
        w = self.windows[window]
        w.token, w.serving = ticket.token, status == "serving"

    def open_window(self, window: str, clerk: Staff) -> None:
        w = self.windows[window]
        if w.clerk is None:
            w.clerk, w.paused = clerk, False

    def aim(self, window: str, aim: int, called_only: bool = False) -> str | None:
        """Mostly a window with a ticket in hand (so the side paths happen often), sometimes
        ``window`` as drawn (so their refusals are tried too). None when the clerks have nothing
        in hand: then the clerk at ``window`` presses 叫号 instead (what a clerk would do)."""
        busy = [w for w in WINDOWS if self.windows[w].token and not (called_only and self.windows[w].serving)]
        if aim == 0:
            return window
        if not busy:
            self.call_next(window, False, 4)
            return None
        return busy[WINDOWS.index(window) % len(busy)]

    def just_called(self, window: str) -> bool:
        """Whether the window's ticket in hand was called within the double-tap interval."""
        token = self.windows[window].token
        called_at = self.tickets[token].called_at if token else None
        return called_at is not None and self.clock.now - called_at < self.hall.rules.min_call_interval_s

    def return_reserved(self, window: str) -> None:
        """A window that pauses or closes sends the tickets reserved for it back to their
        services' lines, still transferred (ahead of ordinary tickets), in their order."""
        for ticket in self.waiting():
            if ticket.to_window == window:
                ticket.to_window = None
                self.seen["reserved ticket returned"] += 1

    def taken(self, window: str, clerk: Staff) -> bool:
        holder = self.windows[window].clerk
        return holder is not None and holder.id != clerk.id

    def assert_ticket(self, answer: dict[str, Any], ticket: Ticket | None) -> None:
        got = answer["ticket"]
        if ticket is None:
            assert got is None, f"engine answered ticket {got and got['number']}, model none"
        else:
            assert got is not None and got["token"] == ticket.token, (
                f"engine answered {got and got['number']}, model {ticket.number}"
            )

    # --- visitors ---------------------------------------------------------------------

    @initialize(first=st.lists(st.tuples(services_st, st.booleans()), min_size=2, max_size=8))
    def morning_queue(self, first: list[tuple[list[str], bool]]) -> None:
        """Visitors wait at the door: the day starts with a queue."""
        for services, priority in first:
            self.issue_one(services, priority, None)

    @rule(
        visitors=st.lists(
            st.tuples(services_st, st.integers(0, 9), st.one_of(st.none(), st.integers(1, 4))), min_size=1, max_size=3
        )
    )
    def issue(self, visitors: list[tuple[list[str], int, int | None]]) -> None:
        """The kiosk (or the desk) issues tickets, one in ten priority; an ID number already
        holding a ticket for one of the services is refused."""
        for services, priority, person in visitors:
            self.advance(3)
            self.issue_one(services, priority == 0, person)

    def issue_one(self, services: list[str], priority: bool, person: int | None) -> None:
        id_number = f"11010119900307{person:04d}" if person is not None else None
        coro = self.engine.issue(services, priority=priority, id_number=id_number)
        if not issuing_open(self.clock.now, self.hall):
            self.refused("hall_closed", coro)
            return
        if id_number is not None and any(
            t.person == id_number and t.status in OPEN and set(t.services) & set(services)
            for t in self.tickets.values()
        ):
            self.refused("duplicate_ticket", coro)
            return
        answer = self.run(coro)
        prefix = PREFIX[services[0]]
        self.counters[prefix] += 1
        self.order += 1
        ticket = Ticket(
            token=answer["ticket"]["token"],
            number=f"{prefix}{self.counters[prefix]:03d}",
            services=tuple(services),
            cls="p" if priority else "o",
            score=float(self.order),
            day=self.day,
            person=id_number,
        )
        assert answer["ticket"]["number"] == ticket.number
        self.tickets[ticket.token] = ticket
        self.stat("issued")
        self.seen["issued" + (" combined" if len(services) > 1 else "") + (" priority" if priority else "")] += 1
        expected = people_ahead([t.waiting() for t in self.waiting()], ticket.waiting(), TIERS)
        assert answer["ahead"] == expected, f"issue: ahead {answer['ahead']}, rules {expected}"

    @rule(services=services_st, person=st.one_of(st.none(), st.integers(1, 4)))
    def appointment_check_in(self, services: list[str], person: int | None) -> None:
        """A visitor books the slot whose check-in is open now and checks in at the kiosk: a
        class-a ticket (after priority and transfers, before walk-ins). Four places per service
        and slot; one booking per person, day and service; refused as a duplicate ticket when
        the person holds an open ticket for one of the services."""
        self.advance(3)
        ahead = (self.local() + timedelta(minutes=30)).replace(second=0, microsecond=0)
        slot = ahead.replace(minute=ahead.minute - ahead.minute % 30)
        day, start = slot.date().isoformat(), slot.strftime("%H:%M")
        id_number = f"11010119900307{person:04d}" if person is not None else None
        booking = Booking(self.engine)
        book = booking.book(services, day, start, id_number=id_number)
        if any(self.slot_taken[(day, start, s)] >= 4 for s in services):
            self.refused("slot_full", book)
            return
        if id_number is not None and any((id_number, day, s) in self.booked for s in services):
            self.refused("duplicate", book)
            return
        appointment = self.run(book)["appointment"]
        self.seen["appointment booked"] += 1
        for s in services:
            self.slot_taken[(day, start, s)] += 1
            if id_number is not None:
                self.booked.add((id_number, day, s))
        check_in = booking.check_in(code=appointment["code"])
        if id_number is not None and any(
            t.person == id_number and t.status in OPEN and set(t.services) & set(services)
            for t in self.tickets.values()
        ):
            self.refused("duplicate_ticket", check_in)
            return
        answer = self.run(check_in)
        self.seen["appointment checked in"] += 1
        prefix = PREFIX[services[0]]
        self.counters[prefix] += 1
        self.order += 1
        ticket = Ticket(
            token=answer["ticket"]["token"],
            number=f"{prefix}{self.counters[prefix]:03d}",
            services=tuple(services),
            cls="a",
            score=float(self.order),
            day=self.day,
            person=id_number,
        )
        assert answer["ticket"]["number"] == ticket.number and answer["ticket"]["appointment"] is True
        self.tickets[ticket.token] = ticket
        self.stat("issued")
        expected = people_ahead([t.waiting() for t in self.waiting()], ticket.waiting(), TIERS)
        assert answer["ahead"] == expected, f"check-in: ahead {answer['ahead']}, rules {expected}"

    @rule(pick=pick_st)
    def cancel(self, pick: int) -> None:
        """A visitor gives up (a waiting or suspended ticket; anything else is refused)."""
        ticket = self.pick(self.today(), pick)
        if ticket is None:
            return
        coro = self.engine.cancel(ticket.token)
        if ticket.status not in ("waiting", "suspended"):
            self.refused("not_waiting", coro)
            return
        self.run(coro)
        if ticket.status == "waiting":
            self.leave_waiting(ticket)
        ticket.status = "cancelled"
        self.stat("cancelled")
        self.seen["cancelled"] += 1

    # --- clerks -----------------------------------------------------------------------

    @rule(window=window_st, wait=st.integers(0, 40))
    def call_next_again(self, window: str, wait: int) -> None:
        """叫号 is what clerks press most: a second rule doubles its weight."""
        self.call_next(window, False, wait)

    @rule(window=window_st, other=st.booleans(), wait=st.integers(0, 40))
    def call_next(self, window: str, other: bool, wait: int) -> None:
        """叫号: finish the current ticket, call the next one the rules choose."""
        self.advance(wait)
        clerk = self.clerk_for(window, other and wait % 5 == 0)
        coro = self.engine.act(window, "call_next", clerk)
        if self.taken(window, clerk):
            self.refused("window_taken", coro)
            return
        if self.windows[window].paused:
            self.refused("window_paused", coro)
            return
        if self.just_called(window):
            self.refused("just_called", coro)
            return
        expected_token = None
        best = next_for_window([t.waiting() for t in self.waiting()], window, TIERS[window])
        answer = self.run(coro)
        self.open_window(window, clerk)
        self.finish_current(window)
        expected = self.tickets[best.token] if best else None
        if best is not None:
            expected_token = best.token
        self.assert_ticket(answer, expected)
        if expected is None:
            return
        assert expected_token is not None
        mine = call_key(expected.waiting(), window, TIERS[window])
        assert mine is not None
        for token in expected.owed:
            other_ticket = self.tickets[token]
            theirs = call_key(other_ticket.waiting(), window, TIERS[window])
            assert other_ticket.status != "waiting" or theirs is None or theirs[:2] != mine[:2], (
                f"no-show {expected.number} called at window {window} before {other_ticket.number}"
            )
        self.hand(expected, window, "called")
        self.seen["call_next called a ticket"] += 1

    @rule(window=window_st, pick=pick_st, any_ticket=st.integers(0, 3))
    def call_specific(self, window: str, pick: int, any_ticket: int) -> None:
        """特呼: the clerk calls a chosen number out of order (mostly a waiting one)."""
        self.advance(2)
        ticket = self.pick(self.today() if any_ticket == 0 else self.waiting(), pick)
        if ticket is None:
            return
        clerk = self.clerk_for(window, False)
        coro = self.engine.act(window, "call", clerk, ticket=ticket.number)
        if ticket.status != "waiting":
            self.refused("not_waiting", coro)
            return
        # any window serving its services may call it, even one reserved for another window
        if tier_of(TIERS[window], ticket.services) is None and ticket.to_window != window:
            self.refused("window_cannot_serve", coro)
            return
        if self.windows[window].paused:
            self.refused("window_paused", coro)
            return
        if self.just_called(window):
            self.refused("just_called", coro)
            return
        answer = self.run(coro)
        if ticket.to_window != window:
            ticket.to_window = None
        self.seen["特呼 called a ticket"] += 1
        self.open_window(window, clerk)
        self.finish_current(window)
        self.assert_ticket(answer, ticket)
        self.hand(ticket, window, "called")

    @rule(window=window_st, aim=st.integers(0, 3))
    def recall(self, window: str, aim: int) -> None:
        """重呼: only a called ticket can be announced again; nothing else changes."""
        target = self.aim(window, aim, called_only=True)
        if target is None:
            return
        window = target
        self.advance(5)
        w = self.windows[window]
        coro = self.engine.act(window, "recall", self.clerk_for(window, False))
        if w.token is None or w.serving:
            self.refused("nothing_called", coro)
            return
        self.assert_ticket(self.run(coro), self.tickets[w.token])

    @rule(window=window_st, aim=st.integers(0, 3))
    def start(self, window: str, aim: int) -> None:
        """开始: the called visitor arrived."""
        target = self.aim(window, aim, called_only=True)
        if target is None:
            return
        window = target
        self.advance(5)
        w = self.windows[window]
        coro = self.engine.act(window, "start", self.clerk_for(window, False))
        if w.token is None or w.serving:
            self.refused("nothing_called", coro)
            return
        self.run(coro)
        w.serving = True
        self.tickets[w.token].status = "serving"

    @rule(window=window_st, wait=st.integers(0, 120), aim=st.integers(0, 3))
    def complete(self, window: str, wait: int, aim: int) -> None:
        """办结: the visit is done."""
        target = self.aim(window, aim)
        if target is None:
            return
        window = target
        self.advance(wait)
        w = self.windows[window]
        coro = self.engine.act(window, "complete", self.clerk_for(window, False))
        if w.token is None:
            self.refused("nothing_in_hand", coro)
            return
        self.run(coro)
        self.finish_current(window)
        self.seen["completed"] += 1

    @rule(window=window_st, wait=st.integers(0, 3), aim=st.integers(0, 3))
    def no_show(self, window: str, wait: int, aim: int) -> None:
        """过号: after the allowed delay (or refused as too early); back behind places_back."""
        target = self.aim(window, aim, called_only=True)
        if target is None:
            return
        window = target
        w = self.windows[window]
        ticket = self.tickets[w.token] if w.token else None
        if wait and ticket is not None and ticket.called_at is not None:
            self.advance(max(0.0, ticket.called_at + RULES.min_seconds_after_call - self.clock.now))
            w = self.windows[window]
            ticket = self.tickets[w.token] if w.token else None
        coro = self.engine.act(window, "no_show", self.clerk_for(window, False))
        if ticket is None or w.serving:
            self.refused("nothing_called", coro)
            return
        assert ticket.called_at is not None
        if self.clock.now - ticket.called_at < RULES.min_seconds_after_call:
            self.refused("too_early", coro)
            return
        if ticket.to_window is not None and ticket.noshows < RULES.max_times:
            reserved = self.windows[ticket.to_window]
            if reserved.clerk is None or reserved.paused:
                # its window paused since it was called: it goes back to its services' lines
                ticket.to_window = None
                self.seen["no-show released from a paused window"] += 1
        others = [t.waiting() for t in self.waiting()]
        me = ticket.waiting()
        before = {o.token for o in others if called_before(o, me, TIERS)}
        behind = sorted(
            (o for o in others if o.token not in before and competes_with(o, me, TIERS)),
            key=lambda o: (o.score, o.token),
        )
        score = requeue_score(others, me, TIERS, RULES.places_back)
        answer = self.run(coro)
        w.token, w.serving = None, False
        ticket.window = None
        ticket.noshows += 1
        if ticket.noshows > RULES.max_times:
            ticket.status = "no_show"
            self.stat("no_show")
            self.seen["closed as no-show"] += 1
            assert answer["ticket"]["status"] == "no_show"
            return
        ticket.status, ticket.score = "waiting", score
        self.seen[
            "requeued behind " + ("fewer than" if len(behind) < RULES.places_back else "all") + " places_back"
        ] += 1
        ticket.owed = {o.token for o in behind[: RULES.places_back]}
        info = self.run(self.engine.ticket(ticket.token))
        assert info is not None
        assert info["ahead"] == len(before) + len(ticket.owed), (
            f"requeued {ticket.number}: ahead {info['ahead']}, want {len(before)} + {len(ticket.owed)}"
        )

    @rule(
        window=window_st,
        dest=st.sampled_from([(s, None) for s in SERVICES] + [(None, w) for w in WINDOWS] + [(None, None)])
        | st.tuples(st.sampled_from(SERVICES), window_st),
        aim=st.integers(0, 3),
    )
    def transfer(self, window: str, dest: tuple[str | None, str | None], aim: int) -> None:
        """转移: to a service and/or a window, keeping the number, ahead of ordinary tickets."""
        target = self.aim(window, aim)
        if target is None:
            return
        window = target
        service, to_window = dest
        self.advance(10)
        w = self.windows[window]
        coro = self.engine.act(window, "transfer", self.clerk_for(window, False), service=service, to_window=to_window)
        if service is None and to_window is None:
            self.refused("missing_target", coro)
            return
        if w.token is None:
            self.refused("nothing_in_hand", coro)
            return
        if to_window == window:
            self.refused("same_window", coro)
            return
        ticket = self.tickets[w.token]
        services = (service,) if service else ticket.services
        if to_window is not None and tier_of(TIERS[to_window], services) is None:
            self.refused("window_cannot_serve", coro)
            return
        if to_window is not None and self.windows[to_window].status in ("closed", "paused"):
            self.refused("window_not_open", coro)
            return
        self.run(coro)
        self.order += 1
        w.token, w.serving = None, False
        ticket.status, ticket.window, ticket.services = "waiting", None, services
        ticket.cls, ticket.to_window, ticket.score, ticket.person = "x", to_window, float(self.order), None
        ticket.owed = set()
        self.stat("transferred")
        self.seen[f"transferred to {'a window' if to_window else 'a service'}"] += 1

    @rule(window=window_st, aim=st.integers(0, 3))
    def suspend(self, window: str, aim: int) -> None:
        """挂起: the visitor leaves to fetch a document."""
        target = self.aim(window, aim)
        if target is None:
            return
        window = target
        self.advance(10)
        w = self.windows[window]
        coro = self.engine.act(window, "suspend", self.clerk_for(window, False))
        if w.token is None:
            self.refused("nothing_in_hand", coro)
            return
        self.run(coro)
        ticket = self.tickets[w.token]
        ticket.status, ticket.window = "suspended", None
        w.token, w.serving = None, False
        self.seen["suspended"] += 1

    @rule(window=window_st, pick=pick_st)
    def resume(self, window: str, pick: int) -> None:
        """恢复: a suspended visitor is served again without a new ticket."""
        self.advance(10)
        suspended = [t for t in self.today() if t.status == "suspended"]
        ticket = self.pick(suspended or self.today(), pick)
        if ticket is None:
            return
        clerk = self.clerk_for(window, False)
        coro = self.engine.act(window, "resume", clerk, ticket=ticket.number)
        if ticket.status != "suspended":
            self.refused("not_suspended", coro)
            return
        if self.windows[window].paused:
            self.refused("window_paused", coro)
            return
        answer = self.run(coro)
        self.open_window(window, clerk)
        self.finish_current(window)
        self.assert_ticket(answer, ticket)
        self.hand(ticket, window, "serving")
        self.seen["resumed"] += 1

    @rule(window=window_st)
    def pause(self, window: str) -> None:
        """暂停服务 (opens a closed window first)."""
        self.advance(5)
        clerk = self.clerk_for(window, False)
        coro = self.engine.act(window, "pause", clerk)
        if self.windows[window].paused:
            self.refused("already_paused", coro)
            return
        self.run(coro)
        self.open_window(window, clerk)
        self.windows[window].paused = True
        self.return_reserved(window)

    @rule(window=window_st)
    def unpause(self, window: str) -> None:
        self.advance(5)
        paused = [w for w in WINDOWS if self.windows[w].paused]
        if paused and int(window) % 4:
            window = paused[int(window) % len(paused)]
        coro = self.engine.act(window, "unpause", self.clerk_for(window, False))
        if not self.windows[window].paused:
            self.refused("not_paused", coro)
            return
        self.run(coro)
        self.windows[window].paused = False

    @rule(window=window_st, admin=st.booleans())
    def close(self, window: str, admin: bool) -> None:
        """The clerk leaves (refused with a ticket in hand); an admin may close any window."""
        self.advance(5)
        w = self.windows[window]
        coro = self.engine.act(window, "close", ADMIN if admin else self.clerk_for(window, False))
        if w.clerk is not None and w.token is not None:
            self.refused("window_busy", coro)
            return
        self.run(coro)
        if w.clerk is not None:
            self.return_reserved(window)
        self.windows[window] = Window()

    @rule(window=window_st)
    def another_clerk_is_refused(self, window: str) -> None:
        """A second clerk cannot act at a window someone holds."""
        if self.windows[window].clerk is None:
            return
        self.refused("window_taken", self.engine.act(window, "recall", self.clerk_for(window, True)))

    # --- time -------------------------------------------------------------------------

    @rule(seconds=st.integers(1, 600))
    def time_passes(self, seconds: int) -> None:
        self.advance(seconds)

    @precondition(lambda self: self.local().hour < 23 and self.steps_today >= 25)
    @rule()
    def cutoff(self) -> None:
        """The clock reaches the ticket cut-off (23:59): issuing stops, calling goes on."""
        local = self.local()
        target = local.replace(hour=23, minute=59, second=5)
        self.advance((target - local).total_seconds())
        assert not issuing_open(self.clock.now, self.hall)

    @precondition(lambda self: self.steps_today >= 35)
    @rule(lazy=st.booleans())
    def next_morning(self, lazy: bool) -> None:
        """The day resets at 03:00: leftovers expire, numbering restarts (explicitly, or lazily
        by the first action of the new day)."""
        local = self.local()
        target = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0)
        if local.hour < 3:
            target = local.replace(hour=9, minute=0, second=0)
        seconds = (target - local).total_seconds()
        if lazy:
            self.clock.advance(seconds)
            clerk = self.clerk_for("1", False)
            # the first dated action of the day rolls the hall over before it acts
            self.run(self.engine.act("1", "pause", clerk))
            self.rollover()
            self.open_window("1", clerk)
            self.windows["1"].paused = True
            self.return_reserved("1")
        else:
            self.advance(seconds)

    def local(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now, ZONE)

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def the_engine_agrees_with_the_model(self) -> None:
        DayMachine.steps_run += 1
        self.steps_today += 1
        today = self.today()
        answers = {a["ticket"]["token"]: a for a in self.run(self.engine.tickets([t.token for t in today]))}
        waiting = [t.waiting() for t in self.waiting()]
        for ticket in today:
            got = answers[ticket.token]
            status = got["ticket"]["status"]
            assert status == ticket.status, f"{ticket.number}: engine {status}, model {ticket.status}"
            if ticket.status in ("waiting", "called", "serving"):
                assert got["ticket"]["window"] == ticket.window, f"{ticket.number} at {got['ticket']['window']}"
            if ticket.status == "waiting":
                want = people_ahead(waiting, ticket.waiting(), TIERS)
                assert got["ahead"] == want, f"{ticket.number}: phone says {got['ahead']} ahead, rules {want}"
                assert got["eta_s"] >= 0
        snapshot = self.run(self.engine.snapshot())
        held: dict[str, str] = {}
        for state in snapshot["windows"]:
            model = self.windows[state["id"]]
            assert state["status"] == model.status, f"window {state['id']}: {state['status']} vs {model.status}"
            if state["ticket"] is not None:
                number = state["ticket"]["number"]
                assert number not in held, f"{number} held by windows {held[number]} and {state['id']}"
                held[number] = state["id"]
                assert state["ticket"]["status"] in ("called", "serving"), f"{number} at a window is {state}"
        in_hand = {t.number for t in self.tickets.values() if t.status in ("called", "serving")}
        assert set(held) == in_hand, f"held {sorted(held)}, model {sorted(in_hand)}"
        counts = Counter(s for t in self.waiting() for s in t.services)
        assert snapshot["waiting"] == {s: counts[s] for s in SERVICES}

    @invariant()
    def every_call_is_one_the_model_made(self) -> None:
        """The event stream has no gap, and each ticket was called (ticket.called) exactly as
        often as the model called it: no second call sneaks in (a recall is ticket.recalled)."""
        events = self.run(self.engine.events_after(self.events_seen))
        assert events is not None, "events were lost from the stream"
        for ev in events:
            assert ev["seq"] == self.events_seen + 1, f"seq {ev['seq']} after {self.events_seen}"
            self.events_seen = ev["seq"]
            if ev["type"] == "hall.reset":
                self.stream_day = ev["day"]
            elif ev["type"] == "ticket.called":
                self.called_events[(self.stream_day, ev["ticket"]["number"])] += 1
        for ticket in self.today():
            assert self.called_events[(ticket.day, ticket.number)] == ticket.calls, (
                f"{ticket.number} called {self.called_events[(ticket.day, ticket.number)]} times, model {ticket.calls}"
            )

    @invariant()
    def no_ticket_is_stranded(self) -> None:
        """A ticket reserved for a window waits only where a clerk is calling."""
        for ticket in self.waiting():
            if ticket.to_window is not None:
                w = self.windows[ticket.to_window]
                assert w.clerk is not None and not w.paused, (
                    f"{ticket.number} waits for window {ticket.to_window}, which is {w.status}: nobody can call it"
                )
            else:
                assert any(tier_of(tiers, ticket.services) is not None for tiers in TIERS.values())

    @invariant()
    def statistics_add_up(self) -> None:
        self.run(self.engine.count_stats())  # as a stats read does: count the stream first
        for day, counts in self.stats.items():
            fields = self.run(self.redis.hgetall(stats_key(self.hall.id, day)))
            when = date.fromisoformat(day)
            total: dict[str, Any] = dict(report({day: fields}, by="service", date_from=when, date_to=when)["total"])
            open_now = sum(1 for t in self.tickets.values() if t.day == day and t.status in OPEN)
            for metric in ("issued", "served", "no_show", "cancelled", "expired", "transferred"):
                assert total[metric] == counts[metric], f"{day} {metric}: stats {total[metric]}, model {counts[metric]}"
            closed = total["served"] + total["no_show"] + total["cancelled"] + total["expired"]
            assert total["issued"] == open_now + closed, f"{day}: issued {total['issued']} != {open_now} + {closed}"
            assert total["wait"]["n"] == counts["first_called"], f"{day}: {total['wait']['n']} waits measured"


def run_machine(url: str, examples: int, steps: int) -> None:
    DayMachine.redis_url = url
    run_state_machine_as_test(
        DayMachine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=False,
            # no "explain" phase: tracing every line of a failing run costs minutes on a real Redis
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        ),
    )


# A failing run shrinks for up to Hypothesis's 5 minutes to print the minimal sequence of steps.
@pytest.mark.timeout(420)
def test_the_day_model(redis_server: EmbeddedRedis) -> None:
    """Bounded for the default suite: a few dozen short days."""
    DayMachine.seen.clear()
    run_machine(redis_server.url, examples=12, steps=40)
    print(f"day model: {DayMachine.steps_run} steps", dict(sorted(DayMachine.seen.items())))


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_the_day_model_long(redis_server: EmbeddedRedis) -> None:
    """``HALLQ_MODEL_STEPS`` steps in all (default 10,000), in runs of 100 steps."""
    wanted = steps_wanted() or 10_000
    DayMachine.steps_run = 0
    DayMachine.seen.clear()
    started = time.monotonic()
    while DayMachine.steps_run < wanted:
        run_machine(redis_server.url, examples=max(1, (wanted - DayMachine.steps_run) // 100), steps=100)
    elapsed = time.monotonic() - started
    print(f"day model: {DayMachine.steps_run} steps checked in {elapsed:.0f} s", dict(sorted(DayMachine.seen.items())))
