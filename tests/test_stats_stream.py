"""Statistics counted from the event stream (lua/stats.lua, server/stats_rule.py).

The actions write no counters; their events carry what they count and a counting step,
which any process may run, counts the events after ``stats_seq``. Checked here: on random
days the counters equal both the Python rule applied to the stream and a direct count of
the day's tickets, however the counting is split into steps; two steps racing count each
event once; a read (snapshot, window state, ``GET /stats``) sees the action just done; and
an event is never trimmed from the stream before it was counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from redis.asyncio import Redis

from server import stats_counter, stats_rule
from server.config import load_demo
from server.embedded import EmbeddedRedis
from server.events import enrich
from server.hall_model import Hall, Staff
from server.hours import hall_time
from server.queue.constants import keys_prefix
from server.queue.engine import Engine
from server.queue.errors import Refusal
from tests.conftest import DEMO_MORNING, HallClock
from tests.live import LiveServer

P = keys_prefix("demo")
DAY = "2025-11-26"  # the business day of DEMO_MORNING
SERVICES = ("register", "transfer", "pension", "photo")
WINDOWS = ("1", "2", "5")


async def stream_events(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(fields["e"]) for _id, fields in await redis.xrange(P + "events")]


async def counters(redis: Redis) -> dict[str, Counter[str]]:
    """Every stats hash of the hall: ``{day: {field: value}}``."""
    days: dict[str, Counter[str]] = {}
    async for key in redis.scan_iter(match=P + "stats:*"):
        days[key.rsplit(":", 1)[1]] = Counter({f: int(v) for f, v in (await redis.hgetall(key)).items()})
    return days


async def direct_counts(redis: Redis, day: str) -> Counter[str]:
    """The day's ``all|all`` figures counted from its tickets, without the stream."""
    count: Counter[str] = Counter()
    for token in await redis.lrange(P + "day:" + day, 0, -1):
        t = await redis.hgetall(P + "t:" + token)
        count["issued"] += 1
        if t["status"] in ("done", "cancelled", "no_show", "expired"):
            count[{"done": "served"}.get(t["status"], t["status"])] += 1
        if t.get("first_called_at"):
            count["wait_n"] += 1
            count["wait_sum"] += (int(t["first_called_at"]) - int(t["issued_at"])) // 1000
        if t["status"] == "done":
            count["handle_sum"] += (int(t["done_at"]) - int(t["called_at"])) // 1000
        if t.get("rating"):
            count["rated"] += 1
            count["rating_" + t["rating"]] += 1
    return count


def all_all(fields: Counter[str]) -> Counter[str]:
    """The ``all|all`` metrics of a stats hash, with the waits' count from their histogram."""
    out: Counter[str] = Counter()
    for field, value in fields.items():
        dim, _value, metric = field.split("|", 2)
        if dim != "all":
            continue
        if metric.startswith("wait_h:"):
            out["wait_n"] += value
        elif not metric.startswith("handle_h:") and metric not in ("transferred",) and value:
            out[metric] += value
    return out


issue = st.tuples(st.just("issue"), st.sampled_from(SERVICES), st.booleans())
call = st.tuples(st.just("act"), st.sampled_from(WINDOWS), st.sampled_from(["call_next", "call_next", "no_show"]))
rate = st.tuples(st.just("rate"), st.integers(0, 50), st.integers(1, 5))
step = st.one_of(
    issue,
    call,
    call,
    call,
    st.tuples(st.just("act"), st.sampled_from(WINDOWS), st.just("complete")),
    st.tuples(st.just("transfer"), st.sampled_from(WINDOWS), st.sampled_from(SERVICES)),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    rate,
    rate,
    st.tuples(st.just("count"), st.integers(1, 7)),
)


async def random_day(url: str, steps: list[tuple[Any, ...]]) -> None:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.flushall()
        clock = HallClock()
        engine = Engine(redis, load_demo(), secret=b"k", clock=clock, min_call_interval_s=0)
        staff = {w: Staff(f"s0{w}", f"clerk {w}", "clerk", "") for w in WINDOWS}
        tokens: list[str] = []
        for kind, *args in steps:
            clock.advance(7 if kind != "act" else 20)  # past the no-show's 15 s after a call
            try:
                if kind == "issue":
                    tokens.append((await engine.issue([args[0]], priority=args[1]))["ticket"]["token"])
                elif kind == "act":
                    await engine.act(args[0], args[1], staff[args[0]])
                elif kind == "transfer":
                    await engine.act(args[0], "transfer", staff[args[0]], service=args[1])
                elif kind == "cancel" and tokens:
                    await engine.cancel(tokens[args[0] % len(tokens)])
                elif kind == "rate" and tokens:
                    await engine.rate(args[1], token=tokens[args[0] % len(tokens)])
                elif kind == "count":
                    await engine.count_stats(batch=args[0])  # a step of a few events, mid-day
            except Refusal:
                pass
        clock.advance(24 * 3600)
        await engine.rollover()  # the day's open tickets expire, counted in its statistics
        await engine.count_stats(batch=3)
        assert await redis.get(P + "stats_seq") == await redis.get(P + "seq")
        got = await counters(redis)
        assert got == stats_rule.count_events(await stream_events(redis)), "Lua and Python count alike"
        direct = await direct_counts(redis, DAY)
        assert all_all(got.get(DAY, Counter())) == +direct, "the tickets agree"
        note(
            f"served: {min(direct['served'], 5)}+, no-shows: {min(direct['no_show'], 2)}+, rated: {direct['rated'] > 0}"
        )
    finally:
        await redis.aclose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(issue, min_size=3, max_size=15), steps=st.lists(step, min_size=20, max_size=80))
def test_counted_from_the_stream_as_the_rule_and_the_tickets_say(
    redis_server: EmbeddedRedis, first: list[tuple[Any, ...]], steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(random_day(redis_server.url, [*first, *steps]))


async def busy_morning(engine: Engine, clock: HallClock, tickets: int) -> None:
    clerk = Staff("s01", "clerk", "clerk", "")
    for i in range(tickets):
        await engine.issue([SERVICES[i % len(SERVICES)]])
        clock.advance(30)
        await engine.act("1", "call_next", clerk)


async def test_two_counting_steps_at_once_count_each_event_once(redis: Redis, redis_url: str, hall: Hall) -> None:
    clock = HallClock()
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    await busy_morning(engine, clock, 60)
    others = [Redis.from_url(redis_url, decode_responses=True) for _ in range(3)]
    try:
        racers = [Engine(r, hall, secret=b"k", clock=clock) for r in others]
        counted = await asyncio.gather(*(r.count_stats(batch=7) for r in racers), engine.count_stats(batch=5))
    finally:
        for r in others:
            await r.aclose()
    seq = int(await redis.get(P + "seq") or 0)
    assert sum(counted) == seq, f"{counted}: every event counted by exactly one of the steps"
    assert await counters(redis) == stats_rule.count_events(await stream_events(redis))
    assert (await counters(redis))[DAY]["all|all|issued"] == 60
    assert await engine.count_stats() == 0


async def test_a_read_right_after_an_action_sees_it(engine: Engine, hall: Hall, redis: Redis) -> None:
    clerk = hall.staff_member("s01")
    assert clerk is not None
    await engine.issue(["register"])
    await engine.act("1", "call_next", clerk)
    await engine.act("1", "complete", clerk)
    assert await redis.get(P + "stats_seq") is None, "the actions counted nothing themselves"
    assert (await engine.snapshot())["served_today"] == 1
    await engine.issue(["register"])
    await engine.act("1", "call_next", clerk)
    await engine.act("1", "complete", clerk)
    assert (await engine.window_state("1"))["served_today"] == 2


async def test_no_event_is_trimmed_before_it_is_counted(redis: Redis, hall: Hall) -> None:
    """Nobody runs the counting step (no server process): every STATS_CHECK_EVERY events an
    action checks, and counts a batch itself once the counting is half the stream behind."""
    short = dataclasses.replace(hall, event_retention=600)  # below the hall file's minimum: a test only
    clock = HallClock()
    engine = Engine(redis, short, secret=b"k", clock=clock, min_call_interval_s=0)
    await busy_morning(engine, clock, 700)  # ~2,100 events, three and a half streams' worth
    seq = int(await redis.get(P + "seq") or 0)
    behind = seq - int(await redis.get(P + "stats_seq") or 0)
    assert 0 < behind <= 300 + 256, behind
    assert await redis.xlen(P + "events") < seq, "the stream was trimmed meanwhile"
    await engine.count_stats()
    day = (await counters(redis))[DAY]
    assert day["all|all|issued"] == 700 and day["all|all|served"] == 699


def test_get_stats_counts_before_it_reads(
    live_server_factory: Any, monkeypatch: pytest.MonkeyPatch, redis_server: EmbeddedRedis
) -> None:
    """A report asked right after an action includes it, with no background counting at all."""
    monkeypatch.setenv("HALLQ_STATS_DELAY_S", "3600")
    server: LiveServer = live_server_factory()
    server.issue(["register"])
    clerk = server.login("s01")
    assert server.act(clerk, "1", "call_next")[0] == 200
    assert server.act(clerk, "1", "complete")[0] == 200
    admin = server.login("admin", "admin1234")
    status, report = server.request("GET", "/api/halls/demo/stats?by=window", token=admin)
    assert status == 200, report
    assert report["total"]["issued"] == 1 and report["total"]["served"] == 1
    assert {g["key"]: g["served"] for g in report["groups"]}["1"] == 1


def test_demo_morning_is_the_day_used_here() -> None:
    assert hall_time(DEMO_MORNING, load_demo()).day == DAY


async def test_the_facts_stay_in_the_stream(engine: Engine, hall: Hall, redis: Redis) -> None:
    """Events carry a clerk's staff id in their statistics facts; what screens, phones and
    webhooks get (enriched) names a clerk by name only, as before."""
    clerk = hall.staff_member("s01")
    assert clerk is not None
    await engine.issue(["register"])
    await engine.act("1", "call_next", clerk)
    called = (await stream_events(redis))[-1]
    assert called["type"] == "ticket.called" and called["stats"]["clerk"] == "s01"
    public = enrich(hall, called)
    assert "stats" not in public and "s01" not in json.dumps(public)


async def test_the_hub_counts_in_the_background_after_news(
    engine: Engine, hall: Hall, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One step for a burst of pokes, and one more for events that arrive while it counts."""
    monkeypatch.setattr(stats_counter, "COUNT_DELAY_S", 0.05)
    counter = stats_counter.StatsCounter(engine)
    await engine.issue(["register"])
    for _ in range(5):
        counter.poke()
    await asyncio.sleep(0.2)
    assert await redis.get(P + "stats_seq") == await redis.get(P + "seq") == "1"
    await engine.issue(["photo"])
    counter.poke()
    await asyncio.sleep(0.01)
    counter.poke()  # while the step waits: no second task, the same step counts it
    await engine.issue(["pension"])
    counter.poke()
    await asyncio.sleep(0.2)
    assert await redis.get(P + "stats_seq") == "3"
    assert (await counters(redis))[DAY]["all|all|issued"] == 3
    await counter.stop()
