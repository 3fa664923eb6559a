"""How good is the estimated wait? Simulate a hall day and compare estimates with actual waits.

A seeded, discrete-event simulation of a hall like the demo hall: 5 comprehensive windows (each
serves every service, calling priority tickets first, then in issue order), visitors arriving with
a morning peak, ~8 % priority tickets, ~10 % combined visits, true handling times drawn from
log-normal distributions whose means may differ from the hall file's expected minutes (as they do
in real halls), and two windows closed over lunch.

At each ticket's issue the estimate comes from ``server.eta.estimate_wait_s`` with what the server
knows at that moment (people ahead, the last 20 handling times per service, open windows); its
actual wait is the time until a window calls it. Reports the mean absolute error (MAE) of three
estimates: live rate with the services of the visitors ahead (what the server should call), live
rate assuming everyone ahead needs the ticket's own services, and the hall file's minutes alone.

Usage: python bench/bench_eta.py [--seed N] [--days N]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from collections import deque
from dataclasses import dataclass, field

from server.eta import estimate_wait_s

SERVICES = ("register", "transfer", "pension", "photo")
MIX = (0.35, 0.25, 0.25, 0.15)
EXPECTED_MIN = {"register": 8.0, "transfer": 12.0, "pension": 10.0, "photo": 3.0}  # hall file
# Reality: close to the hall file in one scenario, well off it in the other (a new service, a new
# form, a slow system day: the hall file is written once and rarely matches for long).
SCENARIOS = {
    "hall file close to reality": {"register": 7.0, "transfer": 13.0, "pension": 9.0, "photo": 2.5},
    "hall file 30-40 % off": {"register": 5.0, "transfer": 16.0, "pension": 13.0, "photo": 2.0},
}
WINDOWS = ("1", "2", "3", "4", "5")  # comprehensive windows (无差别受理): any window, any service
OPEN_S, CLOSE_S = 0, 8 * 3600  # issuing 09:00–17:00, windows keep calling until the queue is empty
LUNCH = (3 * 3600, 4 * 3600, {"3", "4"})  # windows 3 and 4 closed 12:00–13:00
RECENT = 20


@dataclass(order=True)
class Ticket:
    order: tuple[int, float]  # (0 priority / 1 ordinary, issued_at)
    id: int = field(compare=False)
    services: tuple[str, ...] = field(compare=False)
    issued: float = field(compare=False)
    estimates: dict[str, int] = field(compare=False, default_factory=dict)
    called: float | None = field(compare=False, default=None)


def arrival_rate(t: float) -> float:
    """Visitors per second: a morning peak, a lunch dip, a smaller afternoon peak (~220 a day)."""
    hour = t / 3600
    per_hour = 40 if hour < 2 else 30 if hour < 3 else 12 if hour < 4 else 30 if hour < 6 else 20
    return per_hour / 3600


def handling(rng: random.Random, services: tuple[str, ...], true_min: dict[str, float]) -> float:
    total = 0.0
    for s in services:
        mean = true_min[s] * 60
        sigma = 0.5
        total += rng.lognormvariate(mean_log(mean, sigma), sigma)
    return total


def mean_log(mean: float, sigma: float) -> float:
    """The log-normal ``mu`` that gives the distribution the arithmetic ``mean``."""
    return math.log(mean) - sigma**2 / 2


def window_open(w: str, t: float) -> bool:
    start, end, closed = LUNCH
    return not (w in closed and start <= t < end)


def simulate(seed: int, true_min: dict[str, float]) -> list[Ticket]:  # noqa: C901 — a simulated day: one branch per thing that happens, kept together to read as a script
    rng = random.Random(seed)
    tickets: list[Ticket] = []
    waiting: list[Ticket] = []  # kept sorted by order
    recent: dict[str, deque[float]] = {s: deque(maxlen=RECENT) for s in SERVICES}
    busy_until = dict.fromkeys(WINDOWS, 0.0)
    events: list[tuple[float, int, str, str]] = []  # (time, tiebreak, kind, window)
    tie = 0

    # Arrivals: a Poisson process thinned to the time-varying rate.
    peak = 80 / 3600
    t = float(OPEN_S)
    arrivals: list[float] = []
    while True:
        t += rng.expovariate(peak)
        if t >= CLOSE_S:
            break
        if rng.random() < arrival_rate(t) / peak:
            arrivals.append(t)
    for a in arrivals:
        heapq.heappush(events, (a, tie, "arrive", ""))
        tie += 1
    for w in WINDOWS:
        heapq.heappush(events, (0.0, tie, "free", w))
        tie += 1
    for w in LUNCH[2]:
        heapq.heappush(events, (float(LUNCH[1]), tie, "free", w))
        tie += 1

    while events:
        now, _, kind, w = heapq.heappop(events)
        if kind == "arrive":
            services: tuple[str, ...] = (rng.choices(SERVICES, MIX)[0],)
            if rng.random() < 0.10:
                services = ("register", "transfer")
            priority = rng.random() < 0.08
            tk = Ticket((0 if priority else 1, now), len(tickets), services, now)
            ahead = [o.services for o in waiting if o.order < tk.order]
            n_open = sum(1 for x in WINDOWS if window_open(x, now))
            open_w = dict.fromkeys(SERVICES, n_open)
            live = {s: list(v) for s, v in recent.items()}
            tk.estimates = {
                "live rate, services ahead": estimate_wait_s(
                    len(ahead), services, live, open_w, EXPECTED_MIN, ahead_services=ahead
                ),
                "live rate, own services": estimate_wait_s(len(ahead), services, live, open_w, EXPECTED_MIN),
                "hall file minutes only": estimate_wait_s(
                    len(ahead), services, {}, open_w, EXPECTED_MIN, ahead_services=ahead
                ),
            }
            tickets.append(tk)
            waiting.append(tk)
            waiting.sort()
            for x in WINDOWS:  # an idle window calls at once
                if busy_until[x] <= now and window_open(x, now):
                    heapq.heappush(events, (now, tie, "free", x))
                    tie += 1
        elif kind == "free":
            if busy_until[w] > now or not window_open(w, now):
                continue
            if not waiting:
                continue
            tk = waiting.pop(0)
            tk.called = now
            h = handling(rng, tk.services, true_min)
            for s in tk.services:
                recent[s].append(h / len(tk.services))
            busy_until[w] = now + h
            # A window closing for lunch finishes its visit, then waits for the lunch-end event.
            heapq.heappush(events, (now + h, tie, "free", w))
            tie += 1
    return tickets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.days} simulated days, seed {args.seed}, 5 windows (2 closed 12:00-13:00)")
    for name, true_min in SCENARIOS.items():
        errors: dict[str, list[float]] = {}
        waits: list[float] = []
        for day in range(args.days):
            for tk in simulate(args.seed + day, true_min):
                assert tk.called is not None
                actual = tk.called - tk.issued
                waits.append(actual)
                for label, est in tk.estimates.items():
                    errors.setdefault(label, []).append(est - actual)
        print(f"\n{name}: {len(waits)} tickets ({len(waits) / args.days:.0f}/day)")
        print(
            f"  actual wait: mean {statistics.fmean(waits) / 60:.1f} min, "
            f"p90 {statistics.quantiles(waits, n=10)[-1] / 60:.1f} min"
        )
        for label, errs in errors.items():
            mae = statistics.fmean(abs(e) for e in errs) / 60
            bias = statistics.fmean(errs) / 60
            print(f"  ETA {label:<27} MAE {mae:5.2f} min  (mean error {bias:+.2f} min)")


if __name__ == "__main__":
    main()
