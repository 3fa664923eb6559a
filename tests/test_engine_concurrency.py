"""Twenty clerks calling at once against a thousand mixed tickets, each clerk on its own
Redis connection: every ticket is called, none twice at once, none lost."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from typing import Any

from redis.asyncio import Redis

from server.config import parse_hall
from server.embedded import EmbeddedRedis
from server.hall_model import Hall, Staff
from server.queue.engine import Engine
from tests.conftest import HallClock

WINDOWS = 20
TICKETS = 1000
ISSUERS = 4
SERVICES = ("register", "transfer", "pension", "photo")


def twenty_window_hall() -> Hall:
    services = "".join(
        f'[[services]]\nid = "{s}"\nprefix = "{p}"\nname = {{ zh = "{s}", en = "{s}" }}\nexpected_minutes = 5\n\n'
        for s, p in zip(SERVICES, "ABCD", strict=True)
    )
    windows = "".join(
        f'[[windows]]\nid = "{n}"\ntiers = [["register", "transfer", "pension", "photo"]]\n\n'
        for n in range(1, WINDOWS + 1)
    )
    return parse_hall(
        '[hall]\nid = "demo"\nname = { zh = "大厅", en = "Big hall" }\ntimezone = "Asia/Shanghai"\n'
        'daily_reset = "03:00"\n\n'
        + services
        + windows
        + "[rules.no_show]\nplaces_back = 3\nmax_times = 2\nmin_seconds_after_call = 15\n"
    )


def no_shows_of(number: str) -> int:
    """How often the visitor holding ``number`` fails to come when called (3: never comes,
    closed as no-show after max_times requeues). About one in four misses a call."""
    return {0: 1, 1: 2, 2: 3}.get(int(number[1:]) % 11, 0)


async def test_twenty_windows_thousand_tickets(redis_server: EmbeddedRedis, redis: Redis) -> None:  # noqa: C901 — twenty windows' loops and the invariants checked after them, in one place
    hall = twenty_window_hall()
    clock = HallClock()
    rng = random.Random(20261127)
    plans: list[tuple[list[str], bool]] = []
    for _ in range(TICKETS):
        count = 1 if rng.random() < 0.75 else rng.choice((2, 3))
        plans.append((rng.sample(SERVICES, count), rng.random() < 0.2))
    no_show_plan: dict[str, int] = {}  # by token, for the checks at the end
    no_shows_done: Counter[str] = Counter()
    calls: list[tuple[str, str]] = []  # (window, token) as each clerk saw its answers
    issued: list[str] = []
    finished = 0
    issuing_done = asyncio.Event()
    connections: list[Redis] = []

    def engine_on_own_connection() -> Engine:
        client = Redis.from_url(redis_server.url, decode_responses=True, max_connections=1)
        connections.append(client)
        return Engine(client, hall, secret=b"k", clock=clock, min_call_interval_s=0)

    async def issuer(index: int) -> None:
        engine = engine_on_own_connection()
        for services, priority in plans[index::ISSUERS]:
            answer = await engine.issue(services, priority=priority)
            token = answer["ticket"]["token"]
            no_show_plan[token] = no_shows_of(answer["ticket"]["number"])
            issued.append(token)
            await asyncio.sleep(0)

    async def clerk(window: str) -> None:
        nonlocal finished
        engine = engine_on_own_connection()
        staff = Staff(f"c{window}", f"Clerk {window}", "clerk", "")
        while True:
            answer = await engine.act(window, "call_next", staff)
            ticket = answer["ticket"]
            if ticket is None:
                if issuing_done.is_set() and finished == TICKETS:
                    return
                await asyncio.sleep(0.002)
                continue
            token = ticket["token"]
            calls.append((window, token))
            # a clerk may get the ticket before its issuer has even seen the answer
            if no_shows_done[token] < no_shows_of(ticket["number"]):
                no_shows_done[token] += 1
                clock.advance(15)
                after = await engine.act(window, "no_show", staff)
                if after["ticket"]["status"] == "no_show":
                    finished += 1
            else:
                finished += 1  # served: the next call_next closes it as done

    async def all_issuers() -> None:
        await asyncio.gather(*(issuer(i) for i in range(ISSUERS)))
        issuing_done.set()

    try:
        await asyncio.wait_for(
            asyncio.gather(all_issuers(), *(clerk(str(n)) for n in range(1, WINDOWS + 1))), timeout=90
        )
        checker = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
        events = await checker.events_after(0)
        assert events is not None
        final = await checker.snapshot()
        tickets = await checker.tickets(issued)
    finally:
        for client in connections:
            await client.aclose()

    # none lost: every issued ticket is accounted for, done or (after three no-shows) closed
    assert len(set(issued)) == TICKETS and len(tickets) == TICKETS
    by_token = {t["ticket"]["token"]: t["ticket"] for t in tickets}
    for token in issued:
        expected = "no_show" if no_show_plan[token] == 3 else "done"
        assert by_token[token]["status"] == expected, (by_token[token], no_show_plan[token])
    assert sum(final["waiting"].values()) == 0
    assert all(w["ticket"] is None for w in final["windows"])
    assert await redis.scard("hallq:{demo}:open") == 0

    # every ticket called exactly once per visit to the front (1 + requeues), as the clerks saw it
    seen = Counter(token for _window, token in calls)
    for token in issued:
        assert seen[token] == min(no_show_plan[token], 2) + 1, token

    # the events, in seq order, agree: seq without gaps, and a ticket is never in two
    # windows' hands — between two calls of a ticket there is always its requeue
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    holder: dict[str, str] = {}
    called: Counter[str] = Counter()
    ended: dict[str, str] = {}
    windows_of: defaultdict[str, set[str]] = defaultdict(set)
    for event in events:
        kind = event["type"]
        if not kind.startswith("ticket.") or kind == "ticket.issued":
            continue
        number = event["ticket"]["number"]
        if kind == "ticket.called":
            assert number not in holder, f"{number} called at {event['window']} while held at {holder.get(number)}"
            assert number not in ended
            holder[number] = event["window"]
            called[number] += 1
            windows_of[number].add(event["window"])
        elif kind in ("ticket.requeued", "ticket.completed", "ticket.no_show"):
            assert holder.pop(number) == event["window"], event
            if kind != "ticket.requeued":
                ended[number] = kind
        else:  # pragma: no cover - no other ticket action in this test
            raise AssertionError(kind)
    assert not holder
    assert len(ended) == TICKETS
    assert Counter(ended.values()) == Counter(
        "ticket.no_show" if no_show_plan[t] == 3 else "ticket.completed" for t in issued
    )
    assert sum(called.values()) == len(calls)
    issued_events = [e for e in events if e["type"] == "ticket.issued"]
    assert len(issued_events) == TICKETS
    numbers = {e["ticket"]["number"] for e in issued_events}
    assert numbers == set(called) == set(ended), "every issued number was called and closed"
    # the work was shared: most windows called a good number of tickets
    per_window = Counter(window for window, _token in calls)
    assert len(per_window) == WINDOWS
    used_priority: list[Any] = [e for e in issued_events if e["ticket"]["priority"]]
    assert used_priority, "the mix had priority tickets"
    assert any(len(e["ticket"]["services"]) > 1 for e in issued_events), "and multi-service ones"
