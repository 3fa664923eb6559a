"""Duration histograms ("sketches") for wait and handling times.

The queue scripts count each measured duration into a bucket of a per-day Redis
hash (field ``…|wait_h:B`` / ``…|handle_h:B``), so medians and 90th percentiles
over any date range and any group are exact sums of integers: no samples are
kept, and merging days, windows or clerks is plain addition.

Buckets are named by their lower bound, in seconds:

* below 10 minutes, one bucket per second (``B = s``);
* from 10 minutes to 1 hour, 10-second buckets (``B = 600 + (s-600)//10*10``);
* from 1 hour on, 1-minute buckets (``B = s//60*60``).

So a percentile is exact to the second for short waits and at most 10 s / 60 s
low for long ones, with at most 600 + 300 + (hours × 60) distinct fields.
The Lua scripts compute the same function; ``tests/test_stats_pure.py`` pins it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction

__all__ = ["bucket", "merge", "percentile", "total"]

#: Below this many seconds every second is its own bucket.
FINE_LIMIT_S = 600
#: Below this many seconds buckets are 10 s wide; above, 60 s wide.
COARSE_LIMIT_S = 3600


def bucket(seconds: int) -> int:
    """Return the lower bound, in seconds, of the bucket that holds ``seconds``.

    Negative durations (clock skew between processes) count as 0.
    """
    s = max(0, int(seconds))
    if s < FINE_LIMIT_S:
        return s
    if s < COARSE_LIMIT_S:
        return FINE_LIMIT_S + ((s - FINE_LIMIT_S) // 10) * 10
    return (s // 60) * 60


def total(hist: Mapping[int, int]) -> int:
    """Return the number of durations counted in ``hist``."""
    return sum(c for c in hist.values() if c > 0)


def merge(hists: Iterable[Mapping[int, int]]) -> dict[int, int]:
    """Return the bucket-wise sum of ``hists`` (a new dict; inputs are not changed).

    Buckets whose sum is zero or negative are left out, so an empty result means
    "nothing measured".
    """
    out: dict[int, int] = {}
    for hist in hists:
        for b, c in hist.items():
            out[b] = out.get(b, 0) + c
    return {b: c for b, c in out.items() if c > 0}


def percentile(hist: Mapping[int, int], q: float) -> int:
    """Return the nearest-rank ``q``-quantile of ``hist`` as a bucket lower bound.

    ``q`` is a fraction in [0, 1] (0.5 median, 0.9 for p90).  With N counted
    durations the answer is the bucket holding the ``ceil(q·N)``-th smallest one
    (the 1st for ``q == 0``).  ``q`` is read as the decimal it prints as, so
    ``0.9 × 10`` is rank 9, not 10 through float rounding.

    Raises ``ValueError`` for an empty histogram or ``q`` outside [0, 1].
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    n = total(hist)
    if n == 0:
        raise ValueError("percentile of an empty histogram")
    rank = max(1, math.ceil(Fraction(repr(q)) * n))
    seen = 0
    for b in sorted(hist):
        c = hist[b]
        if c <= 0:
            continue
        seen += c
        if seen >= rank:
            return b
    # Unreachable: the loop ends with seen == n >= rank.
    raise AssertionError("rank beyond histogram total")
