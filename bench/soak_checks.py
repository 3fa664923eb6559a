"""The soak's records and its verdict: what each screen applied, what the driver tallied, what is judged.

- :class:`Screen`: one lobby screen's record; :meth:`Screen.apply` takes each message of its
  display socket: a snapshot syncs it (one after the first is counted), a seq it holds is
  dropped, a seq other than the next is a gap; ``ticket.issued`` and ``ticket.called`` are
  counted per number, and the longest delay from an event's ``at``.
- :class:`Tally`: what the driver saw: acknowledged tickets and calls by ``request_id``,
  resends, phones, failures, kills, ``/healthz`` polls, RSS samples.
- :func:`tree_rss`: RSS in MB of ``hallq serve``'s processes (parent, workers, redis-server,
  the rest), read from /proc.
- :func:`verdict`: lost, double, screens, healthz and RSS from the above, checked against the
  store; :func:`summary`: that result in one line.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The real process tree, as the chaos tests see it (/proc): one way to find workers and Redis.
from tests.processes import children, redis_child, worker_children


@dataclass
class Screen:
    """One lobby screen's record."""

    applied: int = 0
    #: Whether it has had its first snapshot: from then on ``applied`` is a seq it holds, 0
    #: included (a hall with no event yet), and every reconnect asks ``since=applied``.
    synced: bool = False
    gaps: list[tuple[int, int]] = field(default_factory=list)
    snapshots: int = 0
    reconnects: int = 0
    longest_cut_s: float = 0.0
    max_delay_ms: float = 0.0
    issued: Counter[str] = field(default_factory=Counter)
    called: Counter[str] = field(default_factory=Counter)

    def apply(self, message: dict[str, Any]) -> None:
        """One message from the display socket: a snapshot syncs, a seq is applied once, in order (a jump is a gap)."""
        kind = message.get("type")
        if kind == "snapshot":
            if self.synced:
                self.snapshots += 1  # a screen that kept its seq should never need one
            self.synced = True
            self.applied = max(self.applied, int(message["seq"]))
            return
        if kind in ("status", "ping") or "seq" not in message:
            return
        seq = int(message["seq"])
        if seq <= self.applied:
            return  # clients drop a seq they have applied
        # at seq 0 too: a screen that connected before the day's first event and was cut before
        # it arrived once reconnected without since= and took a new snapshot, so the soak
        # counted that ticket's event as never shown (a loss of the tally, not of the screen)
        if self.synced and seq != self.applied + 1:
            self.gaps.append((self.applied, seq))
        self.applied = seq
        if "at" in message:
            self.max_delay_ms = max(self.max_delay_ms, time.time() * 1000 - float(message["at"]))
        number = (message.get("ticket") or {}).get("number")
        if kind == "ticket.issued" and number:
            self.issued[number] += 1
        elif kind == "ticket.called" and number:
            self.called[number] += 1


@dataclass
class Tally:
    """What the driver saw over the day, for the verdict."""

    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # request_id -> ticket
    calls: dict[str, str] = field(default_factory=dict)  # request_id -> number called
    issue_retries: int = 0
    call_retries: int = 0
    phone_reconnects: int = 0
    phones_connected: int = 0
    phones_max: int = 0
    phone_frames: int = 0
    failures: list[str] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    health_ok: int = 0
    health_total: int = 0
    health_longest_down_s: float = 0.0
    rss: list[dict[str, Any]] = field(default_factory=list)


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(parent: int) -> dict[str, Any]:
    """RSS in MB of hallq serve's processes: the parent, its workers, its redis-server, the rest."""
    workers = worker_children(parent)
    redis = redis_child(parent)
    others = [c for c in children(parent) if c not in workers and c != redis]
    others += [g for w in workers for g in children(w)]  # e.g. a worker's speech process
    sizes = {
        "parent": rss_kb(parent) / 1024,
        "workers": sum(rss_kb(w) for w in workers) / 1024,
        "redis": (rss_kb(redis) / 1024) if redis else 0.0,
        "others": sum(rss_kb(o) for o in others) / 1024,
    }
    return {**{k: round(v, 1) for k, v in sizes.items()}, "total": round(sum(sizes.values()), 1)}


def verdict(
    options: argparse.Namespace,
    tally: Tally,
    screens: list[Screen],
    final_seq: int,
    known: Callable[[str], bool],
    rss_start: dict[str, Any],
    rss_end: dict[str, Any],
    healthy: bool,
    heal_s: float,
    screens_behind: int,
) -> dict[str, Any]:
    """The soak's result: what the tally, the screens and the store say once the day is over.

    ``known(token)``: whether the store answers for that ticket. Lost: an acknowledged
    ticket the store does not know or the first screen never showed issued, an
    acknowledged call it never showed. Double: a number acknowledged twice, an issue or a
    call shown twice, an issue shown without an acknowledged request, a number called by
    two acknowledged calls. ``screens_behind``: screens still running when they were
    stopped, added to those whose last applied seq is below ``final_seq``.
    """
    acked = [t["number"] for t in tally.tickets.values()]
    not_in_store = [t["number"] for t in tally.tickets.values() if not known(t["token"])]
    seen = screens[0].issued if screens else Counter(acked)
    called = screens[0].called if screens else Counter(tally.calls.values())
    # each kind named, so a loss says where it happened
    lost_which = {
        "not_in_store": not_in_store,
        "issued_never_shown": sorted(set(acked) - set(seen)),
        "called_never_shown": sorted(set(tally.calls.values()) - set(called)),
    }
    lost = sum(len(v) for v in lost_which.values())
    double = (
        len(acked)
        - len(set(acked))
        + sum(c - 1 for c in seen.values() if c > 1)
        + len(set(seen) - set(acked))
        + sum(c - 1 for c in called.values() if c > 1)
        + len(tally.calls)
        - len(set(tally.calls.values()))
    )
    return {
        "options": {k: v for k, v in vars(options).items() if k != "keep"},
        "speed": round(options.day_hours * 3600 / options.duration, 1),
        "tickets_acknowledged": len(acked),
        "calls_acknowledged": len(tally.calls),
        "issue_retries": tally.issue_retries,
        "call_retries": tally.call_retries,
        "lost": lost,
        "lost_which": {k: v for k, v in lost_which.items() if v},
        "double": double,
        "failures": tally.failures[:20],
        "kills": tally.kills,
        "kills_worker": sum(k["target"] == "worker" for k in tally.kills),
        "kills_redis": sum(k["target"] == "redis" for k in tally.kills),
        "phones": {
            "max_connected": tally.phones_max,
            "reconnects": tally.phone_reconnects,
            "frames": tally.phone_frames,
        },
        "screens": {
            "count": len(screens),
            "gaps": sum(len(s.gaps) for s in screens),
            "gap_examples": [g for s in screens for g in s.gaps][:10],
            "snapshots_after_first": sum(s.snapshots for s in screens),
            "behind_at_end": screens_behind + sum(s.applied < final_seq for s in screens),
            "final_seq": final_seq,
            "reconnects": sum(s.reconnects for s in screens),
            "longest_cut_s": round(max((s.longest_cut_s for s in screens), default=0), 2),
            "max_event_delay_ms": round(max((s.max_delay_ms for s in screens), default=0)),
        },
        "healthz": {
            "availability_pct": round(100 * tally.health_ok / max(1, tally.health_total), 2),
            "polls": tally.health_total,
            "longest_outage_s": round(tally.health_longest_down_s, 1),
            "healthy_at_end": healthy,
            "heal_after_day_s": round(heal_s, 1),
        },
        "rss_mb": {
            "start": rss_start,
            "end": rss_end,
            "max_total": max(r["total"] for r in tally.rss),
            "series": tally.rss,  # every 10 s: the shape of any growth
        },
    }


def summary(result: dict[str, Any]) -> str:
    o, s, h, m = result["options"], result["screens"], result["healthz"], result["rss_mb"]
    return (
        f"soak {o['duration']} s (×{result['speed']}), {o['phones']} phones, {o['screens']} screens, "
        f"kills {result['kills_worker']} worker + {result['kills_redis']} redis: "
        f"{result['tickets_acknowledged']} tickets, {result['calls_acknowledged']} calls, "
        f"lost {result['lost']}, double {result['double']}; screens: {s['gaps']} gaps, "
        f"{s['snapshots_after_first']} snapshots, longest cut {s['longest_cut_s']} s, "
        f"max event delay {s['max_event_delay_ms']} ms; healthz {h['availability_pct']} % "
        f"(longest outage {h['longest_outage_s']} s, healthy at end: {h['healthy_at_end']}); "
        f"RSS {m['start']['total']} -> {m['end']['total']} MB (max {m['max_total']})"
    )
