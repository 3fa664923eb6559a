"""A phone's place in the hall, followed from the shared event frames (pure rules).

A visitor's phone that opts in (``/ws/tickets/{token}?follow=moves``) gets the same frame of
each hall event as the lobby screens, not a message computed for it. It reads its ticket once
(``GET /api/tickets/{token}``: ``place``, see :meth:`server.queue.engine.Engine.ticket`) and
then applies each event's ``moves`` itself: a call takes the head of a line out (everybody
behind moves up one), an issue or a requeue puts a ticket in. So a call costs O(lines) in
Redis and one shared write per phone, and the phone's ``ahead`` stays exact.

A place: ``seq`` (the hall's seq it is exact at), ``number`` (the ticket's), ``score`` (its
place in its line), ``lines`` {line: [mode, count, group]} (mode 2: every ticket of that line is
called before it; 1: those with a smaller score are), ``zero`` (lines where nobody counts),
``only`` (no other line can count), and the ETA's terms ``own_s``, ``group_s``, ``able``, ``open``.

:func:`step` answers None when the phone must read its ticket again: a gap in seq, an event
about its own ticket, a move in a line it does not know, a new day or a new hall file.
kiosk/static/place-rule.js is the same rule for the visitor page; tests/place_vectors.json
holds the two together.
"""

from __future__ import annotations

import copy
from typing import Any

#: Events after which a phone reads its ticket again: the lines themselves changed.
REREAD_TYPES = frozenset({"hall.reset", "hall.config"})
#: Window statuses in which a window calls nobody (the ETA counts the others).
NOT_CALLING = frozenset({"paused", "closed"})


def ahead(place: dict[str, Any]) -> int:
    """People ahead: the sum of the counts of its lines."""
    return sum(int(line[1]) for line in place["lines"].values())


def eta_s(place: dict[str, Any]) -> int:
    """Estimated seconds until the call (server.eta.estimate_wait_s with the counts it follows)."""
    work = sum(int(n) * float(place["group_s"].get(group, 0.0)) for _mode, n, group in place["lines"].values())
    windows = max(1, len(place["open"]))
    return max(0, round((work + 0.5 * float(place["own_s"])) / windows))


def step(place: dict[str, Any], event: dict[str, Any]) -> dict[str, Any] | None:
    """The place after ``event`` (a hall event as sent on sockets), or None to read it again.

    Events at or before ``place["seq"]`` leave it as it is; messages without a seq (status,
    ping) too.
    """
    seq = event.get("seq")
    if not isinstance(seq, int) or seq <= place["seq"]:
        return place
    if seq != place["seq"] + 1 or event.get("type") in REREAD_TYPES:
        return None
    ticket = event.get("ticket")
    if isinstance(ticket, dict) and ticket.get("number") == place["number"]:
        return None
    new = copy.deepcopy(place)
    new["seq"] = seq
    own = float(place["score"])
    for line, score, d in event.get("moves") or ():
        held = new["lines"].get(line)
        if held is not None:
            if held[0] == 2 or float(score) < own:
                held[1] = int(held[1]) + int(d)
        elif not (new["only"] or line in new["zero"]):
            return None
    window = event.get("window")
    state = event.get("window_state")
    if window in new["able"] and isinstance(state, dict) and "status" in state:
        calling = state["status"] not in NOT_CALLING
        if calling and window not in new["open"]:
            new["open"] = [*new["open"], window]
        elif not calling and window in new["open"]:
            new["open"] = [w for w in new["open"] if w != window]
    return new
