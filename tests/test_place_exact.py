"""A phone that follows the shared event frames (server/place.py) knows exactly how many people
are ahead of it: random days on the Lua engine, every waiting ticket followed by a phone,
compared with the engine's own count after every action."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from redis.asyncio import Redis

from server import place as rule
from server.config import parse_hall
from server.embedded import EmbeddedRedis
from server.hall_model import Staff
from server.queue.booking import Booking
from server.queue.engine import Engine
from server.queue.errors import Refusal
from tests.conftest import HallClock
from tests.test_engine import RULES_HALL, SERVICES, WINDOWS, call_op, issue_op, tickets

VECTORS = Path(__file__).with_name("place_vectors.json")

phone_ops = st.one_of(
    issue_op,
    issue_op,
    call_op,
    call_op,
    call_op,
    st.tuples(st.just("cancel"), st.integers(0, 200)),
    st.tuples(st.just("specific"), st.sampled_from(WINDOWS), st.integers(0, 200)),
    st.tuples(st.just("resume"), st.sampled_from(WINDOWS), st.integers(0, 200)),
    st.tuples(st.just("pause"), st.sampled_from(WINDOWS), st.booleans()),
)


class Phones:
    """Every issued ticket's phone: its place, kept by place.step from the hall's events."""

    def __init__(self, engine: Engine, record: list[dict[str, Any]] | None = None) -> None:
        self.engine = engine
        self.places: dict[str, dict[str, Any] | None] = {}
        self.seq = 0
        self.stats: Counter[str] = Counter()
        self.record = record

    async def read(self, token: str) -> None:
        info = await self.engine.ticket(token)
        assert info is not None
        place = info.get("place")
        if place is not None:
            assert rule.ahead(place) == info["ahead"], (place, info["ahead"])
            assert abs(rule.eta_s(place) - info["eta_s"]) <= 1, (place, info["eta_s"])
        self.places[token] = place
        self.stats["read"] += 1

    async def follow(self) -> None:
        """Apply the events since the last look; a phone told to re-read does."""
        events = await self.engine.events_after(self.seq) or []
        for event in events:
            self.seq = int(event["seq"])
            for token, place in list(self.places.items()):
                if place is None or place["seq"] >= self.seq:
                    continue
                after = rule.step(place, event)
                if self.record is not None and event.get("moves"):
                    self.record.append({"place": place, "event": event, "after": after})
                if after is None:
                    self.stats["reread"] += 1
                    await self.read(token)
                else:
                    self.places[token] = after
                    self.stats["applied"] += 1

    async def check(self) -> None:
        """Every phone's ahead equals the engine's; a phone whose ticket left the lines knows it."""
        for token, place in self.places.items():
            truth = await self.engine.ticket(token)
            assert truth is not None
            if truth["ticket"]["status"] == "waiting":
                assert place is not None, f"{truth['ticket']['number']} waits but its phone stopped following"
                assert rule.ahead(place) == truth["ahead"], (truth["ticket"]["number"], place, truth["ahead"])


async def random_day(  # noqa: C901 — a random day: one branch per step kind
    url: str, steps: list[tuple[Any, ...]], record: list[dict[str, Any]] | None = None
) -> Counter[str]:
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.flushall()
        engine = Engine(redis, parse_hall(RULES_HALL), secret=b"k", clock=(clock := HallClock()), min_call_interval_s=0)
        booking = Booking(engine)
        staff = {w: Staff(f"c{w}", f"clerk {w}", "clerk", "") for w in WINDOWS}
        phones = Phones(engine, record)
        issued: list[str] = []
        for step in steps:
            clock.advance(1)
            kind = step[0]
            try:
                if kind == "issue":
                    for services, cls in step[1]:
                        try:
                            if cls == "a":
                                code = (await booking.book(services, "2025-11-26", "10:00"))["appointment"]["code"]
                                token = (await booking.check_in(code=code))["ticket"]["token"]
                            else:
                                token = (await engine.issue(services, priority=cls == "p"))["ticket"]["token"]
                        except Refusal as refusal:
                            assert refusal.code == "no_window_serves", refusal.code
                            continue
                        issued.append(token)
                        await phones.follow()
                        await phones.read(token)
                elif kind == "call":
                    window, follow, service, to_window = step[1:]
                    called = (await engine.act(window, "call_next", staff[window]))["ticket"]
                    if called and follow == "no_show":
                        clock.advance(engine.hall.rules.no_show.min_seconds_after_call)
                        await engine.act(window, "no_show", staff[window])
                    elif called and follow == "transfer":
                        await engine.act(window, "transfer", staff[window], service=service, to_window=to_window)
                    elif called and follow == "suspend":
                        await engine.act(window, "suspend", staff[window])
                elif kind == "pause":
                    await engine.act(step[1], "pause" if step[2] else "unpause", staff[step[1]])
                elif kind in ("specific", "resume", "cancel") and issued:
                    info = await engine.ticket(issued[step[-1] % len(issued)])
                    assert info is not None
                    if kind == "cancel":
                        await engine.cancel(info["ticket"]["token"])
                    else:
                        action = "call" if kind == "specific" else "resume"
                        await engine.act(step[1], action, staff[step[1]], ticket=info["ticket"]["number"])
            except Refusal:
                pass  # a refused action changes nothing (tested in test_engine)
            await phones.follow()
            await phones.check()
        return phones.stats
    finally:
        await redis.aclose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(tickets, min_size=3, max_size=20), steps=st.lists(phone_ops, min_size=5, max_size=40))
def test_a_phone_following_moves_knows_its_place_exactly(
    redis_server: EmbeddedRedis, first: list[tuple[list[str], str]], steps: list[tuple[Any, ...]]
) -> None:
    stats = asyncio.run(random_day(redis_server.url, [("issue", first), *steps]))
    note(f"moves applied: {min(stats['applied'], 50) // 10 * 10}+")


def test_a_busy_hall_needs_few_rereads(redis_server: EmbeddedRedis) -> None:
    """Calls and issues of known lines are applied from the frames: a phone reads its ticket
    again only for its own events and new groups of services."""
    first = [(["register"], "o")] * 30 + [(["transfer"], "o")] * 10 + [(["register"], "p")] * 3
    steps: list[tuple[Any, ...]] = [("issue", first)]
    steps += [("call", WINDOWS[i % len(WINDOWS)], "keep", None, None) for i in range(20)]
    stats = asyncio.run(random_day(redis_server.url, steps))
    assert stats["applied"] > 10 * stats["reread"], stats


def test_vectors_hold_the_python_rule() -> None:
    """tests/place_vectors.json (also run by node against kiosk/static/place-rule.js)."""
    vectors = json.loads(VECTORS.read_text())
    assert len(vectors) >= 50
    for case in vectors:
        after = rule.step(case["place"], case["event"])
        assert after == case["after"], case
        if after is not None:
            assert isinstance(rule.ahead(after), int) and isinstance(rule.eta_s(after), int)
            assert case["ahead"] == rule.ahead(after) and case["eta_s"] == rule.eta_s(after)


def write_vectors(url: str) -> None:  # pragma: no cover - run by hand when the rule changes
    """HALLQ_WRITE_PLACE_VECTORS=1 pytest tests/test_place_exact.py -k write: regenerate the file."""
    record: list[dict[str, Any]] = []
    services = list(SERVICES)
    first = [([services[i % len(services)]], "opa"[i % 3]) for i in range(24)]
    steps: list[tuple[Any, ...]] = [("issue", first)]
    for i in range(30):
        follow = ("keep", "no_show", "transfer")[i % 3]
        steps.append(("call", WINDOWS[i % len(WINDOWS)], follow, None, WINDOWS[(i + 1) % 5]))
        if i % 4 == 0:
            steps.append(("issue", [([services[i % len(services)]], "o")]))
        if i % 7 == 0:
            steps.append(("pause", WINDOWS[i % len(WINDOWS)], i % 2 == 0))
    asyncio.run(random_day(url, steps, record))
    stride = max(1, len(record) // 100)
    record = [case for i, case in enumerate(record) if case["after"] is None or i % stride == 0]
    for case in record:
        after = case["after"]
        case["ahead"] = None if after is None else rule.ahead(after)
        case["eta_s"] = None if after is None else rule.eta_s(after)
    # cases written by hand (window opening and pausing, unknown lines, own events) are kept
    record += [case for case in json.loads(VECTORS.read_text()) if case.get("hand")]
    VECTORS.write_text(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def test_write_vectors(redis_server: EmbeddedRedis) -> None:
    if os.environ.get("HALLQ_WRITE_PLACE_VECTORS"):
        write_vectors(redis_server.url)
