"""A clerk's day through the real engine (real redis-server): a double tap never calls two
visitors, no ticket waits where no open window can take it, request_id is one namespace
per caller and action, and a hall file that drops a service does not orphan its tickets.
Every refusal is proven to change nothing (``refused``)."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.config import demo_text, load_demo, parse_hall
from server.edge import http_status
from server.embedded import EmbeddedRedis
from server.hall_model import Hall, Staff
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.queue.rules import tier_of
from tests.conftest import HallClock
from tests.test_engine import (
    RULES_HALL,
    SERVICES,
    WINDOWS,
    P,
    call_and_compare,
    check_against_rules,
    clerk,
    demo_variant,
    dump,
    events,
    refused,
    seq_of,
)


def guarded(redis: Redis, clock: HallClock, hall: Hall | None = None) -> Engine:
    """An engine with the hall file's double-tap guard on (the demo hall: 3 s)."""
    return Engine(redis, hall or load_demo(), secret=b"k", clock=clock)


async def status_of(engine: Engine, number: str) -> str:
    found = await engine.ticket_by_number(number)
    assert found is not None
    return str(found["ticket"]["status"])


# --- point 2: a double tap never calls two visitors ---------------------------------------


async def test_demo_hall_guards_calls_for_three_seconds() -> None:
    assert load_demo().rules.min_call_interval_s == 3
    assert load_demo().public()["min_call_interval_s"] == 3, "pads read it to guard their own taps"


async def test_double_tap_on_call_next_calls_one_visitor(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01 = clerk(engine.hall, "s01")
    for _ in range(3):
        await engine.issue(["register"])
    first = await engine.act("1", "call_next", s01)
    assert first["ticket"]["number"] == "A001"
    clock.advance(0.25)  # the second tap, 250 ms later
    refusal = await refused(redis, "just_called", engine.act("1", "call_next", s01))
    assert http_status(refusal.code) == 409
    assert refusal.details["retry_after_ms"] == 2750 and refusal.details["number"] == "A001"
    assert "2.8 s" in refusal.message or "2.7 s" in refusal.message
    assert await status_of(engine, "A001") == "called", "the visitor just called is not closed"
    assert await status_of(engine, "A002") == "waiting"
    clock.advance(2.75)  # the interval has passed: the next call is the clerk's intent
    second = await engine.act("1", "call_next", s01)
    assert second["ticket"]["number"] == "A002"
    assert await status_of(engine, "A001") == "done"


async def test_the_guard_is_per_window_and_spares_an_empty_hand(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01, s02 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02")
    assert (await engine.act("1", "call_next", s01))["ticket"] is None  # nobody waits
    await engine.issue(["register"])
    await engine.issue(["register"])
    # a call right after an empty one closes nobody: allowed
    assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == "A001"
    # another window is not held back by window 1's call
    assert (await engine.act("2", "call_next", s02))["ticket"]["number"] == "A002"
    # a ticket finished on purpose (complete) leaves nothing to protect
    await engine.act("1", "complete", s01)
    await engine.issue(["register"])
    assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == "A003"


async def test_a_special_call_is_guarded_too(redis: Redis, clock: HallClock) -> None:
    """特呼 also finishes the ticket in hand: right after a call it would lose that visitor."""
    engine = guarded(redis, clock)
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await engine.issue(["register"])
    await engine.act("1", "call_next", s01)
    clock.advance(1)
    await refused(redis, "just_called", engine.act("1", "call", s01, ticket="A002"))
    # recall is not a call: it repeats the announcement and loses nobody
    assert (await engine.act("1", "recall", s01))["ticket"]["number"] == "A001"
    clock.advance(2)
    assert (await engine.act("1", "call", s01, ticket="A002"))["ticket"]["number"] == "A002"


async def test_the_interval_comes_from_the_hall_file(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(("min_call_interval_s = 3", "min_call_interval_s = 10"))
    engine = guarded(redis, clock, hall)
    s01 = clerk(hall, "s01")
    await engine.issue(["register"])
    await engine.issue(["register"])
    await engine.act("1", "call_next", s01)
    clock.advance(9)
    refusal = await refused(redis, "just_called", engine.act("1", "call_next", s01))
    assert refusal.details["retry_after_ms"] == 1000
    off = guarded(redis, clock, demo_variant(("min_call_interval_s = 3", "min_call_interval_s = 0")))
    assert (await off.act("1", "call_next", s01))["ticket"]["number"] == "A002"


# --- point 3: no ticket waits where no open window can take it ------------------------------


async def test_transfer_to_a_closed_or_paused_window_is_refused(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01, s02, s03, s05 = (clerk(engine.hall, s) for s in ("s01", "s02", "s03", "s05"))
    await engine.issue(["photo"])  # D001
    await engine.act("1", "call_next", s01)
    refusal = await refused(redis, "window_not_open", engine.act("1", "transfer", s01, to_window="5"))
    assert refusal.details["open_windows"] == [] and "no other window" in refusal.message
    await engine.act("3", "open", s03)
    refusal = await refused(redis, "window_not_open", engine.act("1", "transfer", s01, to_window="5"))
    assert http_status(refusal.code) == 409
    assert refusal.details["open_windows"] == ["3"] and refusal.details["window_status"] == "closed"
    assert "window 5 is closed" in refusal.message and "3" in refusal.message
    await engine.act("5", "open", s05)
    await engine.act("5", "pause", s05)
    await engine.act("2", "open", s02)
    refusal = await refused(redis, "window_not_open", engine.act("1", "transfer", s01, to_window="5"))
    assert refusal.details["window_status"] == "paused" and refusal.details["open_windows"] == ["2", "3"]
    await engine.act("5", "unpause", s05)
    moved = await engine.act("1", "transfer", s01, to_window="5")
    assert moved["ticket"]["to_window"] == "5"


async def test_window_closing_returns_its_reserved_tickets_ahead_of_ordinary_ones(
    redis: Redis, clock: HallClock
) -> None:
    engine = guarded(redis, clock)
    s01, s02, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02"), clerk(engine.hall, "s05")
    for _ in range(4):
        await engine.issue(["photo"])  # D001..D004
    await engine.issue(["photo"], priority=True)  # D005, priority
    await engine.act("5", "open", s05)
    # window 1 calls D005 (priority) and D001, sends both to window 5 in that order
    for number in ("D005", "D001"):
        clock.advance(5)
        assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == number
        await engine.act("1", "transfer", s01, to_window="5")
    waiting_before = (await engine.snapshot())["waiting"]
    seq = await seq_of(redis)
    closed = await engine.act("5", "close", s05)
    assert closed["window"]["status"] == "closed"
    later = await events(engine, seq)
    assert [e["type"] for e in later] == ["window.closed", "ticket.transferred", "ticket.transferred"]
    assert [e["ticket"]["number"] for e in later[1:]] == ["D005", "D001"], "original order"
    for event in later[1:]:
        assert event["reason"] == "window_closed" and event["from_window"] == "5"
        assert event["to_window"] is None and "to_window" not in event["ticket"]
        assert event["ticket"]["status"] == "waiting" and event["ticket"]["transferred"] is True
    assert await redis.zcard(P + "wx:5") == 0
    assert (await engine.snapshot())["waiting"] == waiting_before, "still waiting, same counts"
    # any window serving photo calls them first, in order, ahead of priority and ordinary ones
    await engine.issue(["photo"], priority=True)  # D006
    order = []
    for _ in range(5):
        clock.advance(5)
        answer = await engine.act("2", "call_next", s02)
        order.append(answer["ticket"]["number"])
    assert order == ["D005", "D001", "D006", "D002", "D003"]


async def test_window_pausing_returns_its_reserved_tickets(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01, s02, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02"), clerk(engine.hall, "s05")
    await engine.issue(["register"])  # A001
    await engine.issue(["photo"])  # D001
    await engine.act("5", "open", s05)
    await engine.act("1", "call", s01, ticket="D001")
    await engine.act("1", "transfer", s01, to_window="5")
    seq = await seq_of(redis)
    await engine.act("5", "pause", s05)
    later = await events(engine, seq)
    assert [e["type"] for e in later] == ["window.paused", "ticket.transferred"]
    assert later[1]["reason"] == "window_paused"
    assert (await engine.act("2", "call_next", s02))["ticket"]["number"] == "D001"
    # unpausing does not take it back
    await engine.act("5", "unpause", s05)
    assert await redis.zcard(P + "wx:5") == 0


async def test_no_show_at_a_window_paused_with_it_in_hand_goes_back_to_its_service(
    redis: Redis, clock: HallClock
) -> None:
    """Found by the day model (CI): D001 transferred to window 5, called there; the clerk pauses
    with it in hand, then marks it a no-show. It used to wait for window 5, where nobody calls."""
    engine = guarded(redis, clock)
    s01, s02, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02"), clerk(engine.hall, "s05")
    await engine.issue(["photo"])  # D001
    await engine.act("5", "open", s05)
    await engine.act("1", "call", s01, ticket="D001")
    await engine.act("1", "transfer", s01, to_window="5")
    clock.advance(5)
    assert (await engine.act("5", "call_next", s05))["ticket"]["number"] == "D001"
    await engine.act("5", "pause", s05)
    clock.advance(engine.hall.rules.no_show.min_seconds_after_call + 1)
    requeued = await engine.act("5", "no_show", s05)
    assert requeued["ticket"]["status"] == "waiting"
    assert await redis.zcard(P + "wx:5") == 0
    assert (await engine.act("2", "call_next", s02))["ticket"]["number"] == "D001"


async def test_special_call_of_a_ticket_transferred_to_another_window(redis: Redis, clock: HallClock) -> None:
    """The seen case: D001 sent to window 5; 特呼 of it at window 1 (which serves photo) works."""
    engine = guarded(redis, clock)
    s01, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s05")
    await engine.issue(["photo"])  # D001
    await engine.issue(["register"])  # A001
    await engine.act("5", "open", s05)
    await engine.act("1", "call", s01, ticket="D001")
    await engine.act("1", "transfer", s01, to_window="5")
    called = await engine.act("1", "call", s01, ticket="D001")
    assert called["ticket"]["number"] == "D001" and called["ticket"]["window"] == "1"
    assert "to_window" not in called["ticket"], "it belongs to window 1 now"
    assert await redis.zcard(P + "wx:5") == 0
    assert (await engine.snapshot())["waiting"]["photo"] == 0


async def test_special_call_refused_where_the_window_does_not_serve(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tiers = [["photo"]]'))
    engine = guarded(redis, clock, hall)
    s01, s05 = clerk(hall, "s01"), clerk(hall, "s05")
    await engine.issue(["register"])  # A001
    await engine.act("1", "open", s01)
    await refused(redis, "window_cannot_serve", engine.act("5", "call", s05, ticket="A001"))


# --- point 5: request_id is one namespace per caller and action ------------------------------


async def test_another_callers_request_id_is_never_their_answer(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01, s02 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02")
    await engine.issue(["register"])
    await engine.issue(["register"])
    a = await engine.act("1", "call_next", s01, request_id="r-1", caller="session-a")
    b = await engine.act("2", "call_next", s02, request_id="r-1", caller="session-b")
    assert a["ticket"]["number"] == "A001" and b["ticket"]["number"] == "A002"
    assert b["window"]["id"] == "2" and b["ticket"]["token"] != a["ticket"]["token"]
    # the same caller retrying gets the same answer and nothing happens twice
    seq = await seq_of(redis)
    assert await engine.act("1", "call_next", s01, request_id="r-1", caller="session-a") == a
    assert await seq_of(redis) == seq


async def test_anonymous_issue_reusing_a_clerks_request_id(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await engine.act("1", "call_next", s01, request_id="shared-1", caller="session-a")
    issued = await engine.issue(["photo"], request_id="shared-1", caller="203.0.113.7")
    assert issued["ticket"]["number"] == "D001" and issued["ahead"] == 0
    again = await engine.issue(["photo"], request_id="shared-1", caller="203.0.113.7")
    assert again["ticket"] == issued["ticket"]
    other = await engine.issue(["photo"], request_id="shared-1", caller="203.0.113.8")
    assert other["ticket"]["number"] == "D002"


async def test_the_same_id_for_another_action_is_not_a_replay(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    called = await engine.act("1", "call_next", s01, request_id="tap-7", caller="pad")
    recalled = await engine.act("1", "recall", s01, request_id="tap-7", caller="pad")
    assert called["ticket"]["number"] == recalled["ticket"]["number"] == "A001"
    assert [e["type"] for e in await events(engine)][-1] == "ticket.recalled"


async def test_stored_answers_are_scoped_keys(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    await engine.issue(["register"], request_id="k-1", caller="198.51.100.1")
    keys = [k async for k in redis.scan_iter(P + "req:*")]
    assert keys == [P + "req:issue|198.51.100.1|k-1"]


# --- point 9: a hall file that drops a service ----------------------------------------------


def without_photo_text() -> str:
    """The demo hall file with its photo service (and every window's photo) removed."""
    text = demo_text()
    photo = """[[services]]
id = "photo"
prefix = "D"
name = { zh = "照片采集", en = "Photo capture" }
kind = "instant"
expected_minutes = 3
"""
    assert photo in text
    text = text.replace(photo, "")
    text = text.replace(
        'tiers = [["register", "transfer", "pension", "photo"]]', 'tiers = [["register", "transfer", "pension"]]'
    )
    old = 'tiers = [["photo"], ["register", "transfer", "pension"]]'
    assert old in text
    return text.replace(old, 'tiers = [["register", "transfer", "pension"]]')


def without_photo() -> Hall:
    return parse_hall(without_photo_text())


async def test_orphaned_tickets_expire_with_an_event(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["photo"])  # D001
    await engine.issue(["register"])  # A001
    await engine.issue(["photo"])  # D002
    await engine.act("1", "call", s01, ticket="D002")
    await engine.act("1", "suspend", s01)
    smaller = Engine(redis, without_photo(), secret=b"k", clock=clock)
    dry = await smaller.orphans(dry_run=True)
    assert sorted((t["number"], t["status"], t["reason"]) for t in dry["expired"]) == [
        ("D001", "waiting", "service_removed"),
        ("D002", "suspended", "service_removed"),
    ]
    seq = await seq_of(redis)
    settled = await smaller.orphans()
    assert sorted(t["number"] for t in settled["expired"]) == ["D001", "D002"]
    later = await events(engine, seq)
    assert sorted((e["type"], e["ticket"]["number"], e["reason"]) for e in later) == [
        ("ticket.expired", "D001", "service_removed"),
        ("ticket.expired", "D002", "service_removed"),
    ]
    assert await status_of(smaller, "D001") == "expired"
    assert await status_of(smaller, "A001") == "waiting"
    assert (await engine.snapshot())["waiting"]["photo"] == 0
    # settled: a second run (another worker) finds nothing and writes nothing
    again = await settles_nothing(redis, smaller)
    assert again == {"expired": [], "returned": []}


async def settles_nothing(redis: Redis, engine: Engine) -> dict[str, Any]:
    """``orphans()`` when nothing is orphaned: it must leave Redis as it was."""
    before = await dump(redis)
    found = await engine.orphans()
    assert await dump(redis) == before
    return {"expired": found["expired"], "returned": found["returned"]}


async def test_dry_run_writes_nothing(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    await engine.issue(["photo"])
    before = await dump(redis)
    found = await Engine(redis, without_photo(), secret=b"k", clock=clock).orphans(dry_run=True)
    assert [t["number"] for t in found["expired"]] == ["D001"]
    assert await dump(redis) == before


async def test_a_stranded_reservation_goes_back_to_its_line(redis: Redis, clock: HallClock) -> None:
    """A ticket reserved for a window that is closed (left by an older version) or gone."""
    engine = guarded(redis, clock)
    s01, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s05")
    await engine.issue(["photo"])  # D001
    await engine.act("5", "open", s05)
    await engine.act("1", "call_next", s01)
    await engine.act("1", "transfer", s01, to_window="5")
    # an older version let window 5 close with it reserved: make that state by hand
    await redis.hset(P + "w:5", mapping={"clerk": "", "clerk_name": ""})
    settled = await engine.orphans()
    assert [(t["number"], t["reason"]) for t in settled["returned"]] == [("D001", "window_closed")]
    assert await redis.zcard(P + "wx:5") == 0
    assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == "D001"


# --- on random days: nothing ever waits for a window that is not open ----------------------

window_ops = st.one_of(
    st.tuples(
        st.just("issue"),
        st.lists(st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2, unique=True), min_size=1, max_size=4),
    ),
    st.tuples(st.just("call"), st.sampled_from(WINDOWS), st.sampled_from(WINDOWS)),
    st.tuples(st.just("call"), st.sampled_from(WINDOWS), st.sampled_from(WINDOWS)),
    st.tuples(st.just("close"), st.sampled_from(WINDOWS), st.booleans()),
    st.tuples(st.just("pause"), st.sampled_from(WINDOWS), st.booleans()),
    st.tuples(st.just("close"), st.sampled_from(WINDOWS), st.booleans()),
    st.tuples(st.just("unpause"), st.sampled_from(WINDOWS)),
    st.tuples(st.just("open"), st.sampled_from(WINDOWS)),
    st.tuples(st.just("special"), st.sampled_from(WINDOWS), st.integers(0, 100)),
)


async def nothing_waits_for_a_window_not_open(redis: Redis) -> None:
    for window in WINDOWS:
        fields = await redis.hgetall(P + "w:" + window)
        open_now = bool(fields.get("clerk")) and fields.get("paused") != "1"
        if not open_now:
            assert await redis.zcard(P + "wx:" + window) == 0, f"tickets wait for window {window}, not open"


async def run_window_day(url: str, steps: list[tuple[Any, ...]]) -> None:  # noqa: C901 — a scripted day: one branch per step kind
    """Clerks call, transfer to windows, pause, unpause and close at random; after every step
    no ticket waits for a window that is not open, the bookkeeping holds, and each call_next
    calls the ticket the pure rules choose."""
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.flushall()
        clock = HallClock()
        engine = Engine(redis, parse_hall(RULES_HALL), secret=b"k", clock=clock, min_call_interval_s=0)
        staff = {w: Staff(f"c{w}", f"clerk {w}", "clerk", "") for w in WINDOWS}
        issued: list[str] = []
        reserved = returned = paused_with = 0
        tiers = {w.id: w.tiers for w in engine.hall.windows}
        allowed = {
            "window_not_open",
            "window_cannot_serve",
            "same_window",
            "window_paused",
            "window_busy",
            "already_paused",
            "not_paused",
            "not_waiting",
            "unknown_ticket",
            "no_window_serves",
        }
        for window in WINDOWS:  # the clerks arrive; then they pause, come back and leave at random
            await engine.act(window, "open", staff[window])
        for step in steps:
            clock.advance(1)
            if step[0] in ("pause", "close") and step[2]:
                # half the time a clerk leaves a window that has tickets waiting for it, if any
                holding = [w for w in WINDOWS if await redis.zcard(P + "wx:" + w)]
                step = (step[0], holding[0] if holding else step[1])
            try:
                if step[0] == "issue":
                    for services in step[1]:
                        issued.append((await engine.issue(services))["ticket"]["token"])
                elif step[0] == "call":
                    window, target = step[1], step[2]
                    await engine.act(window, "open", staff[window])
                    if await redis.hget(P + "w:" + window, "paused") != "1":
                        called = await call_and_compare(engine, redis, window, staff[window])
                        # to the first window from `target` on that serves the ticket (open or not)
                        start = WINDOWS.index(target)
                        able = [
                            w
                            for w in WINDOWS[start:] + WINDOWS[:start]
                            if w != window and called and tier_of(tiers[w], called["services"]) is not None
                        ]
                        if called and able:
                            await engine.act(window, "transfer", staff[window], to_window=able[0])
                            reserved += 1
                elif step[0] == "special" and issued:
                    info = await engine.ticket(issued[step[2] % len(issued)])
                    assert info is not None
                    await engine.act(step[1], "call", staff[step[1]], ticket=info["ticket"]["number"])
                elif step[0] == "close":
                    window = step[1]
                    returned += bool(await redis.zcard(P + "wx:" + window))
                    if await redis.hget(P + "w:" + window, "token"):
                        await engine.act(window, "complete", staff[window])
                    await engine.act(window, "close", staff[window])
                elif step[0] == "open":
                    await engine.act(step[1], "open", staff[step[1]])
                elif step[0] in ("pause", "unpause"):
                    if step[0] == "pause" and await redis.zcard(P + "wx:" + step[1]):
                        paused_with += 1
                    await engine.act(step[1], step[0], staff[step[1]])
            except Refusal as refusal:
                assert refusal.code in allowed, refusal.code
            await nothing_waits_for_a_window_not_open(redis)
            await check_against_rules(engine, redis, issued)
        note(f"transfers to a window: {min(reserved, 3)}+, windows closed with some: {min(returned, 2)}+")
        note(f"windows paused with some: {min(paused_with, 2)}+")
    finally:
        await redis.aclose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(window_ops, min_size=5, max_size=40))
def test_random_days_never_strand_a_ticket_at_a_window(
    redis_server: EmbeddedRedis, steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(run_window_day(redis_server.url, steps))


async def test_tickets_waiting_for_a_removed_window_go_back_to_their_line(redis: Redis, clock: HallClock) -> None:
    engine = guarded(redis, clock)
    s01, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s05")
    await engine.issue(["photo"])  # D001
    await engine.issue(["photo"])  # D002
    await engine.act("5", "open", s05)
    await engine.act("1", "call_next", s01)
    await engine.act("1", "transfer", s01, to_window="5")
    five = '[[windows]]\nid = "5"\nname = { zh = "5号窗口", en = "Window 5" }\n'
    five += 'tiers = [["photo"], ["register", "transfer", "pension"]]\n'
    smaller = Engine(redis, demo_variant((five, "")), secret=b"k", clock=clock)
    seq = await seq_of(redis)
    settled = await smaller.orphans()
    assert settled["expired"] == []
    assert [(t["number"], t["window"], t["reason"]) for t in settled["returned"]] == [("D001", "5", "window_removed")]
    [event] = await events(engine, seq)
    assert event["type"] == "ticket.transferred" and event["reason"] == "window_removed"
    assert await redis.zcard(P + "wx:5") == 0
    clock.advance(5)
    assert (await smaller.act("1", "call_next", s01))["ticket"]["number"] == "D001", "first in the photo line"
