"""Tickets from the phone before arriving (远程取号): the pure rules of server/remote.py, the
hall file's ``[remote]``, and the engine's daily remote quota (atomic in issue.lua)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from server.config import demo_text, load_demo, parse_hall
from server.edge import http_status
from server.hall_model import Hall, Remote
from server.queue.constants import SET_OUT_MARGIN_S, keys_prefix
from server.queue.engine import Engine
from server.remote import opens_at_s, remote_refusal, set_out_in_s, wait_estimate_s
from server.toml_locator import ConfigError
from tests.conftest import DEMO_MORNING, HallClock
from tests.test_engine import refused

HOUR = 3600.0
HOURS = """[hall.hours]
mon = ["09:00-12:00", "13:30-17:00"]
tue = ["09:00-12:00", "13:30-17:00"]
wed = ["09:00-12:00", "13:30-17:00"]
thu = ["09:00-12:00", "13:30-17:00"]
fri = ["09:00-12:00", "13:30-17:00"]
sat = []
sun = []
"""
DEMO_REMOTE = "[remote]\nenabled = true\nwithin_hours = true\ndaily_quota = 200\n"


def hall_with(remote: str | None, hours: bool = True) -> Hall:
    """The demo hall with office hours (Mon–Fri) and ``remote`` as its ``[remote]`` section."""
    text = demo_text()
    if hours:
        start = text.index("[hall.hours]")
        end = text.index("[[services]]")
        text = text[:start] + HOURS + "\n" + text[end:]
        text = text.replace('ticket_cutoff = "23:59"', 'ticket_cutoff = "16:30"')
    assert DEMO_REMOTE in text
    text = text.replace(DEMO_REMOTE, remote or "")
    return parse_hall(text)


# DEMO_MORNING is a Wednesday 10:00 in Shanghai
WED_10 = DEMO_MORNING
WED_07 = DEMO_MORNING - 3 * HOUR
WED_1230 = DEMO_MORNING + 2.5 * HOUR
WED_1645 = DEMO_MORNING + 6.75 * HOUR
SAT_10 = DEMO_MORNING + 3 * 24 * HOUR


def test_the_demo_hall_offers_remote_tickets() -> None:
    demo = load_demo()
    assert demo.remote == Remote(enabled=True, within_hours=True, daily_quota=200)
    assert demo.public()["remote"] == {"within_hours": True, "daily_quota": 200}


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ('[remote]\nenabled = "yes"\n', "remote.enabled: must be true or false"),
        ("[remote]\nwithin_hours = 1\n", "remote.within_hours: must be true or false"),
        ("[remote]\ndaily_quota = -1\n", "remote.daily_quota: must be a whole number from 0 to 100000"),
        ("[remote]\ndaily_quota = 2.5\n", "remote.daily_quota: must be a whole number"),
        ("[remote]\nquota = 5\n", "remote.quota: unknown key 'quota'"),
        ("remote = 5\n", "remote: must be a table"),
    ],
)
def test_bad_remote_sections_are_reported_with_their_place(section: str, problem: str) -> None:
    text = demo_text().replace(DEMO_REMOTE, "")
    text = text.replace("[hall]\n", section + "\n[hall]\n", 1) if section.startswith("remote =") else text + section
    with pytest.raises(ConfigError) as caught:
        parse_hall(text)
    messages = [str(p) for p in caught.value.problems]
    assert any(problem in m for m in messages), messages
    assert all("line" in m for m in messages if m.startswith("remote")), messages


def test_who_may_take_a_remote_ticket_when() -> None:
    assert remote_refusal(WED_10, hall_with(None)) is not None
    off = hall_with(None)
    assert remote_refusal(WED_10, off) == (
        "remote_off",
        "this hall does not issue tickets to phones / 本大厅不提供远程取号",
    )
    disabled = hall_with("[remote]\nenabled = false\n")
    assert (remote_refusal(WED_10, disabled) or ("",))[0] == "remote_off"
    assert disabled.public()["remote"] is None

    hours = hall_with("[remote]\nwithin_hours = true\n")
    assert remote_refusal(WED_10, hours) is None
    for closed in (WED_07, WED_1230, WED_1645, SAT_10):
        assert (remote_refusal(closed, hours) or ("",))[0] == "remote_closed"

    early = hall_with("[remote]\nwithin_hours = false\n")
    for open_ in (WED_07, WED_10, WED_1230):  # before opening and over lunch: set out now, arrive in time
        assert remote_refusal(open_, early) is None
    for closed in (WED_1645, SAT_10):  # after the cutoff, and on a day without opening hours
        assert (remote_refusal(closed, early) or ("",))[0] == "remote_closed"


def test_when_to_set_out() -> None:
    assert wait_estimate_s(0, 600, 2) == 0
    assert wait_estimate_s(6, 600, 2) == 1800  # 6 ahead × 10 min, two windows
    assert wait_estimate_s(3, 600, 0) == 1800  # no window open yet: as if one
    assert set_out_in_s(1800, 600) == 1800 - 600 - SET_OUT_MARGIN_S
    assert set_out_in_s(600, 1200) == 0  # already late: now
    assert set_out_in_s(3600, 0, margin_s=0) == 3600
    # taken at 07:00 for a 09:00 opening: the queue moves from 09:00
    assert set_out_in_s(600, 1800, opens_in_s=7200) == 7200 + 600 - 1800 - SET_OUT_MARGIN_S


def test_when_the_hall_opens_again_today() -> None:
    hall = hall_with("[remote]\nwithin_hours = false\n")
    assert opens_at_s(WED_10, hall) is None  # open now
    assert opens_at_s(WED_07 + 25, hall) == WED_10 - HOUR  # 09:00
    assert opens_at_s(WED_1230, hall) == WED_10 + 3.5 * HOUR  # 13:30, after lunch
    assert opens_at_s(WED_1645, hall) is None  # closed for the day
    assert opens_at_s(SAT_10, hall) is None  # no hours on Saturday


def engine_for(redis: Redis, hall: Hall, clock: HallClock) -> Engine:
    return Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)


async def test_remote_tickets_follow_the_kiosk_rules_and_are_marked(redis: Redis, clock: HallClock) -> None:
    engine = engine_for(redis, hall_with("[remote]\ndaily_quota = 5\n"), clock)
    kiosk = await engine.issue(["register"], id_number="11010519491231002X")
    assert "remote" not in kiosk["ticket"]
    remote = await engine.issue(["pension"], channel="remote")
    assert remote["ticket"]["remote"] is True and remote["ticket"]["number"] == "C001"
    assert (await engine.ticket(remote["ticket"]["token"]) or {})["ticket"]["remote"] is True
    # the same duplicate-ID refusal as the kiosk, Redis unchanged
    await refused(
        redis, "duplicate_ticket", engine.issue(["register"], id_number="11010519491231002X", channel="remote")
    )
    assert await redis.get(keys_prefix("demo") + "rquota:" + engine._moment(clock()).day) == "1"


async def test_remote_refusals_change_nothing(redis: Redis, clock: HallClock) -> None:
    await refused(redis, "remote_off", engine_for(redis, hall_with(None), clock).issue(["register"], channel="remote"))
    engine = engine_for(redis, hall_with("[remote]\ndaily_quota = 1\n"), clock)
    await engine.issue(["register"], channel="remote")
    refusal = await refused(redis, "remote_quota", engine.issue(["photo"], channel="remote"))
    assert http_status(refusal.code) == 409 and refusal.details["quota"] == 1
    assert (await engine.issue(["photo"]))["ticket"]["number"] == "D001", "the kiosk is not limited"
    clock.now = WED_1230
    await refused(redis, "remote_closed", engine.issue(["photo"], channel="remote"))
    # the next business day has a fresh remote quota
    clock.now = WED_10 + 24 * HOUR
    assert (await engine.issue(["register"], channel="remote"))["ticket"]["number"] == "A001"


async def test_twenty_phones_at_once_against_a_remote_quota_of_five(redis: Redis, clock: HallClock) -> None:
    engine = engine_for(redis, hall_with("[remote]\ndaily_quota = 5\n"), clock)
    results = await asyncio.gather(
        *(engine.issue(["register"], channel="remote") for _ in range(20)), return_exceptions=True
    )
    issued = [r for r in results if isinstance(r, dict)]
    refusals = [getattr(r, "code", r) for r in results if not isinstance(r, dict)]
    assert len(issued) == 5 and refusals == ["remote_quota"] * 15
    assert sorted(r["ticket"]["number"] for r in issued) == [f"A00{n}" for n in range(1, 6)]
