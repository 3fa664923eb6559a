"""Statistics for the hall manager: pure functions over the per-day counter hashes.

Every action's events are counted from the hall's stream (the counting step,
``lua/stats.lua`` with the rule of :mod:`server.stats_rule`; run before any read) into one
Redis hash per hall and business day, ``hallq:{HALL}:stats:YYYY-MM-DD``, with integer
fields ``DIM|VALUE|METRIC``:

* DIM|VALUE is ``all|all``, ``service|<id>``, ``window|<id>``, ``clerk|<staff id>``
  or ``hour|00``…``hour|23`` (local hour of the event);
* METRIC is a counter (``issued``, ``served``, ``no_show``, ``cancelled``,
  ``expired``, ``transferred``), a timing total (``wait_sum``, ``handle_sum``,
  seconds), a histogram bucket (``wait_h:B``, ``handle_h:B``, see
  :mod:`server.sketch`; its total is the timing's count) or a rating count
  (``rating_1`` … ``rating_5``, ``rated``). Days counted before the histograms
  also hold ``wait_n`` / ``handle_n``, which a report still reads.

This module never talks to Redis.  The server fetches the hashes of a date range
(one ``HGETALL`` per day, pipelined: :func:`day_keys`) and hands them over as
``{day: {field: value}}``; :func:`report` sums them into figures per group;
:mod:`server.stats_csv` flattens a report, or a day's tickets, for download.

Everything is plain data so the same numbers reach the admin charts (JSON) and a
spreadsheet (CSV), and tests can state exact expected figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final, Literal, TypedDict, get_args

from server import sketch
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal

__all__ = [
    "BY_VALUES",
    "MAX_RANGE_DAYS",
    "By",
    "Group",
    "Report",
    "StatsQuery",
    "StatsQueryError",
    "day_keys",
    "days_between",
    "parse_query",
    "report",
    "stats_key",
]

By = Literal["service", "window", "clerk", "hour", "day", "month"]
BY_VALUES: Final[tuple[str, ...]] = get_args(By)

#: Longest date range one request may cover.  A day's hash holds a few thousand
#: fields in a busy hall, so a year is already ~10⁶ fields to fetch and sum.
MAX_RANGE_DAYS: Final = 366

COUNTERS: Final = ("issued", "served", "no_show", "cancelled", "expired", "transferred")
SCORES: Final = ("1", "2", "3", "4", "5")
#: Scores that count as satisfied for ``satisfaction_rate`` (满意, 非常满意).
SATISFIED: Final = ("4", "5")


# --------------------------------------------------------------------------- output shapes


class Timing(TypedDict):
    """Durations in seconds: count, arithmetic mean (0.1 s), median and p90 (bucket bounds)."""

    n: int
    mean: float | None
    median: int | None
    p90: int | None


#: Counts per score "1"…"5", ``rated`` in all, and the share of 4–5 among the rated
#: (4 decimals; ``None`` when nobody rated).  Functional form: the keys are digits.
Ratings = TypedDict(
    "Ratings",
    {
        "1": int,
        "2": int,
        "3": int,
        "4": int,
        "5": int,
        "rated": int,
        "satisfaction_rate": float | None,
    },
)


#: Appointments (预约) of the slots on the group's days: booked (cancellations included),
#: cancelled, checked in, missed (counted at the rollover after their day; see
#: docs/protocol.md). A service or day group; other groupings show zeros.
APPOINTMENT_COUNTERS: Final = ("booked", "cancelled", "checked_in", "missed")


class AppointmentFigures(TypedDict):
    booked: int
    cancelled: int
    checked_in: int
    missed: int


class Group(TypedDict):
    """Figures of one group (a service, window, clerk, hour, day or month)."""

    key: str
    issued: int
    served: int
    no_show: int
    cancelled: int
    expired: int
    transferred: int
    wait: Timing
    handle: Timing
    ratings: Ratings
    appointments: AppointmentFigures


#: A statistics answer: the range, the grouping, one entry per group, the hall total.
#: Functional form because "from" is a Python keyword.
Report = TypedDict(
    "Report",
    {"from": str, "to": str, "by": str, "groups": list[Group], "total": Group},
)


# --------------------------------------------------------------------------- query


class StatsQueryError(Refusal):
    """A stats request that cannot be answered (``invalid_date``, ``invalid_range`` …)."""


@dataclass(frozen=True)
class StatsQuery:
    """A validated ``GET /api/halls/{hall}/stats`` query."""

    date_from: date
    date_to: date
    by: By
    format: Literal["json", "csv"]

    @property
    def days(self) -> list[str]:
        """Every business day of the range, oldest first, as ``YYYY-MM-DD``."""
        return days_between(self.date_from, self.date_to)


def _parse_date(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StatsQueryError("invalid_date", f"{name} must be a date YYYY-MM-DD, got {text!r}") from None


def parse_query(params: Mapping[str, str], *, today: date) -> StatsQuery:
    """Validate the query parameters ``from``, ``to``, ``by`` and ``format``.

    Defaults: ``to`` = ``today`` (the hall's local date), ``from`` = the first day of
    ``to``'s month, ``by`` = ``service``, ``format`` = ``json``.  Raises
    :class:`StatsQueryError` (``invalid_date``, ``invalid_range``, ``range_too_long``,
    ``invalid_by``, ``invalid_format``) for anything else.
    """
    date_to = _parse_date("to", params["to"]) if params.get("to") else today
    date_from = _parse_date("from", params["from"]) if params.get("from") else date_to.replace(day=1)
    if date_from > date_to:
        raise StatsQueryError("invalid_range", f"from {date_from} is after to {date_to}")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise StatsQueryError("range_too_long", f"a report covers at most {MAX_RANGE_DAYS} days")
    by = params.get("by") or "service"
    if by not in BY_VALUES:
        raise StatsQueryError("invalid_by", f"by must be one of {', '.join(BY_VALUES)}")
    fmt = params.get("format") or "json"
    if fmt not in ("json", "csv"):
        raise StatsQueryError("invalid_format", "format must be json or csv")
    return StatsQuery(date_from, date_to, by, fmt)  # type: ignore[arg-type]


def stats_key(hall: str, day: str | date) -> str:
    """Return the Redis key of a hall's counters for one business day."""
    d = day.isoformat() if isinstance(day, date) else day
    return f"{keys_prefix(hall)}stats:{d}"


def days_between(date_from: date, date_to: date) -> list[str]:
    """Return every day from ``date_from`` to ``date_to`` inclusive as ``YYYY-MM-DD``."""
    n = (date_to - date_from).days + 1
    return [(date_from + timedelta(days=i)).isoformat() for i in range(max(0, n))]


def day_keys(hall: str, date_from: date, date_to: date) -> list[tuple[str, str]]:
    """Return ``(day, redis key)`` for each day of the range, for one pipelined fetch."""
    return [(d, stats_key(hall, d)) for d in days_between(date_from, date_to)]


# --------------------------------------------------------------------------- aggregation


@dataclass
class _Tally:
    """Summed raw counters of one group."""

    counts: dict[str, int] = field(default_factory=dict)
    wait_h: dict[int, int] = field(default_factory=dict)
    handle_h: dict[int, int] = field(default_factory=dict)

    def add(self, metric: str, value: int) -> None:
        if metric.startswith("wait_h:") or metric.startswith("handle_h:"):
            name, _, b = metric.partition(":")
            try:
                bound = int(b)
            except ValueError:
                return  # not a bucket we know; a newer writer's field
            hist = self.wait_h if name == "wait_h" else self.handle_h
            hist[bound] = hist.get(bound, 0) + value
        else:
            self.counts[metric] = self.counts.get(metric, 0) + value

    def absorb(self, other: _Tally) -> None:
        for m, v in other.counts.items():
            self.counts[m] = self.counts.get(m, 0) + v
        for b, c in other.wait_h.items():
            self.wait_h[b] = self.wait_h.get(b, 0) + c
        for b, c in other.handle_h.items():
            self.handle_h[b] = self.handle_h.get(b, 0) + c


def text_of(v: Any) -> str:
    """A Redis value (bytes or not) as text."""
    return v.decode() if isinstance(v, bytes | bytearray) else str(v)


def _parse_day(fields: Mapping[Any, Any]) -> dict[tuple[str, str], _Tally]:
    """Split one day's hash into tallies per (dim, value).

    Field names and values may be ``str`` or ``bytes`` (whatever the Redis client
    returns).  Fields that are not ``DIM|VALUE|METRIC`` are skipped, so counters a
    newer version adds do not break an older reader; a non-integer value in a
    well-formed field raises ``ValueError`` because it means corrupt data.
    """
    out: dict[tuple[str, str], _Tally] = {}
    for raw_name, raw_value in fields.items():
        name = text_of(raw_name)
        dim, sep1, rest = name.partition("|")
        value, sep2, metric = rest.rpartition("|")
        if not (sep1 and sep2 and dim and metric):
            continue
        try:
            n = int(text_of(raw_value))
        except ValueError:
            raise ValueError(f"stats field {name!r} holds {raw_value!r}, not an integer") from None
        out.setdefault((dim, value), _Tally()).add(metric, n)
    return out


def _mean(total: int, n: int) -> float | None:
    return round(total / n, 1) if n > 0 else None


def _timing(n: int, total: int, hist: Mapping[int, int]) -> Timing:
    has = sketch.total(hist) > 0
    return {
        "n": n,
        "mean": _mean(total, n),
        "median": sketch.percentile(hist, 0.5) if has else None,
        "p90": sketch.percentile(hist, 0.9) if has else None,
    }


def _figures(key: str, t: _Tally) -> Group:
    c = t.counts
    rated = c.get("rated", 0)
    satisfied = sum(c.get(f"rating_{s}", 0) for s in SATISFIED)
    ratings: Ratings = {
        "1": c.get("rating_1", 0),
        "2": c.get("rating_2", 0),
        "3": c.get("rating_3", 0),
        "4": c.get("rating_4", 0),
        "5": c.get("rating_5", 0),
        "rated": rated,
        "satisfaction_rate": round(satisfied / rated, 4) if rated > 0 else None,
    }
    return {
        "key": key,
        "issued": c.get("issued", 0),
        "served": c.get("served", 0),
        "no_show": c.get("no_show", 0),
        "cancelled": c.get("cancelled", 0),
        "expired": c.get("expired", 0),
        "transferred": c.get("transferred", 0),
        # the count is the histogram's total (older data also kept an explicit *_n counter)
        "wait": _timing(c.get("wait_n", sketch.total(t.wait_h)), c.get("wait_sum", 0), t.wait_h),
        "handle": _timing(c.get("handle_n", sketch.total(t.handle_h)), c.get("handle_sum", 0), t.handle_h),
        "ratings": ratings,
        "appointments": {
            "booked": c.get("appointments_booked", 0),
            "cancelled": c.get("appointments_cancelled", 0),
            "checked_in": c.get("appointments_checked_in", 0),
            "missed": c.get("appointments_missed", 0),
        },
    }


def _natural(key: str) -> tuple[int, int, str]:
    # Windows "2" before "10"; ids that are not numbers after all numbers, by text.
    return (0, int(key), key) if key.isdigit() else (1, 0, key)


def _months(days: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for d in days:
        seen.setdefault(d[:7], None)
    return list(seen)


def report(
    days: Mapping[Any, Mapping[Any, Any]],
    *,
    by: str,
    date_from: date,
    date_to: date,
    keys: Sequence[str] | None = None,
) -> Report:
    """Sum the day hashes of ``date_from``…``date_to`` into figures per group.

    ``days`` maps ``YYYY-MM-DD`` (``str`` or :class:`~datetime.date`) to that day's
    hash; days missing from it, or with an empty hash, count as zero and days
    outside the range are ignored.

    Groups, in order:

    * ``service`` / ``window`` / ``clerk`` / ``hour``: the values of that dimension.
      ``keys`` (e.g. the hall's service ids in configuration order) come first and
      always appear, with zero figures when nothing happened; any other value found
      follows in natural order (``"2"`` before ``"10"``).  Without ``keys`` only
      values found appear.
    * ``day``: every day of the range; ``month``: every ``YYYY-MM`` the range
      touches; both from the ``all|all|…`` fields.

    Returns a JSON-able dict ``{"from", "to", "by", "groups": [Group…], "total": Group}``
    where ``total`` is the ``all|all`` figures of the whole range.  A group is
    ``{"key", "issued", "served", "no_show", "cancelled", "expired", "transferred",
    "wait": {"n","mean","median","p90"}, "handle": {…}, "ratings": {"1".."5",
    "rated", "satisfaction_rate"}}``; times are seconds, ``None`` where nothing was
    measured.  Raises ``ValueError`` for an unknown ``by``.
    """
    if by not in BY_VALUES:
        raise ValueError(f"by must be one of {BY_VALUES}, got {by!r}")
    in_range = days_between(date_from, date_to)
    wanted = set(in_range)
    parsed: dict[str, dict[tuple[str, str], _Tally]] = {}
    for raw_day, fields in days.items():
        d = raw_day.isoformat() if isinstance(raw_day, date) else text_of(raw_day)
        if d in wanted:
            parsed[d] = _parse_day(fields)

    total = _Tally()
    for per_dim in parsed.values():
        total.absorb(per_dim.get(("all", "all"), _Tally()))

    tallies: dict[str, _Tally] = {}
    if by in ("day", "month"):
        group_keys = in_range if by == "day" else _months(in_range)
        tallies = {k: _Tally() for k in group_keys}
        for d, per_dim in parsed.items():
            tallies[d if by == "day" else d[:7]].absorb(per_dim.get(("all", "all"), _Tally()))
        ordered = group_keys
    else:
        for per_dim in parsed.values():
            for (dim, value), t in per_dim.items():
                if dim == by:
                    tallies.setdefault(value, _Tally()).absorb(t)
        first = list(dict.fromkeys(keys or ()))
        for k in first:
            tallies.setdefault(k, _Tally())
        ordered = first + sorted((k for k in tallies if k not in set(first)), key=_natural)

    return {
        "from": date_from.isoformat(),
        "to": date_to.isoformat(),
        "by": by,
        "groups": [_figures(k, tallies[k]) for k in ordered],
        "total": _figures("all", total),
    }
