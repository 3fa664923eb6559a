"""Estimated wait for a waiting ticket.

A pure function of the live service rate: how long recent visits of the ticket's services took at a
window, and how many open windows serve them. With no recent data it falls back to the hall file's
expected minutes; with a little data it blends the two, so one unusually long (or short) visit early
in the morning does not swing every estimate in the hall.

Model: the windows that can serve the ticket work through the visitors in front of it in parallel,
each visit taking its services' mean handling time ``h``. Whoever is at a window now is on average
half-way through, so the ticket is called after about ``(ahead + 0.5) * h / windows``, or, when the
services of the visitors ahead are known, ``(sum of their h + 0.5 * own h) / windows``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence

#: Weight of the hall file's expected time, counted as this many observed visits. With fewer recent
#: samples than this the configured figure still dominates; with many the live rate takes over.
PRIOR_WEIGHT = 3.0

#: Recent handling times above this multiple of their median are clipped to it before averaging:
#: a clerk who forgot to press 办结 (complete) for an hour must not make every estimate hours long.
OUTLIER_FACTOR = 4.0

#: Expected handling time assumed for a service the hall file does not know (minutes).
DEFAULT_EXPECTED_MINUTES = 10.0


def handling_time_s(recent: Sequence[float], expected_minutes: float) -> float:
    """Mean handling time of one visit in seconds, blending recent samples with the hall file's.

    ``recent`` are handling times (call → done) in seconds of the latest visits; samples that are
    not positive are ignored. With no samples the answer is ``expected_minutes * 60``.
    """
    prior = max(0.0, expected_minutes) * 60.0
    samples = [s for s in recent if s > 0]
    if samples:
        cap = OUTLIER_FACTOR * statistics.median(samples)
        samples = [min(s, cap) for s in samples]
    return (PRIOR_WEIGHT * prior + sum(samples)) / (PRIOR_WEIGHT + len(samples))


def estimate_wait_s(
    ahead: int,
    services: Sequence[str],
    recent_handle_s: Mapping[str, Sequence[float]],
    open_windows: Mapping[str, int],
    expected_minutes: Mapping[str, float],
    ahead_services: Sequence[Sequence[str]] | None = None,
) -> int:
    """Estimated seconds until a ticket with ``ahead`` visitors in front of it is called.

    - ``services``: the ticket's services (a combined visit may have several).
    - ``recent_handle_s``: per service, recent handling times in seconds (any order, any length);
      a combined visit's time is best recorded split evenly over its services.
    - ``open_windows``: per service, how many open (not paused, not closed) windows serve it.
    - ``expected_minutes``: per service, the hall file's expected handling time.
    - ``ahead_services``: optional, the services of each visitor ahead (one entry per visitor). When
      given, the work ahead is the sum of their visits' times (a combined visit counts each of its
      services); this matters in a hall whose windows serve every service, where a quick photo
      ticket waits behind slow pension cases. Without it every visitor ahead is assumed to need the
      ticket's own services.

    The serving capacity is the smallest open-window count among the ticket's services (a combined
    visit needs a window that handles all of them); with no open window at all the estimate assumes
    one will open rather than answering "forever". The visit in progress at each window is taken to
    be half done. Answers whole seconds, ≥ 0.
    """
    if ahead < 0:
        raise ValueError("ahead must be >= 0")
    if not services:
        raise ValueError("a ticket has at least one service")

    def visit_s(s: str) -> float:
        return handling_time_s(recent_handle_s.get(s, ()), expected_minutes.get(s, DEFAULT_EXPECTED_MINUTES))

    own = statistics.fmean(visit_s(s) for s in services)
    if ahead_services is None:
        work = ahead * own
    else:
        # one mean per service, not per visitor: a queue of thousands costs one pass
        times = {s: visit_s(s) for s in {s for visitor in ahead_services for s in visitor}}
        work = sum(sum(times[s] for s in visitor) for visitor in ahead_services)
    windows = max(1, min(open_windows.get(s, 0) for s in services))
    return max(0, round((work + 0.5 * own) / windows))


def visit_times(
    services: Sequence[str],
    groups: Iterable[str],
    recent_handle_s: Mapping[str, Sequence[float]],
    expected_minutes: Mapping[str, float],
) -> tuple[float, dict[str, float]]:
    """The terms of :func:`estimate_wait_s` a phone needs to estimate its own wait as people ahead
    come and go: the ticket's own mean visit time, and per group of visitors ahead (services
    comma-joined) the time of one such visit. Then
    ``eta = round((sum(count[g] * group_s[g]) + 0.5 * own) / max(1, open able windows))``.
    """

    def visit_s(s: str) -> float:
        return handling_time_s(recent_handle_s.get(s, ()), expected_minutes.get(s, DEFAULT_EXPECTED_MINUTES))

    own = statistics.fmean(visit_s(s) for s in services)
    return own, {g: sum(visit_s(s) for s in g.split(",")) for g in groups}
