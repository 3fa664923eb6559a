"""好差评 follow-up: the pure rules (server/cases.py) and the case a bad rating opens in rate.lua."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import date

import pytest
from redis.asyncio import Redis

from server import casebook, cases
from server.config import parse_hall
from server.edge import http_status
from server.hall_model import Hall
from server.queue.engine import Engine
from server.queue.errors import Refusal
from tests.conftest import DEMO_MORNING, HallClock

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


# --- pure rules ------------------------------------------------------------------------


def test_the_threshold_lives_in_one_place() -> None:
    assert [s for s in range(1, 6) if cases.is_bad(s)] == [1, 2]


def test_deadline_counts_working_days_after_the_rating() -> None:
    friday = date(2025, 11, 28)
    assert cases.deadline_day(friday, 5, WEEKDAYS) == date(2025, 12, 5)  # the weekend does not count
    assert cases.deadline_day(date(2025, 11, 26), 5, WEEKDAYS) == date(2025, 12, 3)  # Wed → next Wed
    saturday = date(2025, 11, 29)
    assert cases.deadline_day(saturday, 1, WEEKDAYS) == date(2025, 12, 1)  # rated on a closed day
    assert cases.deadline_day(friday, 1, (*WEEKDAYS, "sat")) == date(2025, 11, 29)
    # a holiday does not count, a 调休 Sunday does
    assert cases.deadline_day(friday, 1, WEEKDAYS, holidays={date(2025, 12, 1)}) == date(2025, 12, 2)
    assert cases.deadline_day(friday, 1, WEEKDAYS, workdays={date(2025, 11, 30)}) == date(2025, 11, 30)
    assert cases.deadline_day(friday, 3, ()) == date(2025, 12, 1)  # never open: calendar days


def test_deadline_ms_ends_at_local_midnight(hall: Hall) -> None:
    weekdays_hall = dataclasses.replace(hall, hours={d: ((510, 1050),) for d in WEEKDAYS})
    rated = int(DEMO_MORNING * 1000)  # Wednesday 2025-11-26 10:00 in Shanghai
    # the end of Wednesday 2025-12-03 = 2025-12-04 00:00 +08:00
    assert cases.deadline_ms(rated, weekdays_hall, 5) == 1_764_777_600_000


def case(**extra: object) -> dict[str, object]:
    return {"id": 1, "status": "open", "deadline": 10_000, "named": False, "called_back": False, "history": [], **extra}


def test_the_loop_goes_verify_rectify_answer_close() -> None:
    c = cases.apply(case(), "assign", {"owner": "s01"}, staff="admin", now_ms=1, staff_ids={"s01"})
    assert c["owner"] == "s01" and c["status"] == "open"
    for action in ("rectify", "answer", "close"):
        with pytest.raises(cases.CaseError) as caught:
            cases.apply(c, action, {"note": "x", "answer": "x"}, staff="admin", now_ms=2)
        assert caught.value.code == "invalid_transition"
    with pytest.raises(cases.CaseError, match="note"):
        cases.apply(c, "verify", {"note": "  "}, staff="admin", now_ms=2)
    c = cases.apply(c, "verify", {"note": "queue was long"}, staff="admin", now_ms=2)
    c = cases.apply(c, "rectify", {"note": "a second window opens at 9"}, staff="admin", now_ms=3)
    assert c["rectified_at"] == 3 and cases.in_time(c) and not cases.overdue(c, 20_000)
    with pytest.raises(cases.CaseError) as caught:
        cases.apply(c, "answer", {"answer": "sorry", "channel": "phone_page"}, staff="admin", now_ms=4)
    assert caught.value.code == "page_gone"
    c = cases.apply(c, "answer", {"answer": "sorry"}, staff="admin", now_ms=4, reachable=True)
    assert c["channel"] == "phone_page" and not c["called_back"]
    c = cases.apply(c, "close", {}, staff="admin", now_ms=5)
    assert c["status"] == "closed" and c["closed_at"] == 5
    assert [h["action"] for h in c["history"]] == ["assign", "verify", "rectify", "answer", "close"]
    with pytest.raises(cases.CaseError) as caught:
        cases.apply(c, "call_back", {}, staff="admin", now_ms=6)
    assert caught.value.code == "case_closed"


def test_a_named_case_is_called_back_before_it_closes() -> None:
    c = case(named=True, status="answered")
    with pytest.raises(cases.CaseError) as caught:
        cases.apply(c, "close", {}, staff="admin", now_ms=5)
    assert caught.value.code == "call_back_required"
    c = cases.apply(c, "call_back", {"note": "phoned, satisfied"}, staff="admin", now_ms=5)
    assert cases.apply(c, "close", {}, staff="admin", now_ms=6)["status"] == "closed"
    # an answer by call-back is a call-back
    answered = cases.apply(case(status="rectified"), "answer", {"answer": "x"}, staff="a", now_ms=1)
    assert answered["channel"] == "call_back" and answered["called_back"] is True


def test_overdue_and_the_two_rates() -> None:
    late = case(deadline=100, rectified_at=150, named=True, called_back=True, rated_at=10)
    timely = case(deadline=100, rectified_at=90, rated_at=10)
    pending = case(deadline=100, rated_at=10, named=True)
    future = case(deadline=10_000, rated_at=20)
    assert cases.overdue(pending, 101) and not cases.overdue(pending, 100) and not cases.overdue(late, 200)
    s = cases.summary([late, timely, pending, future], start_ms=0, end_ms=1_000, now_ms=200)
    assert s.as_dict() == {
        "due": 3,
        "in_time": 1,
        "in_time_rate": 0.3333,
        "named": 2,
        "called_back": 1,
        "called_back_rate": 0.5,
    }
    assert cases.summary([], start_ms=0, end_ms=1, now_ms=1).in_time_rate is None


def test_the_hall_file_sets_follow_up_days(hall: Hall) -> None:
    assert hall.follow_up_days == cases.DEFAULT_FOLLOW_UP_DAYS
    text = hall.source_text + "\n[ratings]\nfollow_up_days = 3\n"
    assert parse_hall(text).follow_up_days == 3


# --- the engine: a bad rating opens exactly one case ----------------------------------------


async def served(engine: Engine, **issue: object) -> str:
    s01 = engine.hall.staff_member("s01")
    assert s01 is not None
    ticket = await engine.issue(["register"], **issue)  # type: ignore[arg-type]
    await engine.act("1", "call_next", s01)
    await engine.act("1", "complete", s01)
    return str(ticket["ticket"]["token"])


async def all_cases(redis: Redis, engine: Engine) -> list[dict[str, object]]:
    return await casebook.load_all(redis, engine.hall.id)


async def test_a_bad_rating_opens_one_case_a_good_one_none(redis: Redis, engine: Engine, clock: HallClock) -> None:
    good = await served(engine)
    await engine.rate(4, token=good)
    assert await all_cases(redis, engine) == []
    bad = await served(engine, id_number="110101199003071234")
    await engine.rate(1, ["attitude", "long_wait"], token=bad)
    with pytest.raises(Refusal):  # a second rating is refused and opens nothing
        await engine.rate(2, token=bad)
    found = await all_cases(redis, engine)
    assert len(found) == 1
    c = found[0]
    assert c["ticket"] == "A002" and c["window"] == "1" and c["clerk"] == "s01" and c["services"] == ["register"]
    assert c["score"] == 1 and c["reasons"] == ["attitude", "long_wait"] and c["status"] == "open"
    assert c["named"] is True and c["called_back"] is False and c["owner"] == ""
    assert c["rated_at"] == int(clock.now * 1000)
    # the rule is kept, the deadline is not: it follows the calendar when read (cases.dated)
    assert c["follow_up_days"] == 5 and "deadline" not in c
    assert cases.dated([c], engine.hall)[0]["deadline"] == cases.deadline_ms(int(clock.now * 1000), engine.hall, 5)
    assert "token" not in casebook.public(cases.dated([c], engine.hall)[0], 0)
    # the rating pad opens one too, and an anonymous ticket is not named
    await served(engine)
    await engine.rate(2, window="1", number="A003")
    found = await all_cases(redis, engine)
    assert [x["ticket"] for x in found] == ["A002", "A003"] and found[1]["named"] is False
    raw = await redis.get(f"hallq:{{{engine.hall.id}}}:case:2")
    assert raw is not None and json.loads(raw)["id"] == 2


async def test_acting_on_a_case_in_redis(redis: Redis, engine: Engine) -> None:
    token = await served(engine)
    await engine.rate(2, token=token)
    hall_id, ids = engine.hall.id, {"s01", "admin"}
    await casebook.act(redis, hall_id, "1", "verify", {"note": "checked"}, staff="admin", now_ms=1, staff_ids=ids)
    with pytest.raises(Refusal) as caught:
        await casebook.act(redis, hall_id, "1", "verify", {"note": "again"}, staff="admin", now_ms=2, staff_ids=ids)
    assert caught.value.code == "invalid_transition" and http_status(caught.value.code) == 409
    with pytest.raises(Refusal) as caught:
        await casebook.act(redis, hall_id, "9", "verify", {"note": "x"}, staff="admin", now_ms=2, staff_ids=ids)
    assert caught.value.code == "unknown_case" and http_status(caught.value.code) == 404
    await casebook.act(redis, hall_id, "1", "rectify", {"note": "fixed"}, staff="admin", now_ms=3, staff_ids=ids)
    # the visitor's page still exists: the answer goes there by default and is shown on it
    await casebook.act(redis, hall_id, "1", "answer", {"answer": "we fixed it"}, staff="admin", now_ms=4, staff_ids=ids)
    assert await casebook.answer_for_ticket(redis, hall_id, token) == {"answer": "we fixed it", "answered_at": 4}
    c = await casebook.load(redis, hall_id, "1")
    assert c["status"] == "answered" and [h["action"] for h in c["history"]] == [
        "opened",
        "verify",
        "rectify",
        "answer",
    ]


async def test_two_managers_taking_the_same_step_at_once(redis: Redis, engine: Engine) -> None:
    """WATCH/MULTI: of two simultaneous verifies, one applies and the other is refused; none is lost."""
    await engine.rate(1, token=await served(engine))
    hall_id, ids = engine.hall.id, {"admin"}
    outcomes = await asyncio.gather(
        *(
            casebook.act(redis, hall_id, "1", "verify", {"note": f"by {n}"}, staff="admin", now_ms=n, staff_ids=ids)
            for n in range(1, 9)
        ),
        return_exceptions=True,
    )
    applied = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, Refusal)]
    assert len(applied) == 1 and len(refused) == 7
    assert {r.code for r in refused} == {"invalid_transition"}
    c = await casebook.load(redis, hall_id, "1")
    assert [h["action"] for h in c["history"]] == ["opened", "verify"] and c["verify_note"] == applied[0]["verify_note"]
