"""Pure statistics: histogram buckets and percentiles, reports over day hashes, CSV.

The day hashes here are written by a small reference recorder that follows the
counter layout the queue scripts use (docs/stats.md); every expected figure is
worked out by hand from the scenario below, not by calling the code under test.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server import sketch, stats, stats_csv

# --------------------------------------------------------------------------- sketch


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, 0),
        (0, 0),
        (1, 1),
        (599, 599),
        (600, 600),
        (609, 600),
        (615, 610),
        (3599, 3590),
        (3600, 3600),
        (3659, 3600),
        (3660, 3660),
        (4000, 3960),
        (86399, 86340),
    ],
)
def test_bucket_lower_bounds(seconds: int, expected: int) -> None:
    assert sketch.bucket(seconds) == expected


def test_bucket_is_monotone_and_never_above_the_value() -> None:
    previous = 0
    for s in range(0, 8000):
        b = sketch.bucket(s)
        assert previous <= b <= s
        assert s - b < (1 if s < 600 else 10 if s < 3600 else 60)
        previous = b


def test_percentile_nearest_rank() -> None:
    hist = {s: 1 for s in range(1, 11)}  # 1..10 once each
    assert sketch.percentile(hist, 0.5) == 5
    assert sketch.percentile(hist, 0.9) == 9
    assert sketch.percentile(hist, 0.0) == 1
    assert sketch.percentile(hist, 1.0) == 10
    assert sketch.percentile({42: 7}, 0.9) == 42
    # Counts, not distinct values: 3×10 s and 1×700 s → median 10, p90 700.
    assert sketch.percentile({700: 1, 10: 3}, 0.5) == 10
    assert sketch.percentile({700: 1, 10: 3}, 0.9) == 700


def test_percentile_rank_is_not_spoiled_by_float_rounding() -> None:
    # 0.9 * 70 == 63.00000000000001 in floats; the 63rd value is still p90.
    hist = {s: 1 for s in range(1, 71)}
    assert sketch.percentile(hist, 0.9) == 63


def test_percentile_rejects_empty_and_bad_quantiles() -> None:
    with pytest.raises(ValueError):
        sketch.percentile({}, 0.5)
    with pytest.raises(ValueError):
        sketch.percentile({5: 0}, 0.5)
    with pytest.raises(ValueError):
        sketch.percentile({5: 1}, 1.5)


def test_merge_adds_bucketwise_and_drops_empty_buckets() -> None:
    a = {10: 2, 600: 1}
    b = {10: 1, 3600: 4, 20: 0}
    assert sketch.merge([a, b]) == {10: 3, 600: 1, 3600: 4}
    assert a == {10: 2, 600: 1}  # inputs untouched
    assert sketch.merge([]) == {}
    assert sketch.total({10: 3, 600: 1}) == 4


# --------------------------------------------------------------------------- scenario


class DayRecorder:
    """Writes counters the way the docs say the queue scripts do (one day's hash)."""

    def __init__(self) -> None:
        self.fields: Counter[str] = Counter()

    def _inc(self, dims: list[str], metric: str, n: int = 1) -> None:
        for d in dims:
            self.fields[f"{d}|{metric}"] += n

    @staticmethod
    def _dims(services: list[str], hour: str, window: str | None, clerk: str | None) -> list[str]:
        dims = [f"service|{s}" for s in services]
        if window is not None:
            dims.append(f"window|{window}")
        if clerk is not None:
            dims.append(f"clerk|{clerk}")
        return [*dims, f"hour|{hour}", "all|all"]

    def issue(self, services: list[str], hour: str) -> None:
        self._inc(self._dims(services, hour, None, None), "issued")

    def first_call(self, services: list[str], hour: str, window: str, clerk: str, wait_s: int) -> None:
        dims = self._dims(services, hour, window, clerk)
        self._inc(dims, "wait_n")
        self._inc(dims, "wait_sum", wait_s)
        self._inc(dims, f"wait_h:{sketch.bucket(wait_s)}")

    def done(self, services: list[str], hour: str, window: str, clerk: str, handle_s: int) -> None:
        dims = self._dims(services, hour, window, clerk)
        self._inc(dims, "served")
        self._inc(dims, "handle_n")
        self._inc(dims, "handle_sum", handle_s)
        self._inc(dims, f"handle_h:{sketch.bucket(handle_s)}")

    def outcome(
        self,
        metric: str,
        services: list[str],
        hour: str,
        window: str | None = None,
        clerk: str | None = None,
    ) -> None:
        self._inc(self._dims(services, hour, window, clerk), metric)

    def rate(self, services: list[str], hour: str, window: str, clerk: str, score: int) -> None:
        dims = self._dims(services, hour, window, clerk)
        self._inc(dims, f"rating_{score}")
        self._inc(dims, "rated")

    def as_redis(self) -> dict[str, str]:
        """What HGETALL returns with decode_responses=True."""
        return {k: str(v) for k, v in self.fields.items()}


def scenario() -> dict[str, dict[str, str]]:
    """Three days; the report ranges below cover the last two (a month boundary)."""
    d0 = DayRecorder()  # outside every range used: must never count
    d0.issue(["register"], "09")
    d0.first_call(["register"], "09", "1", "s01", 5)
    d0.done(["register"], "09", "1", "s01", 5)

    d1 = DayRecorder()  # 2026-07-31
    # A001 register: wait 30 s, handled 300 s at window 1 by s01, rated 5.
    d1.issue(["register"], "09")
    d1.first_call(["register"], "09", "1", "s01", 30)
    d1.done(["register"], "09", "1", "s01", 300)
    d1.rate(["register"], "09", "1", "s01", 5)
    # A002 register+transfer (one ticket, two services): wait 700 s, handled 4000 s at
    # window 2 by s02, rated 2 (bad).
    d1.issue(["register", "transfer"], "09")
    d1.first_call(["register", "transfer"], "10", "2", "s02", 700)
    d1.done(["register", "transfer"], "11", "2", "s02", 4000)
    d1.rate(["register", "transfer"], "11", "2", "s02", 2)
    # B001 transfer: called after 45 s at window 1, did not come.
    d1.issue(["transfer"], "10")
    d1.first_call(["transfer"], "10", "1", "s01", 45)
    d1.outcome("no_show", ["transfer"], "10", "1", "s01")
    # C001 pension: cancelled at the desk while waiting.
    d1.issue(["pension"], "10")
    d1.outcome("cancelled", ["pension"], "10")

    d2 = DayRecorder()  # 2026-08-01
    # D001 photo: wait 10 s, handled 60 s at window 5 by s03, rated 4.
    d2.issue(["photo"], "08")
    d2.first_call(["photo"], "08", "5", "s03", 10)
    d2.done(["photo"], "08", "5", "s03", 60)
    d2.rate(["photo"], "08", "5", "s03", 4)
    # A001 register: never called, expired at the end of the day.
    d2.issue(["register"], "08")
    d2.outcome("expired", ["register"], "17")
    # A002 register: called at window 1 after 20 s, transferred to window 5, handled
    # there in 120 s (the wait counts once, at the first call).
    d2.issue(["register"], "08")
    d2.first_call(["register"], "08", "1", "s01", 20)
    d2.outcome("transferred", ["register"], "08", "1", "s01")
    d2.done(["register"], "09", "5", "s03", 120)

    return {"2026-07-30": d0.as_redis(), "2026-07-31": d1.as_redis(), "2026-08-01": d2.as_redis()}


FROM, TO = date(2026, 7, 31), date(2026, 8, 1)
SERVICES = ["register", "transfer", "pension", "photo"]


def group(
    key: str,
    *,
    issued: int = 0,
    served: int = 0,
    no_show: int = 0,
    cancelled: int = 0,
    expired: int = 0,
    transferred: int = 0,
    wait: tuple[int, float | None, int | None, int | None] = (0, None, None, None),
    handle: tuple[int, float | None, int | None, int | None] = (0, None, None, None),
    ratings: dict[str, int] | None = None,
    satisfaction: float | None = None,
) -> dict[str, object]:
    r: dict[str, int | float | None] = {s: 0 for s in "12345"}
    r.update(ratings or {})
    r["rated"] = sum((ratings or {}).values())
    r["satisfaction_rate"] = satisfaction
    n, mean, median, p90 = wait
    hn, hmean, hmedian, hp90 = handle
    return {
        "key": key,
        "issued": issued,
        "served": served,
        "no_show": no_show,
        "cancelled": cancelled,
        "expired": expired,
        "transferred": transferred,
        "wait": {"n": n, "mean": mean, "median": median, "p90": p90},
        "handle": {"n": hn, "mean": hmean, "median": hmedian, "p90": hp90},
        "ratings": r,
        "appointments": {"booked": 0, "cancelled": 0, "checked_in": 0, "missed": 0},
    }


JULY_31: dict[str, Any] = dict(
    issued=4,
    served=2,
    no_show=1,
    cancelled=1,
    wait=(3, 258.3, 45, 700),  # 30, 700, 45 → sum 775
    handle=(2, 2150.0, 300, 3960),  # 300, 4000 (bucket 3960)
    ratings={"2": 1, "5": 1},
    satisfaction=0.5,
)
AUG_1: dict[str, Any] = dict(
    issued=3,
    served=2,
    expired=1,
    transferred=1,
    wait=(2, 15.0, 10, 20),
    handle=(2, 90.0, 60, 120),
    ratings={"4": 1},
    satisfaction=1.0,
)
WINDOW_1: dict[str, Any] = dict(
    served=1,
    no_show=1,
    transferred=1,
    wait=(3, 31.7, 30, 45),  # 30, 45, 20 → 95 / 3
    handle=(1, 300.0, 300, 300),
    ratings={"5": 1},
    satisfaction=1.0,
)
WINDOW_2: dict[str, Any] = dict(
    served=1,
    wait=(1, 700.0, 700, 700),
    handle=(1, 4000.0, 3960, 3960),
    ratings={"2": 1},
    satisfaction=0.0,
)
WINDOW_5: dict[str, Any] = dict(
    served=2,
    wait=(1, 10.0, 10, 10),
    handle=(2, 90.0, 60, 120),
    ratings={"4": 1},
    satisfaction=1.0,
)


def test_report_by_service_in_configured_order() -> None:
    rep = stats.report(scenario(), by="service", date_from=FROM, date_to=TO, keys=SERVICES)
    assert rep["from"] == "2026-07-31"
    assert rep["to"] == "2026-08-01"
    assert rep["by"] == "service"
    assert rep["groups"] == [
        group(
            "register",
            issued=4,
            served=3,
            expired=1,
            transferred=1,
            wait=(3, 250.0, 30, 700),  # 30, 700, 20
            handle=(3, 1473.3, 300, 3960),  # 300, 4000, 120 → 4420 / 3
            ratings={"5": 1, "2": 1},
            satisfaction=0.5,
        ),
        group(
            "transfer",
            issued=2,
            served=1,
            no_show=1,
            wait=(2, 372.5, 45, 700),
            handle=(1, 4000.0, 3960, 3960),
            ratings={"2": 1},
            satisfaction=0.0,
        ),
        group("pension", issued=1, cancelled=1),
        group(
            "photo",
            issued=1,
            served=1,
            wait=(1, 10.0, 10, 10),
            handle=(1, 60.0, 60, 60),
            ratings={"4": 1},
            satisfaction=1.0,
        ),
    ]
    assert rep["total"] == group(
        "all",
        issued=7,
        served=4,
        no_show=1,
        cancelled=1,
        expired=1,
        transferred=1,
        wait=(5, 161.0, 30, 700),  # 10, 20, 30, 45, 700
        handle=(4, 1120.0, 120, 3960),  # 60, 120, 300, 3960
        ratings={"2": 1, "4": 1, "5": 1},
        satisfaction=0.6667,
    )


def test_report_by_window_in_natural_order_without_keys() -> None:
    rep = stats.report(scenario(), by="window", date_from=FROM, date_to=TO)
    assert rep["groups"] == [
        group("1", **WINDOW_1),
        group("2", **WINDOW_2),
        group("5", **WINDOW_5),
    ]


def test_report_by_clerk_lists_configured_clerks_even_when_idle() -> None:
    rep = stats.report(scenario(), by="clerk", date_from=FROM, date_to=TO, keys=["s01", "s02", "s03", "s04"])
    assert [g["key"] for g in rep["groups"]] == ["s01", "s02", "s03", "s04"]
    assert rep["groups"][0] == group("s01", **WINDOW_1)
    assert rep["groups"][2] == group("s03", **WINDOW_5)
    assert rep["groups"][3] == group("s04")


def test_report_by_hour() -> None:
    rep = stats.report(scenario(), by="hour", date_from=FROM, date_to=TO)
    by_key = {g["key"]: g for g in rep["groups"]}
    assert list(by_key) == ["08", "09", "10", "11", "17"]
    assert by_key["09"] == group(
        "09",
        issued=2,
        served=2,  # A001 on 31 July, A002 on 1 August
        wait=(1, 30.0, 30, 30),
        handle=(2, 210.0, 120, 300),
        ratings={"5": 1},
        satisfaction=1.0,
    )
    assert by_key["10"] == group("10", issued=2, no_show=1, cancelled=1, wait=(2, 372.5, 45, 700))
    assert by_key["17"] == group("17", expired=1)


def test_report_by_day_covers_every_day_of_the_range() -> None:
    rep = stats.report(scenario(), by="day", date_from=date(2026, 7, 29), date_to=TO)
    assert [g["key"] for g in rep["groups"]] == [
        "2026-07-29",  # no hash at all: zeros
        "2026-07-30",
        "2026-07-31",
        "2026-08-01",
    ]
    assert rep["groups"][0] == group("2026-07-29")
    assert rep["groups"][2] == group("2026-07-31", **JULY_31)
    assert rep["groups"][3] == group("2026-08-01", **AUG_1)


def test_report_by_month_splits_at_the_month_boundary_and_ignores_days_outside() -> None:
    rep = stats.report(scenario(), by="month", date_from=FROM, date_to=TO)
    assert rep["groups"] == [
        group("2026-07", **JULY_31),  # not 30 July
        group("2026-08", **AUG_1),
    ]


def test_report_reads_bytes_from_a_raw_redis_client() -> None:
    raw = {day: {k.encode(): v.encode() for k, v in fields.items()} for day, fields in scenario().items()}
    as_bytes = stats.report(raw, by="window", date_from=FROM, date_to=TO)
    assert as_bytes == stats.report(scenario(), by="window", date_from=FROM, date_to=TO)


def test_report_skips_unknown_fields_and_rejects_corrupt_values() -> None:
    day = {"all|all|served": "2", "junk": "x", "all|all|wait_h:abc": "1", "all|all|new_thing": "3"}
    rep = stats.report({"2026-08-01": day}, by="day", date_from=TO, date_to=TO)
    assert rep["groups"][0]["served"] == 2
    assert rep["groups"][0]["wait"]["median"] is None
    with pytest.raises(ValueError, match="not an integer"):
        stats.report({"2026-08-01": {"all|all|served": "two"}}, by="day", date_from=TO, date_to=TO)
    with pytest.raises(ValueError):
        stats.report({}, by="week", date_from=TO, date_to=TO)


def test_report_is_json_serialisable() -> None:
    import json

    rep = stats.report(scenario(), by="service", date_from=FROM, date_to=TO)
    assert json.loads(json.dumps(rep)) == rep


# --------------------------------------------------------------------------- CSV


def test_report_csv_flattens_one_row_per_group() -> None:
    rep = stats.report(scenario(), by="window", date_from=FROM, date_to=TO)
    assert stats_csv.report_csv(rep) == (
        "window,issued,served,no_show,cancelled,expired,transferred,"
        "wait_n,wait_mean_s,wait_median_s,wait_p90_s,"
        "handle_n,handle_mean_s,handle_median_s,handle_p90_s,"
        "rating_1,rating_2,rating_3,rating_4,rating_5,rated,satisfaction_rate\r\n"
        "1,0,1,1,0,0,1,3,31.7,30,45,1,300.0,300,300,0,0,0,0,1,1,1.0\r\n"
        "2,0,1,0,0,0,0,1,700.0,700,700,1,4000.0,3960,3960,0,1,0,0,0,1,0.0\r\n"
        "5,0,2,0,0,0,0,1,10.0,10,10,2,90.0,60,120,0,0,0,1,0,1,1.0\r\n"
    )


def test_report_csv_leaves_unmeasured_cells_empty() -> None:
    rep = stats.report({}, by="month", date_from=FROM, date_to=TO)
    rows = list(csv.reader(io.StringIO(stats_csv.report_csv(rep))))
    assert rows[0][0] == "month"
    assert rows[1] == ["2026-07", *"000000", "0", "", "", "", "0", "", "", "", *"00000", "0", ""]
    assert len(rows) == 3


def _ms(y: int, mo: int, d: int, h: int, mi: int, s: int) -> int:
    tz = ZoneInfo("Asia/Shanghai")
    return int(datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()) * 1000


def test_history_csv_local_times_and_no_secrets() -> None:
    rows = [
        {
            "number": "A012",
            "token": "s3cr3t-token-value",
            "id_hash": "deadbeef",
            "services": ["register", "transfer"],
            "priority": True,
            "status": "done",
            "window": "3",
            "clerk": {"id": "s01", "name": "李明"},
            "issued_at": _ms(2026, 7, 31, 9, 0, 0),
            "called_at": _ms(2026, 7, 31, 9, 12, 30),
            "done_at": _ms(2026, 7, 31, 9, 20, 0) + 999,
            "rating": 4,
        },
        {
            "number": "B001",
            "services": ["transfer"],
            "priority": False,
            "status": "waiting",
            "window": None,
            "clerk": None,
            "issued_at": str(_ms(2026, 7, 31, 23, 59, 59)),
            "called_at": None,
            "done_at": None,
            "rating": None,
        },
    ]
    text = stats_csv.history_csv(rows, tz="Asia/Shanghai")
    assert text == (
        "number,services,priority,status,window,clerk,issued_at,called_at,done_at,"
        "wait_s,handle_s,rating\r\n"
        "A012,register+transfer,1,done,3,s01,2026-07-31T09:00:00+08:00,"
        "2026-07-31T09:12:30+08:00,2026-07-31T09:20:00+08:00,750,450,4\r\n"
        "B001,transfer,0,waiting,,,2026-07-31T23:59:59+08:00,,,,,\r\n"
    )
    assert "s3cr3t" not in text
    assert "deadbeef" not in text
    assert "李明" not in text


def test_history_csv_of_no_rows_is_just_the_header() -> None:
    assert stats_csv.history_csv([]).count("\r\n") == 1


# --------------------------------------------------------------------------- query


def test_parse_query_defaults_to_this_month_by_service() -> None:
    q = stats.parse_query({}, today=date(2026, 8, 15))
    assert (q.date_from, q.date_to, q.by, q.format) == (
        date(2026, 8, 1),
        date(2026, 8, 15),
        "service",
        "json",
    )
    assert q.days[0] == "2026-08-01"
    assert len(q.days) == 15


def test_parse_query_reads_all_parameters() -> None:
    q = stats.parse_query(
        {"from": "2026-07-31", "to": "2026-08-01", "by": "month", "format": "csv"},
        today=date(2026, 9, 1),
    )
    assert (q.date_from, q.date_to, q.by, q.format) == (FROM, TO, "month", "csv")
    assert q.days == ["2026-07-31", "2026-08-01"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-13-01"}, "invalid_date"),
        ({"to": "yesterday"}, "invalid_date"),
        ({"from": "2026-08-02", "to": "2026-08-01"}, "invalid_range"),
        ({"from": "2025-07-31", "to": "2026-08-01"}, "range_too_long"),
        ({"by": "week"}, "invalid_by"),
        ({"format": "xml"}, "invalid_format"),
    ],
)
def test_parse_query_errors(params: dict[str, str], code: str) -> None:
    with pytest.raises(stats.StatsQueryError) as err:
        stats.parse_query(params, today=date(2026, 8, 15))
    assert err.value.code == code


def test_a_full_year_is_allowed() -> None:
    q = stats.parse_query({"from": "2025-08-01", "to": "2026-08-01"}, today=date(2026, 8, 15))
    assert len(q.days) == 366  # the limit itself


def test_keys_carry_the_hall_hash_tag() -> None:
    assert stats.stats_key("demo", "2026-08-01") == "hallq:{demo}:stats:2026-08-01"
    assert stats.day_keys("demo", FROM, TO) == [
        ("2026-07-31", "hallq:{demo}:stats:2026-07-31"),
        ("2026-08-01", "hallq:{demo}:stats:2026-08-01"),
    ]
