"""The day simulator's verdict: pure functions over what was recorded (no I/O).

``bench/day.py`` records four things while a simulated day runs, and this module turns
them into the report:

* ``events`` — every hall event, in ``seq`` order, from a display socket of its own
  (the truth: what the engine did);
* ``visitors`` — per visitor: the ticket, what their phone was told (each ``ticket`` frame),
  whether they reached a window and were started, the ticket's status at the end;
* ``lobby_calls`` — each ``ticket.called`` / ``ticket.recalled`` event the lobby page
  handled, with whether its "now calling" box showed it right after;
* ``played`` — the lobby announcer's ``window.hallqPlaybackLog`` (every ``play()``).

A visitor is **lost** when the day did not end for them the way a hall intends: served
(started at a window, then done), cancelled, closed as no-show, or expired by design. So
a ticket closed as "done" although its visitor never reached a window (a double tap closed
it), a ticket still waiting/called/suspended when the hall has drained (stranded), a
served visitor whose phone never showed the call, and a ticket called to a second window
while still in the hands of the first are all lost.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

CALL_TYPES = ("ticket.called", "ticket.recalled")
#: Events that take a ticket out of a window's hands (so a later call elsewhere is legitimate).
RELEASES = (
    "ticket.requeued",
    "ticket.transferred",
    "ticket.suspended",
    "ticket.completed",
    "ticket.no_show",
    "ticket.cancelled",
    "ticket.expired",
)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile, ``None`` for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-int(q * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "mean": round(statistics.fmean(values), 2) if values else None,
        "p90": round(p, 2) if (p := percentile(values, 0.9)) is not None else None,
        "max": round(max(values), 2) if values else None,
    }


def double_calls(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tickets called while another window still held them, or called after they were closed."""
    held: dict[str, str] = {}
    closed: set[str] = set()
    found = []
    for event in events:
        ticket = event.get("ticket") or {}
        number = ticket.get("number")
        if not number:
            continue
        kind = event.get("type")
        window = str(event.get("window") or "")
        if kind == "ticket.called":
            if number in closed:
                found.append({"number": number, "window": window, "seq": event["seq"], "why": "called after closed"})
            elif number in held and held[number] != window:
                found.append(
                    {
                        "number": number,
                        "window": window,
                        "seq": event["seq"],
                        "why": f"still held by window {held[number]}",
                    }
                )
            held[number] = window
        elif kind == "ticket.resumed":
            held[number] = window
        elif kind in RELEASES:
            held.pop(number, None)
            if kind in ("ticket.completed", "ticket.no_show", "ticket.cancelled", "ticket.expired"):
                closed.add(number)
    return found


def noshow_returns(events: list[dict[str, Any]], move_back: int) -> list[dict[str, Any]]:
    """Each no-show requeue: how many others were called before it came back, and whether too soon.

    Every window of the demo hall can serve every service, so every other waiting ticket is
    one "the windows able to serve it would call" (for a priority or transferred ticket, only
    the other priority and transferred ones: ordinary tickets are called after them). The rule
    wants at least
    ``min(move_back, others waiting at the requeue)`` other calls before it is called again.
    """
    waiting: set[str] = set()
    ahead_class: set[str] = set()  # priority and transferred tickets: called before ordinary ones
    open_requeues: dict[str, dict[str, Any]] = {}
    out = []
    for event in events:
        ticket = event.get("ticket") or {}
        number = ticket.get("number")
        kind = event.get("type")
        if not number:
            continue
        if kind == "ticket.called":
            for other, record in open_requeues.items():
                if other != number:
                    record["others_called"] += 1
            if number in open_requeues:
                record = open_requeues.pop(number)
                record["too_soon"] = record["others_called"] < min(move_back, record["others_waiting"])
                out.append(record)
            waiting.discard(number)
        elif kind in ("ticket.issued", "ticket.transferred"):
            waiting.add(number)
            if ticket.get("priority") or kind == "ticket.transferred":
                ahead_class.add(number)
        elif kind == "ticket.requeued":
            # A priority (or transferred) ticket goes back among its own class, which ordinary ones never pass.
            pool = waiting & ahead_class if number in ahead_class else waiting
            open_requeues[number] = {
                "number": number,
                "seq": event["seq"],
                "others_waiting": len(pool - {number}),
                "others_called": 0,
                "too_soon": False,
            }
            waiting.add(number)
        elif kind in ("ticket.cancelled", "ticket.suspended", "ticket.resumed", "ticket.expired"):
            waiting.discard(number)
    return out


def phone_after_noshow(
    events: list[dict[str, Any]], visitors: list[dict[str, Any]], returns: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For each no-show requeue: the "ahead" the visitor's phone showed next vs others really called first."""
    by_number = {v.get("number"): v for v in visitors if v.get("number")}
    at_of = {e["seq"]: e["at"] for e in events}
    out = []
    for record in returns:
        visitor = by_number.get(record["number"])
        if not visitor:
            continue
        at = at_of.get(record["seq"], 0) / 1000
        frames = [f for f in visitor.get("phone") or [] if (f.get("t") or 0) >= at - 0.05]
        waiting = next((f for f in frames if (f.get("ticket") or {}).get("status") == "waiting"), None)
        if waiting is not None:
            out.append(
                {
                    "number": record["number"],
                    "phone_ahead": waiting.get("ahead"),
                    "others_called_first": record["others_called"],
                }
            )
    return out


def classify_visitor(visitor: dict[str, Any]) -> tuple[str, str | None]:
    """(outcome, why lost or None) for one visitor at the end of the day."""
    status = visitor.get("final_status")
    if visitor.get("token") is None:
        return "not_issued", None
    phone = visitor.get("phone") or []
    saw_call = any((f.get("ticket") or {}).get("status") == "called" for f in phone)
    if status == "done":
        if not visitor.get("started"):
            return "lost", "closed as done before its visitor reached a window"
        if not saw_call:
            return "lost", "served, but the phone never showed the call"
        return "served", None
    if status == "cancelled":
        return "cancelled", None
    if status == "no_show":
        return "no_show", None
    if status == "expired":
        return "expired", None
    return "lost", f"left {status} with the hall drained (stranded)"


def call_audit(
    events: list[dict[str, Any]], lobby_calls: list[dict[str, Any]], played: list[dict[str, Any]]
) -> dict[str, Any]:
    """Calls shown on the lobby vs spoken by it, per call (keyed by the event's seq)."""
    calls = [e for e in events if e.get("type") in CALL_TYPES]
    shown = {c["seq"]: c for c in lobby_calls if c.get("shown")}
    handled = {c["seq"]: c for c in lobby_calls}
    parts: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for clip in played:
        if clip.get("seq") is not None and clip.get("started_at") is not None:
            parts[int(clip["seq"])].append(clip)
    spoken_seqs = {seq for seq, clips in parts.items() if any(c.get("kind") == "voice" for c in clips)}
    per_call = []
    unheard = []
    replaced = 0
    silences = []
    for index, call in enumerate(calls):
        seq = call["seq"]
        window = str(call.get("window"))
        clips = sorted(parts.get(seq, []), key=lambda c: c["started_at"])
        spoken = seq in spoken_seqs
        record: dict[str, Any] = {
            "seq": seq,
            "type": call["type"],
            "number": (call.get("ticket") or {}).get("number"),
            "window": window,
            "shown": seq in shown,
            "handled": seq in handled,
            "spoken": spoken,
            "parts": len(clips),
            "voices": sorted({c.get("lang") for c in clips if c.get("kind") == "voice"}),
        }
        if clips:
            record["silence_s"] = round((clips[0]["started_at"] - call["at"]) / 1000, 2)
            silences.append(record["silence_s"])
        if not spoken:
            later = [c for c in calls[index + 1 :] if str(c.get("window")) == window and c["seq"] in spoken_seqs]
            if later:
                record["replaced_by"] = later[0]["seq"]
                replaced += 1
            else:
                unheard.append(record)
        per_call.append(record)
    longest = max(per_call, key=lambda r: r.get("silence_s", -1), default=None)
    return {
        "calls": len(calls),
        "shown": sum(1 for r in per_call if r["shown"]),
        "spoken": len(spoken_seqs & {c["seq"] for c in calls}),
        "replaced_by_newer_call_at_same_window": replaced,
        "unheard": len(unheard),
        "unheard_calls": unheard[:20],
        "not_shown": [r for r in per_call if not r["shown"]][:20],
        "parts_spoken": dict(sorted(Counter(r["parts"] for r in per_call).items())),
        "longest_silence_s": longest.get("silence_s") if longest else None,
        "longest_silence_call": longest,
        "silence_s": summary(silences),
        "per_call": per_call,
    }


def report(
    *,
    events: list[dict[str, Any]],
    visitors: list[dict[str, Any]],
    lobby_calls: list[dict[str, Any]],
    played: list[dict[str, Any]],
    skipped: list[dict[str, Any]],
    refusals: dict[str, int],
    move_back: int,
    scale: float,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """The day's report (see the module docstring for what counts as lost)."""
    outcomes: Counter[str] = Counter()
    lost = []
    for visitor in visitors:
        outcome, why = classify_visitor(visitor)
        outcomes[outcome] += 1
        if why:
            lost.append(
                {
                    "number": visitor.get("number"),
                    "kind": visitor.get("kind"),
                    "why": why,
                    "final_status": visitor.get("final_status"),
                }
            )
    doubles = double_calls(events)
    for double in doubles:
        lost.append(
            {"number": double["number"], "kind": None, "why": f"called twice: {double['why']}", "final_status": None}
        )
    first_call: dict[str, int] = {}
    issued_at: dict[str, int] = {}
    for event in events:
        ticket = event.get("ticket") or {}
        number = ticket.get("number")
        if event.get("type") == "ticket.issued" and number:
            issued_at[number] = int(ticket.get("issued_at") or event["at"])
        if event.get("type") == "ticket.called" and number and number not in first_call:
            first_call[number] = int(event["at"])
    waits = [(first_call[n] - issued_at[n]) / 1000 for n in first_call if n in issued_at]
    returns = noshow_returns(events, move_back)
    audit = call_audit(events, lobby_calls, played)
    lost_why = Counter(
        item["why"].split(":")[0] if item["why"].startswith("called twice") else item["why"] for item in lost
    )
    return {
        "meta": meta,
        "visitors": len(visitors),
        "issued": sum(1 for v in visitors if v.get("token")),
        "served": outcomes["served"],
        "cancelled": outcomes["cancelled"],
        "no_show_closed": outcomes["no_show"],
        "expired": outcomes["expired"],
        "lost": len(lost),
        "lost_by_reason": dict(lost_why),
        "lost_tickets": lost[:40],
        "wait_s": summary(waits),
        "wait_hall_min": {
            k: (round(v / 60 / scale, 1) if isinstance(v, float) else v) for k, v in summary(waits).items()
        },
        "noshow_requeues": len(returns),
        "noshow_called_back_too_soon": [r for r in returns if r["too_soon"]],
        "phone_after_noshow": phone_after_noshow(events, visitors, returns),
        "calls": {k: v for k, v in audit.items() if k != "per_call"},
        "skipped_by_announcer": dict(Counter(s.get("reason") for s in skipped)),
        "refused": dict(sorted(refusals.items())),
        "per_call": audit["per_call"],
    }


def headline(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    calls = result["calls"]
    wait = result["wait_s"]
    lines = [
        f"visitors {result['visitors']}  issued {result['issued']}  served {result['served']}  "
        f"cancelled {result['cancelled']}  no-show {result['no_show_closed']}  expired {result['expired']}  "
        f"LOST {result['lost']} {result['lost_by_reason']}",
        f"wait (issue→first call) mean {wait['mean']} s  p90 {wait['p90']} s  "
        f"(hall minutes: mean {result['wait_hall_min']['mean']}, p90 {result['wait_hall_min']['p90']})",
        f"no-show requeues {result['noshow_requeues']}, called back too soon "
        f"{len(result['noshow_called_back_too_soon'])}",
        f"calls {calls['calls']}: shown {calls['shown']}, spoken {calls['spoken']}, replaced by a newer call at the "
        f"same window {calls['replaced_by_newer_call_at_same_window']}, UNHEARD {calls['unheard']}; "
        f"parts spoken per call {calls['parts_spoken']}",
        f"silence call→announcement: mean {calls['silence_s']['mean']} s, p90 {calls['silence_s']['p90']} s, "
        f"longest {calls['longest_silence_s']} s",
        f"announcer skipped {result['skipped_by_announcer']}",
        f"refused {result['refused']}",
        f"phases {result['meta'].get('phases')}",
    ]
    return "\n".join(lines)
