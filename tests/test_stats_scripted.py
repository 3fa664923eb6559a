"""A scripted July 31 and August 1 through the real engine gives exactly the expected figures.

The engine's events carry what they count and its counting step turns them into the
statistics counters (lua/stats.lua); `server.stats`
(the code behind `GET /api/halls/{hall}/stats`) turns them into figures. Times are driven
by the test's clock so waits and handling times are known to the second.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from typing import Any

from redis.asyncio import Redis

from server import stats, stats_csv
from server.hall_model import Hall
from server.queue.engine import Engine
from tests.conftest import HallClock

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(day: str, hhmm: str) -> float:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=TZ).timestamp()


async def report(engine: Engine, by: str, start: str, end: str) -> dict[str, Any]:
    """The figures as ``GET /stats`` reads them: counted from the stream first, then the hashes."""
    await engine.count_stats()
    keys = stats.day_keys("demo", date.fromisoformat(start), date.fromisoformat(end))
    hashes = {day: await engine.redis.hgetall(key) for day, key in keys}
    return dict(stats.report(hashes, by=by, date_from=date.fromisoformat(start), date_to=date.fromisoformat(end)))


def group(rep: dict[str, Any], key: str) -> dict[str, Any]:
    return next(g for g in rep["groups"] if g["key"] == key)


async def script_two_days(engine: Engine, hall: Hall, clock: HallClock) -> None:
    s01, s02, s03 = (hall.staff_member(s) for s in ("s01", "s02", "s03"))
    assert s01 and s02 and s03
    # --- Thursday 31 July ---
    clock.now = at("2025-07-31", "09:00")
    a = await engine.issue(["register"])  # A001
    b = await engine.issue(["transfer"])  # B001
    d = await engine.issue(["photo"], priority=True)  # D001
    clock.advance(60)
    assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == "D001"  # waited 60 s
    clock.advance(120)
    await engine.act("1", "complete", s01)  # handled 120 s
    await engine.rate(5, token=d["ticket"]["token"])
    assert (await engine.act("2", "call_next", s02))["ticket"]["number"] == "A001"  # waited 180 s
    clock.advance(30)
    await engine.act("2", "transfer", s02, service="pension")
    assert (await engine.act("3", "call_next", s03))["ticket"]["number"] == "A001"
    clock.advance(300)
    await engine.act("3", "complete", s03)  # handled 300 s (from the call at window 3)
    await engine.rate(1, ["long_wait"], token=a["ticket"]["token"])
    await engine.cancel(b["ticket"]["token"])
    # --- Friday 1 August: a new business day, numbering restarts ---
    clock.now = at("2025-08-01", "10:00")
    first = await engine.issue(["register"])
    assert first["ticket"]["number"] == "A001"
    await engine.issue(["pension"])  # C001, never called: expires at the next reset
    clock.advance(600)
    await engine.act("1", "call_next", s01)  # waited 600 s
    clock.advance(60)
    await engine.act("1", "complete", s01)  # handled 60 s
    clock.now = at("2025-08-02", "09:00")
    await engine.rollover()


async def test_two_scripted_days_give_the_expected_figures(
    engine: Engine, hall: Hall, clock: HallClock, redis: Redis
) -> None:
    await script_two_days(engine, hall, clock)

    months = await report(engine, "month", "2025-07-01", "2025-08-31")
    july, august = group(months, "2025-07"), group(months, "2025-08")
    assert (july["issued"], july["served"], july["cancelled"], july["transferred"], july["expired"]) == (3, 2, 1, 1, 0)
    assert (august["issued"], august["served"], august["expired"], august["no_show"]) == (2, 1, 1, 0)
    assert july["wait"] == {"n": 2, "mean": 120.0, "median": 60, "p90": 180}
    assert july["handle"] == {"n": 2, "mean": 210.0, "median": 120, "p90": 300}
    assert july["ratings"] == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 1, "rated": 2, "satisfaction_rate": 0.5}
    assert august["wait"]["mean"] == 600.0 and august["handle"]["mean"] == 60.0

    windows = await report(engine, "window", "2025-07-31", "2025-07-31")
    assert group(windows, "1")["served"] == 1 and group(windows, "1")["handle"]["mean"] == 120.0
    assert group(windows, "2")["served"] == 0 and group(windows, "2")["transferred"] == 1
    assert group(windows, "3")["served"] == 1 and group(windows, "3")["handle"]["mean"] == 300.0
    assert group(windows, "3")["ratings"]["1"] == 1 and group(windows, "1")["ratings"]["5"] == 1

    clerks = await report(engine, "clerk", "2025-07-31", "2025-08-01")
    assert group(clerks, "s01")["served"] == 2 and group(clerks, "s02")["wait"]["n"] == 1

    services = await report(engine, "service", "2025-07-31", "2025-07-31")
    assert group(services, "register")["issued"] == 1 and group(services, "register")["transferred"] == 1
    assert group(services, "pension")["served"] == 1  # A001 after its transfer
    assert group(services, "transfer")["cancelled"] == 1

    hours = await report(engine, "hour", "2025-07-31", "2025-08-01")
    assert group(hours, "09")["issued"] == 3 and group(hours, "10")["issued"] == 2

    days = await report(engine, "day", "2025-07-31", "2025-08-01")
    text = stats_csv.report_csv(days)  # type: ignore[arg-type]
    lines = text.strip().splitlines()
    assert lines[0].startswith("day,issued,served,no_show,cancelled,expired,transferred")
    assert lines[1].startswith("2025-07-31,3,2,0,1,0,1,")
    assert lines[2].startswith("2025-08-01,2,1,0,0,1,0,")
