"""The scripts' answers read into the API's dicts: Lua's tables, a ticket's ETA and place.

Pure functions of the hall and an answer (no I/O); :class:`server.queue.engine.Engine`
calls them after its one script.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from server.eta import estimate_wait_s, handling_time_s, visit_times
from server.hall_model import Hall
from server.queue.rules import tier_of


def place_of(hall: Hall, answer: Mapping[str, Any], eta: Mapping[str, Any], seq: int) -> dict[str, Any] | None:
    """A waiting ticket's place for :mod:`server.place`: its lines, and the ETA's inputs."""
    raw = answer.get("place")
    ticket = answer["ticket"]
    if not isinstance(raw, dict) or ticket["status"] != "waiting":
        return None
    lines = {line: [int(v[0]), int(v[1]), str(v[2])] for line, v in as_dict(raw.get("lines")).items()}
    recent = {s: [float(v) for v in as_list(vals)] for s, vals in as_dict(eta["recent"]).items()}
    expected = {s.id: s.expected_minutes for s in hall.services}
    groups = {str(v[2]) for v in lines.values()}
    to_window = ticket.get("to_window")
    able = [
        w.id
        for w in hall.windows
        if (w.id == to_window if to_window else tier_of(w.tiers, ticket["services"]) is not None)
    ]
    own, per_group = visit_times(ticket["services"], groups, recent, expected)
    return {
        "seq": seq,
        "number": ticket["number"],
        "score": str(raw["score"]),
        "lines": lines,
        "zero": [str(x) for x in as_list(raw.get("zero"))],
        "only": bool(raw.get("only")),
        "own_s": own,
        "group_s": per_group,
        "able": able,
        "open": [w for w in able if w in set(as_list(eta["open"]))],
    }


def with_eta(hall: Hall, answer: Mapping[str, Any]) -> dict[str, Any]:
    ticket = answer["ticket"]
    result = {"ticket": ticket, "ahead": answer["ahead"], "eta_s": 0}
    if "seq" in answer:
        result["seq"] = answer["seq"]
    if ticket["status"] != "waiting":
        return result
    eta = answer["eta"]
    recent = {s: [float(v) for v in as_list(vals)] for s, vals in as_dict(eta["recent"]).items()}
    open_ids = set(as_list(eta["open"]))
    # the open windows able to serve the ticket work through the visitors ahead (the same
    # windows whose calling order counts them as ahead: rules.people_ahead)
    to_window = ticket.get("to_window")
    able = sum(
        1
        for w in hall.windows
        if w.id in open_ids and (w.id == to_window if to_window else tier_of(w.tiers, ticket["services"]) is not None)
    )
    open_windows = {s: able for s in ticket["services"]}
    expected = {s.id: s.expected_minutes for s in hall.services}
    # the services of each visitor ahead: a photo ticket behind pension cases waits longer
    groups = as_dict(answer.get("ahead_groups"))
    ahead_services = [group.split(",") for group, n in sorted(groups.items()) for _ in range(int(n))]
    result["eta_s"] = estimate_wait_s(
        answer["ahead"],
        ticket["services"],
        recent,
        open_windows,
        expected,
        ahead_services=ahead_services if len(ahead_services) == answer["ahead"] else None,
    )
    return result


def snapshot_of(hall: Hall, answer: Mapping[str, Any], *, issuing: bool) -> dict[str, Any]:
    """The snapshot script's answer as ``GET /state`` answers it (see :meth:`Engine.snapshot`)."""
    ids = [s.id for s in hall.services]
    waiting = as_dict(answer["waiting"])
    since = as_dict(answer["waiting_since"])
    eta = as_dict(answer.get("eta"))
    recent_handle = {s: [float(v) for v in as_list(vals)] for s, vals in as_dict(eta.get("recent")).items()}
    open_ids = set(as_list(eta.get("open")))
    expected = {s.id: s.expected_minutes for s in hall.services}
    open_windows = {s: sum(1 for w in hall.windows if w.id in open_ids and s in w.services) for s in ids}
    return {
        "seq": answer["seq"],
        "windows": as_list(answer["windows"]),
        "waiting": {s: int(waiting.get(s, 0)) for s in ids},
        "waiting_since": {s: since.get(s) for s in ids},
        "recent": as_list(answer["recent"]),
        "notice": answer["notice"],
        "issuing_open": issuing,
        "served_today": answer["served_today"],
        "day": answer["day"],
        "no_shows": [{**item, "services": as_list(item.get("services"))} for item in as_list(answer.get("no_shows"))],
        "expected_wait_s": {
            s: estimate_wait_s(int(waiting.get(s, 0)), [s], recent_handle, open_windows, expected) for s in ids
        },
        "visit_s": {s: round(handling_time_s(recent_handle.get(s, ()), expected[s]), 1) for s in ids},
    }


def window_state_of(hall: Hall, services: Sequence[str], answer: Mapping[str, Any]) -> dict[str, Any]:
    """The window_state script's answer as a pad sees it (see :meth:`Engine.window_state`)."""
    waiting = as_dict(answer["waiting"])
    return {
        "seq": answer["seq"],
        "window": answer["window"],
        "waiting": {s: int(waiting.get(s, 0)) for s in services},
        "served_today": answer["served_today"],
        "queue": [{**item, "services": as_list(item["services"])} for item in as_list(answer["queue"])],
        "queue_total": int(answer["queue_total"]),
        "suspended": [{**item, "services": as_list(item["services"])} for item in as_list(answer["suspended"])],
        # the hall's rule, which the pad waits out itself after a call (the server refuses
        # with just_called); the process-wide override is for scripts calling at machine
        # speed, never for a person's pad
        "min_call_interval_s": hall.rules.min_call_interval_s,
    }


def as_list(value: Any) -> list[Any]:
    """Lua's cjson encodes an empty table as ``{}``; read it as an empty list."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """The other way round: an empty Lua table read where an object is meant."""
    return value if isinstance(value, dict) else {}
