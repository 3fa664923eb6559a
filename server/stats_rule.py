"""What an event counts in the statistics: the rule ``lua/stats.lua`` applies (pure).

The queue actions write no counters. An event that counts carries its facts in a ``stats``
field: ``day`` (the business day it counts in), and where they apply ``hour`` (local hour,
``"HH"``), ``window``, ``clerk``, ``services`` (when they differ from its ticket's: a
transfer counts under the services it leaves), ``wait_s`` (a first call) and ``handle_s``
(a completion). The counting step reads the events after ``stats_seq`` from the stream and
adds up what each counts, with this rule; the tests run both on the same events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from server.sketch import bucket

#: The metric each counted event type adds one to (durations, ratings and appointments aside).
COUNTED = {
    "ticket.issued": "issued",
    "ticket.cancelled": "cancelled",
    "ticket.completed": "served",
    "ticket.no_show": "no_show",
    "ticket.transferred": "transferred",
    "ticket.expired": "expired",
    "ticket.rated": "rated",
}


def counts_of(event: dict[str, Any]) -> tuple[str, Counter[str]] | None:
    """``(day, {field: increment})`` that ``event`` counts, or None when it counts nothing.

    Fields are ``DIM|VALUE|METRIC`` (docs/stats.md) under ``all|all``, each service (the
    facts' own, else the ticket's or the appointment's), and the facts' hour, window and
    clerk where given. The metric comes from the type (:data:`COUNTED`; ``appointment.X``
    counts ``appointments_X``; a rating also ``rating_SCORE``); ``wait_s`` and ``handle_s``
    add to ``wait_sum`` / ``handle_sum`` and one to their histogram bucket.
    """
    facts = event.get("stats")
    if not isinstance(facts, dict):
        return None
    holder = event.get("ticket") or event.get("appointment") or {}
    dims = ["all|all"]
    dims += [f"service|{s}" for s in facts.get("services") or holder.get("services") or []]
    dims += [f"{dim}|{facts[dim]}" for dim in ("hour", "window", "clerk") if facts.get(dim) is not None]
    metrics: Counter[str] = Counter()
    kind = str(event["type"])
    if kind.startswith("appointment."):
        metrics["appointments_" + kind.removeprefix("appointment.")] += 1
    if kind in COUNTED:
        metrics[COUNTED[kind]] += 1
    if kind == "ticket.rated":
        metrics[f"rating_{event['score']}"] += 1
    for name in ("wait", "handle"):
        seconds = facts.get(f"{name}_s")
        if seconds is not None:
            metrics[f"{name}_sum"] += int(seconds)
            metrics[f"{name}_h:{bucket(int(seconds))}"] += 1
    fields: Counter[str] = Counter({f"{d}|{m}": n for d in dims for m, n in metrics.items()})
    return str(facts["day"]), fields


def count_events(events: Iterable[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Every day's counters from a run of events: ``{day: {field: value}}``."""
    days: dict[str, Counter[str]] = {}
    for event in events:
        counted = counts_of(event)
        if counted is not None:
            day, fields = counted
            days.setdefault(day, Counter()).update(fields)
    return days
