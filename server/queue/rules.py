"""The queue's ordering rules as plain functions, free of I/O.

The Lua scripts in ``lua/`` implement the same rules inside Redis; the tests run
both on random queues and check they agree. A *line* is where a waiting ticket
stands: the tickets transferred to one window (``to_window``), or the tickets of
one service combination (``group``) in one class: ``x`` transferred to a
service, ``p`` priority, ``o`` ordinary.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CLASS_RANK = {"x": 0, "p": 1, "o": 2}


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


def tier_of(tiers: Sequence[Sequence[str]], services: Iterable[str]) -> int | None:
    """The tier at which a window with ``tiers`` takes ``services``; None if it cannot."""
    worst = -1
    for service in services:
        found = next((i for i, tier in enumerate(tiers) if service in tier), None)
        if found is None:
            return None
        worst = max(worst, found)
    return worst


def next_for_window(
    waiting: Iterable[WaitingTicket], window_id: str, tiers: Sequence[Sequence[str]]
) -> WaitingTicket | None:
    """The ticket a window calls next, or None.

    Order: tickets transferred to this window, then those transferred to one of
    its services, then priority tickets, then ordinary ones; within a class the
    window's tiers in order; within a tier first come, first served across
    services (``score``); ties broken by token so the choice is deterministic.
    A ticket covering several services goes only to windows serving all of them.
    """
    best: tuple[int, int, float, str] | None = None
    chosen: WaitingTicket | None = None
    for ticket in waiting:
        if ticket.to_window is not None:
            if ticket.to_window != window_id:
                continue
            key = (0, -1, ticket.score, ticket.token)
        else:
            tier = tier_of(tiers, ticket.services)
            if tier is None:
                continue
            key = (CLASS_RANK[ticket.cls], tier, ticket.score, ticket.token)
        if best is None or key < best:
            best, chosen = key, ticket
    return chosen


def people_ahead(waiting: Iterable[WaitingTicket], ticket: WaitingTicket) -> int:
    """How many waiting tickets stand before ``ticket``.

    Counted in every line that shares a service with it: all tickets of a better
    class, and those of its own class placed before it. A ticket transferred to a
    window counts only the tickets transferred there before it.
    """
    count = 0
    mine = set(ticket.services)
    for other in waiting:
        if other.token == ticket.token:
            continue
        if ticket.to_window is not None:
            if other.to_window == ticket.to_window and other.score < ticket.score:
                count += 1
            continue
        if other.to_window is not None or not mine.intersection(other.services):
            continue
        rank, own_rank = CLASS_RANK[other.cls], CLASS_RANK[ticket.cls]
        if rank < own_rank or (rank == own_rank and other.score < ticket.score):
            count += 1
    return count


def requeue_score(line_scores: Sequence[float], original: float, move_back: int) -> float:
    """The score that puts a no-show ticket ``move_back`` places further back in its line.

    ``line_scores`` are the scores of the line without the ticket. It goes behind
    the ``move_back`` tickets that stood behind its old place ``original``, or to
    the end of the line when fewer are left.
    """
    if move_back <= 0:
        return original
    scores = sorted(line_scores)
    ahead = bisect.bisect_left(scores, original)
    j = ahead + move_back - 1
    if j + 1 < len(scores):
        return (scores[j] + scores[j + 1]) / 2
    if j < len(scores):
        return scores[j] + 1
    if scores and scores[-1] >= original:
        return scores[-1] + 1
    return original
