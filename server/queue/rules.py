"""The queue's ordering rules as plain functions, free of I/O.

The Lua scripts in ``lua/`` implement the same rules inside Redis; the tests run
both on random queues and check they agree. A *line* is where a waiting ticket
stands: the tickets transferred to one window (``to_window``), or the tickets of
one service combination (``group``) in one class: ``x`` transferred to a
service, ``p`` priority, ``a`` a checked-in appointment (预约), ``o`` ordinary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from server.queue.constants import REQUEUE_STEP

CLASS_RANK = {"x": 0, "p": 1, "a": 2, "o": 3}

#: A window's service tiers, best first.
Tiers = Sequence[Sequence[str]]
#: Every window of a hall: id → tiers.
HallWindows = Mapping[str, Tiers]
#: (class rank, tier, score, token): a window calls the least.
CallKey = tuple[int, int, float, str]


def group_of(services: Iterable[str]) -> str:
    """The line group of a service combination: its ids sorted and joined."""
    return ",".join(sorted(services))


@dataclass(frozen=True)
class WaitingTicket:
    """A waiting ticket as the ordering rules see it."""

    token: str
    services: tuple[str, ...]
    cls: str
    score: float
    to_window: str | None = None

    @property
    def group(self) -> str:
        return group_of(self.services)


def tier_of(tiers: Tiers, services: Iterable[str]) -> int | None:
    """The tier at which a window with ``tiers`` takes ``services``; None if it cannot."""
    worst = -1
    for service in services:
        found = next((i for i, tier in enumerate(tiers) if service in tier), None)
        if found is None:
            return None
        worst = max(worst, found)
    return worst


def call_key(ticket: WaitingTicket, window_id: str, tiers: Tiers) -> CallKey | None:
    """Where ``ticket`` stands in the calling order of window ``window_id``; None if it cannot call it.

    The key is (class rank, tier, score, token): a ticket transferred to this window has rank 0 and
    tier -1 (before everything), one transferred to a service rank 0, a priority ticket 1, a
    checked-in appointment 2, an ordinary (walk-in) one 3; the tier is the window's tier for the
    ticket's services; the score is its place
    in line (issue order); the token breaks ties so the order is total. A window calls the least key.
    """
    if ticket.to_window is not None:
        return (0, -1, ticket.score, ticket.token) if ticket.to_window == window_id else None
    tier = tier_of(tiers, ticket.services)
    if tier is None:
        return None
    return (CLASS_RANK[ticket.cls], tier, ticket.score, ticket.token)


def next_for_window(waiting: Iterable[WaitingTicket], window_id: str, tiers: Tiers) -> WaitingTicket | None:
    """The ticket a window calls next, or None.

    Order: tickets transferred to this window, then those transferred to one of
    its services, then priority tickets, then checked-in appointments, then
    ordinary ones; within a class the
    window's tiers in order; within a tier first come, first served across
    services (``score``); ties broken by token so the choice is deterministic.
    A ticket covering several services goes only to windows serving all of them.
    """
    best: CallKey | None = None
    chosen: WaitingTicket | None = None
    for ticket in waiting:
        key = call_key(ticket, window_id, tiers)
        if key is not None and (best is None or key < best):
            best, chosen = key, ticket
    return chosen


def called_before(other: WaitingTicket, ticket: WaitingTicket, windows: HallWindows) -> bool:
    """Whether some window able to serve ``ticket`` would call ``other`` before it."""
    for window_id, tiers in windows.items():
        mine = call_key(ticket, window_id, tiers)
        if mine is None:
            continue
        theirs = call_key(other, window_id, tiers)
        if theirs is not None and theirs < mine:
            return True
    return False


def competes_with(other: WaitingTicket, ticket: WaitingTicket, windows: HallWindows) -> bool:
    """Whether some window able to serve ``ticket`` holds ``other`` in the same class and tier,
    so that only their places in line (scores) decide which of the two it calls first."""
    for window_id, tiers in windows.items():
        mine = call_key(ticket, window_id, tiers)
        theirs = call_key(other, window_id, tiers) if mine is not None else None
        if mine is not None and theirs is not None and theirs[:2] == mine[:2]:
            return True
    return False


def people_ahead(waiting: Iterable[WaitingTicket], ticket: WaitingTicket, windows: HallWindows) -> int:
    """How many waiting tickets stand before ``ticket``: the phone's "ahead".

    A ticket counts when at least one window able to serve ``ticket`` (``windows``: every window
    of the hall, id → tiers) would call it first, by :func:`call_key`. So in a hall of
    comprehensive windows every line counts (the merged order across services), a ticket
    transferred to a window counts only the tickets transferred there before it, and a priority or
    transferred ticket counts for everyone behind it. Tickets only a window that cannot serve
    ``ticket`` takes first do not count.
    """
    return sum(1 for o in waiting if o.token != ticket.token and called_before(o, ticket, windows))


def requeue_score(
    waiting: Iterable[WaitingTicket], ticket: WaitingTicket, windows: HallWindows, places_back: int
) -> float:
    """The score that puts a no-show ``ticket`` back behind the next ``places_back`` tickets.

    ``ticket`` carries its old score (its place before it was called); ``waiting`` are the other
    waiting tickets. The ticket keeps its class (a priority ticket stays before ordinary ones, an
    ordinary one never jumps over a priority one) and everyone it stood behind stays ahead of it.
    It then goes behind the next ``places_back`` tickets that the windows able to serve it would
    call after it (:func:`competes_with`, in score order across every line: the hall's merged
    order), so ``people_ahead`` grows by exactly ``places_back``; when fewer are behind it, behind
    the last of them; when none, it keeps its place. The new score lies strictly between two
    neighbours (or after the last by less than one, so a ticket issued later still comes after it).
    """
    if places_back <= 0:
        return ticket.score
    behind = sorted(
        (
            o
            for o in waiting
            if o.token != ticket.token and competes_with(o, ticket, windows) and not called_before(o, ticket, windows)
        ),
        key=lambda o: (o.score, o.token),
    )
    if not behind:
        return ticket.score
    if len(behind) > places_back:
        return (behind[places_back - 1].score + behind[places_back].score) / 2
    return after_last(behind[-1].score)


def after_last(score: float) -> float:
    """A score after ``score`` and before the next whole number, the next issued ticket's score:
    :data:`~server.queue.constants.REQUEUE_STEP` after it, or half way to that number when closer.

    Half way every time ran out of float precision: about the 50th no-show in a row sent behind the
    last ticket got the next whole number itself, tied with the ticket issued next, and which
    of the two came first fell to their random tokens (seen in the day model as a requeued
    ticket with one more ahead than its rule). A fixed step lasts 2**20 requeues.
    """
    return min(score + REQUEUE_STEP, (score + math.floor(score) + 1) / 2)
