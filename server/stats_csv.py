"""Statistics for download: a :func:`server.stats.report` and a day's tickets as CSV text.

Pure functions (RFC 4180, ``\\r\\n`` line ends); the same numbers as the admin charts' JSON.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from server.stats import COUNTERS, SCORES, Report, text_of

__all__ = ["HISTORY_COLUMNS", "history_csv", "report_csv"]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def report_csv(rep: Report) -> str:
    """Flatten a :func:`report` answer into CSV text (RFC 4180, ``\\r\\n`` line ends).

    One header row, then one row per group (the hall total is not repeated).  The
    first column is named after the grouping (``window``, ``month`` …); then
    ``issued, served, no_show, cancelled, expired, transferred, wait_n,
    wait_mean_s, wait_median_s, wait_p90_s, handle_n, handle_mean_s,
    handle_median_s, handle_p90_s, rating_1 … rating_5, rated, satisfaction_rate``.
    Unmeasured values are empty cells.
    """
    header = [str(rep["by"]), *COUNTERS]
    for t in ("wait", "handle"):
        header += [f"{t}_n", f"{t}_mean_s", f"{t}_median_s", f"{t}_p90_s"]
    header += [f"rating_{s}" for s in SCORES] + ["rated", "satisfaction_rate"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for g in rep["groups"]:
        row: list[Any] = [g["key"], g["issued"], g["served"], g["no_show"]]
        row += [g["cancelled"], g["expired"], g["transferred"]]
        for t in ("wait", "handle"):
            tm = g["wait"] if t == "wait" else g["handle"]
            row += [tm["n"], tm["mean"], tm["median"], tm["p90"]]
        r = g["ratings"]
        row += [r["1"], r["2"], r["3"], r["4"], r["5"], r["rated"], r["satisfaction_rate"]]
        w.writerow([_cell(v) for v in row])
    return buf.getvalue()


HISTORY_COLUMNS: Final = (
    "number",
    "services",
    "priority",
    "status",
    "window",
    "clerk",
    "issued_at",
    "called_at",
    "done_at",
    "wait_s",
    "handle_s",
    "rating",
)


def _ms(v: Any) -> int | None:
    if v is None or v == "" or v == b"":
        return None
    return int(text_of(v))


def _local_iso(ms: int | None, tz: tzinfo) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="seconds")


def _clerk_id(v: Any) -> str:
    if isinstance(v, Mapping):
        return text_of(v.get("id") or "")
    return "" if v is None else text_of(v)


def history_csv(rows: Iterable[Mapping[str, Any]], *, tz: tzinfo | str = "UTC") -> str:
    """Return one day's tickets as CSV text, one row per ticket in the given order.

    Columns: number, services (ids joined by ``+``), priority (1/0), status,
    window, clerk (staff id; a ``{"id", "name"}`` dict is reduced to its id),
    issued_at, called_at, done_at (ISO 8601 local time of ``tz`` — pass the hall's
    timezone — from epoch ms), wait_s, handle_s, rating (score or empty).

    ``wait_s`` / ``handle_s`` are taken from the row when present, otherwise
    computed as called−issued and done−called in whole seconds (empty when a time
    is missing).  Only these columns are written: tokens, ID-number hashes or
    anything else in the rows never reach the file.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HISTORY_COLUMNS)
    for row in rows:
        services = row.get("services") or ()
        if isinstance(services, str | bytes):
            services = [text_of(services)]
        issued, called, done = (_ms(row.get(k)) for k in ("issued_at", "called_at", "done_at"))
        wait = row.get("wait_s")
        if wait is None and issued is not None and called is not None:
            wait = max(0, (called - issued) // 1000)
        handle = row.get("handle_s")
        if handle is None and called is not None and done is not None:
            handle = max(0, (done - called) // 1000)
        w.writerow(
            [
                text_of(row.get("number", "")),
                "+".join(text_of(s) for s in services),
                _cell(bool(row.get("priority"))),
                _cell(row.get("status")),
                _cell(row.get("window")),
                _clerk_id(row.get("clerk")),
                _local_iso(issued, zone),
                _local_iso(called, zone),
                _local_iso(done, zone),
                _cell(wait),
                _cell(handle),
                _cell(row.get("rating")),
            ]
        )
    return buf.getvalue()
