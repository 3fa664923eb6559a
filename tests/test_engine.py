"""The queue engine against a real redis-server: every action, every refusal (and that a
refusal changes nothing), idempotency, events, snapshots, tokens, keys, cutoff and reset;
and, on random queues, the Lua scripts agree with the pure rules of ``server.queue.rules``."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections import Counter
from collections.abc import Awaitable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.config import demo_text, load_demo, parse_hall
from server.edge import http_status
from server.embedded import EmbeddedRedis
from server.hall_model import Hall, Staff
from server.queue.booking import Booking
from server.queue.constants import RECENT_CALLS, keys_prefix
from server.queue.engine import Engine
from server.queue.errors import Refusal
from server.queue.rules import HallWindows, WaitingTicket, next_for_window, people_ahead, requeue_score
from tests.conftest import DEMO_MORNING, HallClock

P = keys_prefix("demo")
HOUR = 3600.0


# --- helpers ------------------------------------------------------------------------


def demo_variant(*replacements: tuple[str, str]) -> Hall:
    """The demo hall file with some text replaced (each replacement must apply)."""
    text = demo_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return parse_hall(text)


def clerk(hall: Hall, staff_id: str) -> Staff:
    member = hall.staff_member(staff_id)
    assert member is not None
    return member


async def dump(redis: Redis) -> dict[str, Any]:
    """Every key of the database with its type and value (not its TTL)."""
    state: dict[str, Any] = {}
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        value: Any
        if kind == "string":
            value = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:  # pragma: no cover - we store nothing else
            value = kind
        state[key] = (kind, value)
    return state


async def refused(redis: Redis, code: str, action: Awaitable[Any]) -> Refusal:
    """Await ``action``, expect a refusal with ``code``, and check Redis is unchanged."""
    before = await dump(redis)
    with pytest.raises(Refusal) as caught:
        await action
    assert caught.value.code == code, caught.value.message
    assert await dump(redis) == before, f"refusal {code} changed Redis"
    return caught.value


async def events(engine: Engine, after: int = 0) -> list[dict[str, Any]]:
    found = await engine.events_after(after)
    assert found is not None
    return found


async def seq_of(redis: Redis) -> int:
    return int(await redis.get(P + "seq") or 0)


async def numbers_called(engine: Engine, window: str, staff: Staff, times: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(times):
        answer = await engine.act(window, "call_next", staff)
        out.append(answer["ticket"]["number"] if answer["ticket"] else None)
    return out


# --- issuing ----------------------------------------------------------------------


async def test_issue_numbers_per_prefix(engine: Engine) -> None:
    a1 = await engine.issue(["register"])
    a2 = await engine.issue(["register"], priority=True, lang="en")
    b1 = await engine.issue(["transfer"])
    combo = await engine.issue(["pension", "register"])
    assert [x["ticket"]["number"] for x in (a1, a2, b1, combo)] == ["A001", "A002", "B001", "C001"]
    ticket = a1["ticket"]
    assert ticket["status"] == "waiting" and ticket["window"] is None
    assert ticket["services"] == ["register"] and ticket["priority"] is False
    assert ticket["lang"] == "zh", "the hall's first language by default"
    assert ticket["issued_at"] == int(DEMO_MORNING * 1000)
    assert ticket["called_at"] is None and ticket["done_at"] is None
    assert a2["ticket"]["priority"] is True and a2["ticket"]["lang"] == "en"
    assert combo["ticket"]["services"] == ["pension", "register"]
    assert a1["ahead"] == 0 and a2["ahead"] == 0, "a priority ticket stands before ordinary ones"
    assert b1["ahead"] == 2, "the comprehensive windows call A001 and A002 before it (merged order)"
    assert combo["ahead"] == 3, "A001, A002 and B001 come first at a window serving both"
    assert [e["type"] for e in await events(engine)] == ["ticket.issued"] * 4
    assert [a1["seq"], a2["seq"], b1["seq"], combo["seq"]] == [1, 2, 3, 4]


async def test_issue_ahead_counts(engine: Engine) -> None:
    await engine.issue(["register"])
    await engine.issue(["transfer"])
    third = await engine.issue(["register"])
    assert third["ahead"] == 2, "A001, and B001 which the comprehensive windows call first"
    prio = await engine.issue(["register"], priority=True)
    assert prio["ahead"] == 0
    found = await engine.ticket(third["ticket"]["token"])
    assert found is not None and found["ahead"] == 3
    assert found["eta_s"] > 0


async def test_issue_refusals_change_nothing(redis: Redis, engine: Engine) -> None:
    await engine.issue(["register"])
    await refused(redis, "no_services", engine.issue([]))
    await refused(redis, "duplicate_service", engine.issue(["register", "register"]))
    await refused(redis, "unknown_service", engine.issue(["passport"]))
    await refused(redis, "unknown_language", engine.issue(["register"], lang="fr"))
    await refused(redis, "bad_request_id", engine.issue(["register"], request_id="no spaces"))
    # a pattern anchored with $ would let a trailing newline through: fullmatch does not
    await refused(redis, "bad_request_id", engine.issue(["register"], request_id="abc\n"))


async def test_no_window_serves_the_combination(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(
        *(
            (
                f'id = "{n}"\nname = {{ zh = "{n}号窗口", en = "Window {n}" }}\n'
                'tiers = [["register", "transfer", "pension", "photo"]]',
                f'id = "{n}"\nname = {{ zh = "{n}号窗口", en = "Window {n}" }}\n'
                'tiers = [["register", "transfer", "pension"]]',
            )
            for n in "1234"
        ),
        ('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tiers = [["photo"]]'),
    )
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    await engine.issue(["photo"])
    await refused(redis, "no_window_serves", engine.issue(["photo", "register"]))


async def test_tokens_are_unguessable(engine: Engine) -> None:
    tokens = [(await engine.issue(["photo"]))["ticket"]["token"] for _ in range(50)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        hall_id, secret = token.split(".", 1)
        assert hall_id == "demo"
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        assert len(raw) * 8 >= 128
    # the token is not derived from the number: no two share a long common prefix
    assert len({t[:12] for t in tokens}) == len(tokens)


async def test_quota_reached(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(("expected_minutes = 6", "expected_minutes = 6\ndaily_quota = 2"))
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    await engine.issue(["register"])
    await engine.issue(["register", "photo"])
    refusal = await refused(redis, "quota_reached", engine.issue(["register"]))
    assert http_status(refusal.code) == 409 and refusal.details["service"] == "register"
    await refused(redis, "quota_reached", engine.issue(["photo", "register"]))
    assert (await engine.issue(["photo"]))["ticket"]["number"] == "D001", "other services are not limited"
    # the next business day has a fresh quota
    clock.advance(24 * HOUR)
    assert (await engine.issue(["register"]))["ticket"]["number"] == "A001"


async def test_duplicate_ticket_and_the_id_number_is_never_stored(redis: Redis, engine: Engine) -> None:
    id_number = "11010519491231002X"
    first = await engine.issue(["register", "photo"], id_number=id_number)
    refusal = await refused(redis, "duplicate_ticket", engine.issue(["register"], id_number=id_number))
    assert refusal.details["number"] == first["ticket"]["number"]
    # the same person written differently is the same person
    await refused(redis, "duplicate_ticket", engine.issue(["photo"], id_number=" 110105 19491231 002x "))
    # another service, or another person, is fine
    other = await engine.issue(["pension"], id_number=id_number)
    await engine.issue(["register"], id_number="110105194912310038")
    # once the ticket is closed the person may take a new one
    s01 = clerk(engine.hall, "s01")
    await engine.act("1", "call_next", s01)
    await engine.act("1", "call_next", s01)  # completes the first ticket, calls the pension one
    again = await engine.issue(["register"], id_number=id_number)
    assert again["ticket"]["number"] == "A003"
    assert other["ticket"]["number"] == "C001"
    # the raw number appears nowhere: no key, no value, no event
    state = json.dumps(await dump(redis), ensure_ascii=False).upper()
    for form in (id_number, "110105194912310038", "19491231"):
        assert form.upper() not in state


async def test_duplicate_is_released_by_cancel(redis: Redis, engine: Engine) -> None:
    first = await engine.issue(["register"], id_number="310101200001010011")
    await refused(redis, "duplicate_ticket", engine.issue(["register"], id_number="310101200001010011"))
    await engine.cancel(first["ticket"]["token"])
    assert (await engine.issue(["register"], id_number="310101200001010011"))["ticket"]["number"] == "A002"


async def test_numbers_exhausted(redis: Redis, engine: Engine) -> None:
    for _ in range(999):
        last = await engine.issue(["photo"])
    assert last["ticket"]["number"] == "D999"
    await refused(redis, "numbers_exhausted", engine.issue(["photo"]))
    assert (await engine.issue(["register"]))["ticket"]["number"] == "A001"


async def test_hall_closed_after_cutoff_while_calling_continues(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(('ticket_cutoff = "23:59"', 'ticket_cutoff = "16:30"'))
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    s01 = clerk(hall, "s01")
    await engine.issue(["register"])
    await engine.issue(["pension"])
    clock.now = DEMO_MORNING + 6.5 * HOUR - 1  # 16:29:59
    await engine.issue(["photo"])
    clock.advance(1)  # 16:30:00
    refusal = await refused(redis, "hall_closed", engine.issue(["register"]))
    assert http_status(refusal.code) == 409
    assert (await engine.snapshot())["issuing_open"] is False
    assert await numbers_called(engine, "1", s01, 4) == ["A001", "C001", "D001", None]


async def test_hall_closed_outside_opening_hours(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(('wed = ["00:00-24:00"]', 'wed = ["08:30-12:00", "13:30-17:30"]'))
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    await engine.issue(["register"])  # Wednesday 10:00
    clock.now = DEMO_MORNING + 2.5 * HOUR  # 12:30, lunch
    await refused(redis, "hall_closed", engine.issue(["register"]))
    clock.now = DEMO_MORNING + 3.5 * HOUR  # 13:30
    assert (await engine.issue(["register"]))["ticket"]["number"] == "A002"


# --- calling ------------------------------------------------------------------------


async def test_call_next_closes_the_current_ticket_then_calls(engine: Engine, clock: HallClock) -> None:
    s01 = clerk(engine.hall, "s01")
    a1 = await engine.issue(["register"])
    a2 = await engine.issue(["register"])
    first = await engine.act("1", "call_next", s01)
    assert first["ticket"]["number"] == "A001" and first["ticket"]["status"] == "called"
    assert first["ticket"]["token"] == a1["ticket"]["token"], "staff answers carry the token"
    assert first["window"]["status"] == "calling" and first["window"]["clerk"]["id"] == "s01"
    assert first["ticket"]["called_at"] == int(clock.now * 1000)
    before = await seq_of(engine.redis)
    clock.advance(300)
    second = await engine.act("1", "call_next", s01)
    assert second["ticket"]["number"] == "A002"
    new = await events(engine, before)
    assert [e["type"] for e in new] == ["ticket.completed", "ticket.called"]
    assert new[0]["ticket"]["number"] == "A001" and new[0]["ticket"]["status"] == "done"
    assert new[0]["ticket"]["done_at"] == int(clock.now * 1000)
    assert "token" not in new[0]["ticket"] and "token" not in new[1]["ticket"], "events never carry tokens"
    assert new[1]["window"] == "1" and new[1]["clerk"] == {"id": "s01", "name": "李明"}
    done = await engine.ticket(a1["ticket"]["token"])
    assert done is not None and done["ticket"]["status"] == "done" and done["ticket"]["window"] == "1"
    # nothing left: the current ticket is still closed, and the answer's ticket is null
    third = await engine.act("1", "call_next", s01)
    assert third["ticket"] is None and third["window"]["status"] == "idle"
    assert [e["type"] for e in await events(engine, second["seq"])] == ["ticket.completed"]
    last = await engine.ticket(a2["ticket"]["token"])
    assert last is not None and last["ticket"]["status"] == "done"


async def test_first_action_opens_the_window(engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    answer = await engine.act("2", "call_next", s01)
    assert answer["ticket"] is None
    assert [e["type"] for e in await events(engine)] == ["window.opened"]
    opened = await engine.act("2", "open", s01)
    assert opened["seq"] == answer["seq"], "open is a no-op for the clerk who holds it"


async def test_window_taken_and_admin_close(redis: Redis, engine: Engine) -> None:
    s01, s02, admin = (clerk(engine.hall, s) for s in ("s01", "s02", "admin"))
    await engine.issue(["register"])
    await engine.act("1", "open", s01)
    await refused(redis, "window_taken", engine.act("1", "call_next", s02))
    await refused(redis, "window_taken", engine.act("1", "close", s02))
    await engine.act("1", "call_next", s01)
    await refused(redis, "window_busy", engine.act("1", "close", s01))
    await engine.act("1", "complete", s01)
    closed = await engine.act("1", "close", admin)
    assert closed["window"]["status"] == "closed" and closed["window"]["clerk"] is None
    taken = await engine.act("1", "open", s02)
    assert taken["window"]["clerk"]["id"] == "s02"


async def test_window_actions_with_nothing_in_hand_are_refused(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await engine.act("1", "open", s01)
    await refused(redis, "nothing_called", engine.act("1", "recall", s01))
    await refused(redis, "nothing_called", engine.act("1", "start", s01))
    await refused(redis, "nothing_called", engine.act("1", "no_show", s01))
    await refused(redis, "nothing_in_hand", engine.act("1", "complete", s01))
    await refused(redis, "nothing_in_hand", engine.act("1", "suspend", s01))
    await refused(redis, "nothing_in_hand", engine.act("1", "transfer", s01, to_window="2"))


async def test_request_validation_refusals(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await refused(redis, "unknown_window", engine.act("9", "call_next", s01))
    await refused(redis, "unknown_action", engine.act("1", "dance", s01))
    await refused(redis, "bad_ticket_number", engine.act("1", "call", s01, ticket="A12"))
    await refused(redis, "bad_ticket_number", engine.act("1", "resume", s01, ticket=None))
    await refused(redis, "bad_ticket_number", engine.ticket_by_number("a001"))
    await refused(redis, "unknown_ticket", engine.act("1", "call", s01, ticket="A999"))
    await refused(redis, "missing_target", engine.act("1", "transfer", s01))
    await refused(redis, "unknown_service", engine.act("1", "transfer", s01, service="passport"))
    await refused(redis, "unknown_window", engine.act("1", "transfer", s01, to_window="99"))
    await refused(redis, "bad_request_id", engine.act("1", "call_next", s01, request_id="x" * 65))
    assert http_status("unknown_window") == 404
    assert http_status("bad_ticket_number") == 422


async def test_recall_only_after_a_call(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    called = await engine.act("1", "call_next", s01)
    recalled = await engine.act("1", "recall", s01)
    assert recalled["ticket"]["number"] == "A001" and recalled["ticket"]["status"] == "called"
    new = await events(engine, called["seq"])
    assert [e["type"] for e in new] == ["ticket.recalled"]
    assert new[0]["ticket"]["number"] == "A001" and new[0]["window"] == "1"
    await engine.act("1", "start", s01)
    await refused(redis, "nothing_called", engine.act("1", "recall", s01))


async def test_start_and_complete(engine: Engine, clock: HallClock) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["photo"])
    await engine.act("1", "call_next", s01)
    started = await engine.act("1", "start", s01)
    assert started["ticket"]["status"] == "serving" and started["window"]["status"] == "serving"
    clock.advance(180)
    completed = await engine.act("1", "complete", s01)
    assert completed["ticket"]["status"] == "done"
    assert completed["ticket"]["done_at"] == int(clock.now * 1000)
    assert completed["window"]["status"] == "idle" and completed["window"]["ticket"] is None
    types = [e["type"] for e in await events(engine)]
    assert types == ["ticket.issued", "window.opened", "ticket.called", "ticket.started", "ticket.completed"]
    state = await engine.window_state("1")
    assert state["served_today"] == 1


async def test_no_show_moves_back_then_closes(redis: Redis, engine: Engine, clock: HallClock) -> None:
    s01 = clerk(engine.hall, "s01")
    for _ in range(6):
        await engine.issue(["register"])
    await engine.act("1", "call_next", s01)  # A001
    clock.advance(14)
    refusal = await refused(redis, "too_early", engine.act("1", "no_show", s01))
    assert 0 < refusal.details["retry_after_ms"] <= 1000
    clock.advance(1)
    requeued = await engine.act("1", "no_show", s01)
    assert requeued["ticket"]["status"] == "waiting" and requeued["ticket"]["number"] == "A001"
    assert requeued["window"]["status"] == "idle"
    last = (await events(engine))[-1]
    assert last["type"] == "ticket.requeued" and last["places"] == 3 and last["no_shows"] == 1
    info = await engine.ticket(requeued["ticket"]["token"])
    assert info is not None and info["ahead"] == 3, "three places back: A002, A003, A004 go first"
    assert await numbers_called(engine, "1", s01, 4) == ["A002", "A003", "A004", "A001"]
    clock.advance(20)
    await engine.act("1", "no_show", s01)  # second no-show: A001 behind A005, A006
    assert await numbers_called(engine, "1", s01, 3) == ["A005", "A006", "A001"]
    clock.advance(20)
    closed = await engine.act("1", "no_show", s01)  # max_times (2) reached: closed
    assert closed["ticket"]["status"] == "no_show" and closed["ticket"]["done_at"] is not None
    assert (await events(engine))[-1]["type"] == "ticket.no_show"
    assert await numbers_called(engine, "1", s01, 1) == [None]


async def test_a_no_show_does_not_come_straight_back_at_a_comprehensive_window(
    engine: Engine, clock: HallClock
) -> None:
    """Issue 9, as seen: D001 (photo), then A001, B001, C001. Window 1 (all four services in
    one tier) calls D001 and marks it no-show after the allowed delay; the next calls are
    A001, B001, C001, then D001, and the phone says 3 ahead, not "next is you"."""
    s01 = clerk(engine.hall, "s01")
    d001 = await engine.issue(["photo"])
    for service in ("register", "transfer", "pension"):
        await engine.issue([service])
    assert (await engine.act("1", "call_next", s01))["ticket"]["number"] == "D001"
    clock.advance(engine.hall.rules.no_show.min_seconds_after_call)
    requeued = await engine.act("1", "no_show", s01)
    assert requeued["ticket"]["status"] == "waiting"
    info = await engine.ticket(d001["ticket"]["token"])
    assert info is not None and info["ahead"] == 3, "A001, B001, C001 are called first"
    assert info["eta_s"] > 0
    clock.advance(5)
    assert await numbers_called(engine, "1", s01, 4) == ["A001", "B001", "C001", "D001"]


async def test_a_no_show_never_jumps_over_priority_nor_behind_more_than_its_places(
    engine: Engine, clock: HallClock
) -> None:
    s01 = clerk(engine.hall, "s01")
    for service in ("register", "transfer", "pension", "register", "transfer"):
        await engine.issue([service])  # A001 B001 C001 A002 B002
    assert (await engine.act("2", "call_next", s01))["ticket"]["number"] == "A001"
    await engine.issue(["pension"], priority=True)  # C002, priority, issued after
    clock.advance(15)
    back = await engine.act("2", "no_show", s01)
    info = await engine.ticket(back["ticket"]["token"])
    assert info is not None and info["ahead"] == 4, "C002 (priority), then B001, C001, A002"
    assert await numbers_called(engine, "2", s01, 6) == ["C002", "B001", "C001", "A002", "A001", "B002"]


async def test_no_show_refused_once_serving(redis: Redis, engine: Engine, clock: HallClock) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await engine.act("1", "call_next", s01)
    await engine.act("1", "start", s01)
    clock.advance(60)
    await refused(redis, "nothing_called", engine.act("1", "no_show", s01))


async def test_transfer_to_a_window_keeps_the_number_and_goes_first(redis: Redis, engine: Engine) -> None:
    s01, s05 = clerk(engine.hall, "s01"), clerk(engine.hall, "s05")
    await engine.issue(["register"])  # A001
    await engine.issue(["photo"], priority=True)  # D001
    await engine.issue(["photo"])  # D002
    called = await engine.act("1", "call_next", s01)
    assert called["ticket"]["number"] == "D001", "priority first"
    await refused(redis, "same_window", engine.act("1", "transfer", s01, to_window="1"))
    await engine.act("5", "open", s05)  # a transfer goes to an open window only
    moved = await engine.act("1", "transfer", s01, to_window="5")
    assert moved["ticket"]["number"] == "D001" and moved["ticket"]["status"] == "waiting"
    assert moved["ticket"]["to_window"] == "5" and moved["ticket"]["transferred"] is True
    assert moved["window"]["status"] == "idle"
    event = (await events(engine))[-1]
    assert event["type"] == "ticket.transferred"
    assert event["from_window"] == "1" and event["to_window"] == "5"
    # window 1 never gets it back; window 5 calls it before anything else
    assert await numbers_called(engine, "1", s01, 1) == ["A001"]
    assert await numbers_called(engine, "5", s05, 3) == ["D001", "D002", None]


async def test_transfer_to_a_service_goes_ahead_of_priority(engine: Engine) -> None:
    s01, s02 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02")
    await engine.issue(["register"])  # A001
    await engine.issue(["pension"], priority=True)  # C001
    await engine.issue(["pension"])  # C002
    await engine.act("1", "call", s01, ticket="A001")
    moved = await engine.act("1", "transfer", s01, service="pension")
    assert moved["ticket"]["number"] == "A001", "the number is kept"
    assert moved["ticket"]["services"] == ["pension"]
    assert (await events(engine))[-1]["to_service"] == "pension"
    assert await numbers_called(engine, "2", s02, 4) == ["A001", "C001", "C002", None]


async def test_transfer_refused_where_the_window_cannot_serve(redis: Redis, clock: HallClock) -> None:
    hall = demo_variant(('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tiers = [["photo"]]'))
    engine = Engine(redis, hall, secret=b"k", clock=clock, min_call_interval_s=0)
    s01, s05 = clerk(hall, "s01"), clerk(hall, "s05")
    await engine.issue(["register"])
    await engine.issue(["pension"])
    await engine.act("1", "call_next", s01)
    await refused(redis, "window_cannot_serve", engine.act("1", "transfer", s01, to_window="5"))
    # with a service it does serve, the transfer to (open) window 5 is fine
    await engine.act("5", "open", s05)
    moved = await engine.act("1", "transfer", s01, service="photo", to_window="5")
    assert moved["ticket"]["services"] == ["photo"]
    # a specific call is refused at a window that cannot serve the ticket
    await refused(redis, "window_cannot_serve", engine.act("5", "call", s05, ticket="C001"))
    assert (await engine.act("5", "call_next", s05))["ticket"]["number"] == "A001"


async def test_call_specific(redis: Redis, engine: Engine) -> None:
    s01, s02 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02")
    for _ in range(3):
        await engine.issue(["register"])
    called = await engine.act("1", "call", s01, ticket="A003")
    assert called["ticket"]["number"] == "A003" and called["ticket"]["status"] == "called"
    await refused(redis, "not_waiting", engine.act("2", "call", s02, ticket="A003"))
    # calling another one closes the current ticket first
    await engine.act("1", "call", s01, ticket="A002")
    a3 = await engine.ticket_by_number("A003")
    assert a3 is not None and a3["ticket"]["status"] == "done"
    assert await numbers_called(engine, "2", s02, 2) == ["A001", None]


async def test_suspend_and_resume(redis: Redis, engine: Engine) -> None:
    s01, s02 = clerk(engine.hall, "s01"), clerk(engine.hall, "s02")
    await engine.issue(["pension"])
    await engine.issue(["pension"])
    await engine.act("1", "call_next", s01)
    await engine.act("1", "start", s01)
    suspended = await engine.act("1", "suspend", s01)
    assert suspended["ticket"]["status"] == "suspended" and suspended["window"]["status"] == "idle"
    await refused(redis, "not_suspended", engine.act("2", "resume", s02, ticket="C002"))
    await refused(redis, "unknown_ticket", engine.act("2", "resume", s02, ticket="C099"))
    await engine.act("1", "call_next", s01)  # C002: suspension does not hold the queue
    resumed = await engine.act("2", "resume", s02, ticket="C001")
    assert resumed["ticket"]["status"] == "serving" and resumed["ticket"]["window"] == "2"
    assert [e["type"] for e in await events(engine, resumed["seq"] - 1)] == ["ticket.resumed"]
    done = await engine.act("2", "complete", s02)
    assert done["ticket"]["status"] == "done"


async def test_cancel(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    a1 = await engine.issue(["register"])
    a2 = await engine.issue(["register"])
    cancelled = await engine.cancel(a1["ticket"]["token"])
    assert cancelled["ticket"]["status"] == "cancelled"
    last = (await events(engine))[-1]
    assert last["type"] == "ticket.cancelled" and last["waiting"]["register"] == 1
    await refused(redis, "not_waiting", engine.cancel(a1["ticket"]["token"]))
    await refused(redis, "unknown_ticket", engine.cancel("demo.nosuchtokennosuchtoken00"))
    assert await numbers_called(engine, "1", s01, 1) == ["A002"]
    await refused(redis, "not_waiting", engine.cancel(a2["ticket"]["token"]))
    assert (await engine.snapshot())["waiting"]["register"] == 0


async def test_pause_and_unpause(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    await engine.issue(["register"])
    await engine.act("1", "call_next", s01)
    paused = await engine.act("1", "pause", s01)
    assert paused["window"]["status"] == "paused"
    assert (await events(engine))[-1]["type"] == "window.paused"
    await refused(redis, "already_paused", engine.act("1", "pause", s01))
    await refused(redis, "window_paused", engine.act("1", "call_next", s01))
    await refused(redis, "window_paused", engine.act("1", "call", s01, ticket="A002"))
    # the ticket in hand can still be finished while paused
    assert (await engine.act("1", "complete", s01))["ticket"]["status"] == "done"
    assert (await engine.snapshot())["windows"][0]["status"] == "paused"
    unpaused = await engine.act("1", "unpause", s01)
    assert unpaused["window"]["status"] == "idle"
    await refused(redis, "not_paused", engine.act("1", "unpause", s01))
    assert await numbers_called(engine, "1", s01, 1) == ["A002"]


# --- ratings --------------------------------------------------------------------------


async def test_rating_by_token(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    a1 = await engine.issue(["register"])
    token = a1["ticket"]["token"]
    await refused(redis, "not_done", engine.rate(5, token=token))
    await engine.act("1", "call_next", s01)
    await refused(redis, "not_done", engine.rate(5, token=token))
    await engine.act("1", "complete", s01)
    await refused(redis, "bad_score", engine.rate(6, token=token))
    await refused(redis, "bad_reasons", engine.rate(2, ["Not A Code"], token=token))
    rated = await engine.rate(2, ["long_wait"], token=token)
    assert rated["ticket"]["rating"] == 2
    event = (await events(engine))[-1]
    assert event["type"] == "ticket.rated" and event["bad"] is True and event["score"] == 2
    await refused(redis, "already_rated", engine.rate(5, token=token))
    await refused(redis, "unknown_ticket", engine.rate(5, token="demo.nosuchtokennosuchtoken00"))


async def test_rating_pad(redis: Redis, engine: Engine, clock: HallClock) -> None:
    """At a window's rating pad only the visit just completed there, within the timeout, once."""
    s01 = clerk(engine.hall, "s01")
    for _ in range(3):
        await engine.issue(["register"])
    await refused(redis, "not_rateable", engine.rate(5, window="1", number="A001"))
    await engine.act("1", "call_next", s01)
    await engine.act("1", "call_next", s01)  # A001 done
    await refused(redis, "not_rateable", engine.rate(5, window="2", number="A001"))
    await refused(redis, "not_rateable", engine.rate(5, window="1", number="A002"))
    await engine.act("1", "complete", s01)  # A002 done
    await refused(redis, "not_rateable", engine.rate(5, window="1", number="A001"))
    await refused(redis, "bad_ticket_number", engine.rate(5, window="1", number="2"))
    clock.advance(engine.hall.rating_timeout_s - 1)
    assert (await engine.rate(4, window="1", number="A002"))["ticket"]["rating"] == 4
    await refused(redis, "already_rated", engine.rate(4, window="1", number="A002"))
    await engine.act("1", "call_next", s01)
    await engine.act("1", "complete", s01)  # A003 done
    clock.advance(engine.hall.rating_timeout_s + 1)
    await refused(redis, "not_rateable", engine.rate(5, window="1", number="A003"))


# --- idempotency ------------------------------------------------------------------


async def test_request_id_performs_once(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    first = await engine.issue(["register"], request_id="kiosk-1:0001")
    again = await engine.issue(["register"], request_id="kiosk-1:0001")
    assert again == first
    assert await seq_of(redis) == 1
    await engine.issue(["register"])
    call = await engine.act("1", "call_next", s01, request_id="pad-1.42")
    seq = await seq_of(redis)
    repeat = await engine.act("1", "call_next", s01, request_id="pad-1.42")
    assert repeat == call and await seq_of(redis) == seq
    assert call["ticket"]["number"] == "A001"
    nxt = await engine.act("1", "call_next", s01, request_id="pad-1.43")
    assert nxt["ticket"]["number"] == "A002"


async def test_concurrent_duplicates_perform_once(redis: Redis, engine: Engine) -> None:
    s01 = clerk(engine.hall, "s01")
    answers = await asyncio.gather(*(engine.issue(["photo"], request_id="dup-issue") for _ in range(12)))
    assert all(a == answers[0] for a in answers)
    assert await seq_of(redis) == 1
    await engine.issue(["photo"])
    calls = await asyncio.gather(*(engine.act("1", "call_next", s01, request_id="dup-call") for _ in range(12)))
    assert all(c == calls[0] for c in calls)
    assert calls[0]["ticket"]["number"] == "D001"
    called = [e for e in await events(engine) if e["type"] == "ticket.called"]
    assert len(called) == 1
    status = await engine.ticket_by_number("D002")
    assert status is not None and status["ticket"]["status"] == "waiting"


# --- events and snapshots ------------------------------------------------------------


async def scenario(engine: Engine, clock: HallClock) -> None:
    """A little morning: most actions once."""
    s01, s02, s05 = (clerk(engine.hall, s) for s in ("s01", "s02", "s05"))
    for services, prio in (
        (["register"], False),
        (["photo"], True),
        (["pension", "register"], False),
        (["transfer"], False),
        (["photo"], False),
        (["register"], False),
    ):
        await engine.issue(services, priority=prio)
    await engine.act("1", "call_next", s01)
    await engine.act("5", "call_next", s05)
    await engine.act("1", "recall", s01)
    await engine.act("1", "start", s01)
    await engine.act("2", "call_next", s02)
    clock.advance(30)
    await engine.act("2", "no_show", s02)
    await engine.act("1", "transfer", s01, to_window="5")
    await engine.act("5", "call_next", s05)
    await engine.act("2", "call_next", s02)
    await engine.act("2", "suspend", s02)
    await engine.set_notice("午休 12:00-13:30")
    await engine.act("2", "pause", s02)
    await engine.act("2", "unpause", s02)
    await engine.act("5", "complete", s05)
    waiting = await engine.issue(["transfer"])
    await engine.cancel(waiting["ticket"]["token"])


async def test_seq_has_no_gaps_and_events_after_is_exact(engine: Engine, clock: HallClock) -> None:
    await scenario(engine, clock)
    everything = await events(engine)
    seqs = [e["seq"] for e in everything]
    assert seqs == list(range(1, len(seqs) + 1))
    assert seqs[-1] == await seq_of(engine.redis)
    for e in everything:
        assert e["hall"] == "demo" and isinstance(e["at"], int) and e["type"]
        if e["type"].startswith("window.") or e["type"] in ("ticket.called", "ticket.recalled"):
            assert e["window"] in {"1", "2", "5"}
    types = Counter(e["type"] for e in everything)
    for expected in (
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.completed",
        "ticket.requeued",
        "ticket.transferred",
        "ticket.suspended",
        "ticket.cancelled",
        "window.opened",
        "window.paused",
        "window.unpaused",
        "hall.notice",
    ):
        assert types[expected] >= 1, expected
    for k in (0, 1, 7, len(seqs) - 1, len(seqs)):
        assert await events(engine, k) == everything[k:]
    assert await engine.events_after(len(seqs) + 5) is None, "a client ahead of Redis needs a snapshot"


async def test_events_after_trimmed_by_hand_is_none(redis: Redis, engine: Engine, clock: HallClock) -> None:
    await scenario(engine, clock)
    total = await seq_of(redis)
    await redis.xtrim(P + "events", minid=f"{total - 5}-0", approximate=False)
    assert await engine.events_after(0) is None
    assert await engine.events_after(total - 7) is None
    kept = await engine.events_after(total - 6)
    assert kept is not None and [e["seq"] for e in kept] == list(range(total - 5, total + 1))
    await redis.xtrim(P + "events", maxlen=0, approximate=False)
    assert await engine.events_after(total - 1) is None
    assert await engine.events_after(total) == []


class RacingReads:
    """The engine's Redis client, with a kiosk issuing a ticket right after the first read of
    the hall's seq or stream (the moment a screen's replay is being read)."""

    def __init__(self, real: Redis, kiosk: Engine) -> None:
        self.real = real
        self.kiosk = kiosk
        self.issued: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def _then_issue(self, answer: Any) -> Any:
        if not self.issued:
            self.issued.append(await self.kiosk.issue(["register"]))
        return answer

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._then_issue(await self.real.get(*args, **kwargs))

    async def xrange(self, *args: Any, **kwargs: Any) -> Any:
        return await self._then_issue(await self.real.xrange(*args, **kwargs))


async def test_a_replay_racing_a_new_event_gets_the_event_not_a_snapshot(
    redis: Redis, engine: Engine, hall: Hall, clock: HallClock
) -> None:
    """A screen reconnects with since=its seq while a kiosk issues a ticket (seen in the chaos
    run: since=877 read as "ahead of Redis" because ticket 878 landed between the two reads):
    the replay is the new event, never None (a snapshot, in which a call is not spoken)."""
    for _ in range(3):
        await engine.issue(["register"])
    seq = await seq_of(redis)
    kiosk = Engine(redis, hall, secret=b"test-secret", clock=clock, min_call_interval_s=0)
    racing = RacingReads(redis, kiosk)
    engine.redis = cast(Redis, racing)
    try:
        replay = await engine.events_after(seq)
    finally:
        engine.redis = redis
    assert len(racing.issued) == 1
    assert replay is not None, "a screen that kept its seq got a snapshot"
    assert [(e["seq"], e["type"]) for e in replay] == [(seq + 1, "ticket.issued")]
    assert replay[0]["ticket"]["number"] == racing.issued[0]["ticket"]["number"]


async def test_stream_keeps_the_configured_retention(redis: Redis, engine: Engine) -> None:
    retention = engine.hall.event_retention
    assert retention == 10_000
    total = retention + 600
    for start in range(0, total, 50):
        await asyncio.gather(*(engine.set_notice(f"n{i}") for i in range(start, min(start + 50, total))))
    assert await seq_of(redis) == total
    kept = await redis.xlen(P + "events")
    assert retention <= kept < total, "trimmed to about the retention, never below it"
    assert await engine.events_after(0) is None
    last = await engine.events_after(total - retention)
    assert last is not None and [e["seq"] for e in last] == list(range(total - retention + 1, total + 1))


def apply(state: dict[str, Any], event: dict[str, Any]) -> None:
    """What a display does with an event: the window's new state, waiting counts, recent calls."""
    if "window_state" in event:
        state["windows"] = [event["window_state"] if w["id"] == event["window"] else w for w in state["windows"]]
    if "waiting" in event:
        state["waiting"] = {s: int(event["waiting"].get(s, 0)) for s in state["waiting"]}
    if event["type"] in ("ticket.called", "ticket.recalled"):
        state["recent"] = [event, *state["recent"]][:RECENT_CALLS]
    if event["type"] == "hall.notice":
        state["notice"] = event["text"]
    state["seq"] = event["seq"]


async def test_snapshot_plus_later_events_equals_a_later_snapshot(engine: Engine, clock: HallClock) -> None:
    s03 = clerk(engine.hall, "s03")
    for _ in range(3):
        await engine.issue(["register"])
    await engine.act("3", "call_next", s03)
    first = await engine.snapshot()
    assert first["seq"] == await seq_of(engine.redis)
    await scenario(engine, clock)
    later = await engine.snapshot()
    state = {k: first[k] for k in ("seq", "windows", "waiting", "recent", "notice")}
    for event in await events(engine, first["seq"]):
        apply(state, event)
    assert state == {k: later[k] for k in ("seq", "windows", "waiting", "recent", "notice")}


async def test_snapshot_is_consistent_under_concurrent_actions(engine: Engine, clock: HallClock) -> None:
    """Snapshots taken while actions run: each one plus the events after its seq gives the final state."""
    staff = [clerk(engine.hall, s) for s in ("s01", "s02", "s03", "s04", "s05")]
    for i in range(40):
        await engine.issue(["register", "transfer", "pension", "photo"][i % 4 : i % 4 + 1])

    async def clerk_loop(window: str, member: Staff) -> None:
        for _ in range(8):
            await engine.act(window, "call_next", member)

    snaps: list[dict[str, Any]] = []

    async def snapper() -> None:
        for _ in range(10):
            snaps.append(await engine.snapshot())
            await asyncio.sleep(0)

    await asyncio.gather(snapper(), *(clerk_loop(str(n + 1), m) for n, m in enumerate(staff)))
    final = await engine.snapshot()
    keys = ("seq", "windows", "waiting", "recent", "notice")
    for snap in snaps:
        state = {k: snap[k] for k in keys}
        for event in await events(engine, snap["seq"]):
            apply(state, event)
        assert state == {k: final[k] for k in keys}


async def test_snapshot_shape(engine: Engine, clock: HallClock) -> None:
    await scenario(engine, clock)
    snap = await engine.snapshot()
    assert [w["id"] for w in snap["windows"]] == ["1", "2", "3", "4", "5"]
    assert {w["status"] for w in snap["windows"]} <= {"idle", "calling", "serving", "paused", "closed"}
    assert set(snap["waiting"]) == {"register", "transfer", "pension", "photo"}
    assert snap["notice"] == "午休 12:00-13:30"
    assert snap["recent"][0]["type"] in ("ticket.called", "ticket.recalled")
    assert all("token" not in json.dumps(w) for w in snap["windows"])
    assert snap["served_today"] >= 1 and snap["issuing_open"] is True


# --- keys and reset ------------------------------------------------------------------


async def test_every_key_carries_the_hall_hash_tag(redis: Redis, engine: Engine, clock: HallClock) -> None:
    await scenario(engine, clock)
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"], id_number="440301199912310000", request_id="r-1")
    await engine.act("1", "call_next", s01, request_id="r-2")
    done = await engine.act("1", "complete", s01)
    await engine.rate(5, window="1", number=done["ticket"]["number"])
    clock.advance(24 * HOUR)
    await engine.rollover()
    keys = [key async for key in redis.scan_iter(count=1000)]
    assert len(keys) > 20
    assert all(key.startswith("hallq:{demo}:") for key in keys), [k for k in keys if "{demo}" not in k]


async def test_daily_reset(redis: Redis, engine: Engine, clock: HallClock) -> None:
    s01 = clerk(engine.hall, "s01")
    a1 = await engine.issue(["register"])
    a2 = await engine.issue(["register"])
    b1 = await engine.issue(["transfer"])
    d1 = await engine.issue(["photo"])
    await engine.act("1", "call_next", s01)  # A001 called
    await engine.act("1", "call_next", s01)  # A001 done, A002 called
    await engine.act("1", "suspend", s01)  # A002 suspended
    await engine.cancel(d1["ticket"]["token"])
    await engine.act("1", "call_next", s01)  # B001 called, in hand at window 1
    # 02:59 the next morning is still the same business day (reset at 03:00)
    clock.now = DEMO_MORNING + 16 * HOUR + 59 * 60
    assert (await engine.rollover())["rolled"] is False
    before = await seq_of(redis)
    clock.now = DEMO_MORNING + 17 * HOUR + 1  # 03:00:01
    fresh = await engine.issue(["register"])
    assert fresh["ticket"]["number"] == "A001", "numbering restarts"
    new = await events(engine, before)
    types = [e["type"] for e in new]
    assert types[-2:] == ["hall.reset", "ticket.issued"]
    expired = sorted(e["ticket"]["number"] for e in new if e["type"] == "ticket.expired")
    assert expired == ["A002", "B001"], "open tickets (suspended, called) expire; done and cancelled stay"
    assert "window.closed" in types
    reset = new[types.index("hall.reset")]
    assert reset["day"] == "2025-11-27" and reset["previous_day"] == "2025-11-26" and reset["expired"] == 2
    # yesterday's tickets are still readable by token, with their final status
    statuses = {}
    for issued in (a1, a2, b1, d1):
        info = await engine.ticket(issued["ticket"]["token"])
        assert info is not None
        statuses[info["ticket"]["number"]] = info["ticket"]["status"]
    assert statuses == {"A001": "done", "A002": "expired", "B001": "expired", "D001": "cancelled"}
    # the new day: windows closed, nothing waiting, numbers by today's tickets only
    snap = await engine.snapshot()
    assert all(w["status"] == "closed" for w in snap["windows"])
    assert snap["waiting"] == {"register": 1, "transfer": 0, "pension": 0, "photo": 0}
    assert snap["recent"] == [] and snap["day"] == "2025-11-27"
    today = await engine.ticket_by_number("A001")
    assert today is not None and today["ticket"]["token"] == fresh["ticket"]["token"]
    assert await engine.ticket_by_number("B001") is None
    assert (await engine.issue(["transfer"]))["ticket"]["number"] == "B001"
    assert await numbers_called(engine, "1", s01, 3) == ["A001", "B001", None]
    # a second rollover the same day does nothing
    assert (await engine.rollover())["rolled"] is False


async def test_reset_from_a_window_action(redis: Redis, engine: Engine, clock: HallClock) -> None:
    """The first request of a new day, whatever it is, rolls the day over first."""
    s01 = clerk(engine.hall, "s01")
    await engine.issue(["register"])
    clock.advance(24 * HOUR)
    answer = await engine.act("1", "call_next", s01)
    assert answer["ticket"] is None, "yesterday's ticket expired instead of being called"
    types = [e["type"] for e in await events(engine)]
    assert types == ["ticket.issued", "ticket.expired", "hall.reset", "window.opened"]


async def test_fresh_hall_refusal_writes_nothing(redis: Redis, engine: Engine) -> None:
    """Even the very first request of a hall, when refused, leaves Redis empty."""
    s01 = clerk(engine.hall, "s01")
    await refused(redis, "nothing_called", engine.act("1", "recall", s01))
    assert await redis.dbsize() == 0
    assert (await engine.rollover())["rolled"] is False
    assert await engine.events_after(0) == []


# --- the Lua scripts agree with the pure rules on random queues -----------------------

RULES_HALL = """
[hall]
id = "demo"
name = { zh = "规则厅", en = "Rules hall" }

[[services]]
id = "register"
prefix = "A"
name = "register"

[[services]]
id = "transfer"
prefix = "B"
name = "transfer"

[[services]]
id = "pension"
prefix = "C"
name = "pension"

[[services]]
id = "photo"
prefix = "D"
name = "photo"

[[windows]]
id = "1"
tiers = [["register", "transfer", "pension", "photo"]]

[[windows]]
id = "2"
tiers = [["photo"], ["register", "transfer", "pension"]]

[[windows]]
id = "3"
tiers = [["register", "transfer"]]

[[windows]]
id = "4"
tiers = [["pension"], ["photo"], ["register"]]

[[windows]]
id = "5"
tiers = [["photo"]]

[appointments]
per_slot = 1000
"""
SERVICES = ("register", "transfer", "pension", "photo")
WINDOWS = ("1", "2", "3", "4", "5")

# a ticket's services and class: ordinary (walk-in), priority, or a checked-in appointment
tickets = st.tuples(
    st.lists(st.sampled_from(SERVICES), min_size=1, max_size=3, unique=True), st.sampled_from(("o", "o", "p", "a"))
)
# After a call the clerk keeps the visitor, marks a no-show, or transfers (to a service,
# a window or both); so most calls are followed by the side paths that reorder the lines.
FOLLOW_UPS = ("keep", "no_show", "no_show", "transfer", "transfer", "suspend")
issue_op = st.tuples(st.just("issue"), st.lists(tickets, min_size=1, max_size=6))
call_op = st.tuples(
    st.just("call"),
    st.sampled_from(WINDOWS),
    st.sampled_from(FOLLOW_UPS),
    st.one_of(st.none(), st.sampled_from(SERVICES)),
    st.one_of(st.none(), st.sampled_from(WINDOWS)),
)
# weights by repetition: calls and issues most, cancels and specific calls now and then
ops = st.one_of(
    issue_op,
    issue_op,
    call_op,
    call_op,
    call_op,
    st.tuples(st.just("cancel"), st.integers(0, 200)),
    st.tuples(st.just("specific"), st.sampled_from(WINDOWS), st.integers(0, 200)),
    st.tuples(st.just("resume"), st.sampled_from(WINDOWS), st.integers(0, 200)),
)


async def waiting_tickets(redis: Redis) -> list[WaitingTicket]:
    """The waiting tickets as the rules see them, read from the tickets' hashes."""
    found = []
    for member in await redis.smembers(P + "open"):
        token = str(member)
        fields = {str(k): str(v) for k, v in (await redis.hgetall(P + "t:" + token)).items()}
        if fields["status"] == "waiting":
            found.append(
                WaitingTicket(
                    token=token,
                    services=tuple(fields["services"].split(",")),
                    cls=fields["class"],
                    score=float(fields["score"]),
                    to_window=fields["to_window"] or None,
                )
            )
    return found


async def check_invariants(redis: Redis, tokens: list[str]) -> None:
    """The bookkeeping agrees with the tickets: the open set, the lines, the windows' hands."""
    tickets = {}
    for token in tokens:
        fields = await redis.hgetall(P + "t:" + token)
        tickets[token] = {str(k): str(v) for k, v in fields.items()}
    open_now = {t for t, f in tickets.items() if f["status"] in ("waiting", "called", "serving", "suspended")}
    assert {str(t) for t in await redis.smembers(P + "open")} == open_now
    in_lines: dict[str, str] = {}
    async for key in redis.scan_iter(match=P + "q:*", count=1000):
        for member, score in cast(list[tuple[str, float]], await redis.zrange(key, 0, -1, withscores=True)):
            token = str(member)
            assert token not in in_lines, f"{token} in two lines"
            in_lines[token] = str(key)
            assert tickets[token]["status"] == "waiting" and tickets[token]["line"] == key
            assert float(tickets[token]["score"]) == score
    async for key in redis.scan_iter(match=P + "wx:*", count=1000):
        for member in cast(list[str], await redis.zrange(key, 0, -1)):
            token = str(member)
            assert token not in in_lines, f"{token} in two lines"
            in_lines[token] = str(key)
            assert tickets[token]["to_window"] == str(key).rsplit(":", 1)[1]
    assert set(in_lines) == {t for t, f in tickets.items() if f["status"] == "waiting"}
    held = {}
    for window in WINDOWS:
        token = str(await redis.hget(P + "w:" + window, "token") or "")
        if token:
            assert tickets[token]["status"] in ("called", "serving") and tickets[token]["window"] == window
            held[token] = window
    assert set(held) == {t for t, f in tickets.items() if f["status"] in ("called", "serving")}


def hall_windows(hall: Hall) -> HallWindows:
    """Every window of ``hall``: id → tiers, as the rules take them."""
    return {w.id: w.tiers for w in hall.windows}


async def check_against_rules(engine: Engine, redis: Redis, issued: list[str]) -> list[WaitingTicket]:
    """People ahead as the rules count them, waiting counts, and the bookkeeping invariants."""
    waiting = await waiting_tickets(redis)
    answers = {a["ticket"]["token"]: a for a in await engine.tickets([t.token for t in waiting])}
    windows = hall_windows(engine.hall)
    for ticket in waiting:
        assert answers[ticket.token]["ahead"] == people_ahead(waiting, ticket, windows), ticket
    counts = Counter(s for t in waiting for s in t.services)
    snapshot = await engine.snapshot()
    assert snapshot["waiting"] == {s: counts[s] for s in SERVICES}
    await check_invariants(redis, issued)
    return waiting


async def call_and_compare(engine: Engine, redis: Redis, window: str, staff: Staff) -> dict[str, Any] | None:
    """call_next at ``window``, checking it calls the ticket the rules choose."""
    hall_window = engine.hall.window(window)
    assert hall_window is not None
    expected = next_for_window(await waiting_tickets(redis), window, hall_window.tiers)
    called: dict[str, Any] | None = (await engine.act(window, "call_next", staff))["ticket"]
    assert (called["token"] if called else None) == (expected.token if expected else None), (
        f"window {window}: Lua called {called and called['number']}, rules say {expected and expected.token}"
    )
    return called


async def no_show_and_compare(engine: Engine, redis: Redis, window: str, staff: Staff, token: str) -> None:
    """no_show at ``window``, checking the ticket goes back where ``rules.requeue_score`` puts it
    in the hall's merged order (or closes once it has used up its no-shows)."""
    fields = {str(k): str(v) for k, v in (await redis.hgetall(P + "t:" + token)).items()}
    me = WaitingTicket(
        token=token,
        services=tuple(fields["services"].split(",")),
        cls=fields["class"],
        score=float(fields["score"]),
        to_window=fields["to_window"] or None,
    )
    rules = engine.hall.rules.no_show
    expected = requeue_score(await waiting_tickets(redis), me, hall_windows(engine.hall), rules.places_back)
    answer = await engine.act(window, "no_show", staff)
    if int(fields["noshows"]) + 1 > rules.max_times:
        assert answer["ticket"]["status"] == "no_show"
        return
    assert answer["ticket"]["status"] == "waiting"
    placed = float(await redis.hget(P + "t:" + token, "score") or "nan")
    assert placed == expected, f"Lua put the no-show at {placed}, the rules at {expected}"
    assert await redis.zscore(str(await redis.hget(P + "t:" + token, "line")), token) == expected


async def run_random_queue(url: str, steps: list[tuple[Any, ...]]) -> None:  # noqa: C901 — a random queue model: one branch per step kind
    """Run ``steps`` on a fresh hall, checking after each; then let every window call until
    nobody waits. Before each call_next the rules say which ticket it must be."""
    redis = Redis.from_url(url, decode_responses=True)
    try:
        await redis.flushall()
        engine = Engine(redis, parse_hall(RULES_HALL), secret=b"k", clock=(clock := HallClock()), min_call_interval_s=0)
        booking = Booking(engine)
        staff = {w: Staff(f"c{w}", f"clerk {w}", "clerk", "") for w in WINDOWS}
        issued: list[str] = []
        stats: Counter[str] = Counter()
        for step in steps:
            clock.advance(1)
            kind = step[0]
            try:
                if kind == "issue":
                    for services, kind in step[1]:
                        try:
                            if kind == "a":  # booked for the slot under way, checked in at once
                                code = (await booking.book(services, "2025-11-26", "10:00"))["appointment"]["code"]
                                issued.append((await booking.check_in(code=code))["ticket"]["token"])
                            else:
                                issued.append((await engine.issue(services, priority=kind == "p"))["ticket"]["token"])
                        except Refusal as refusal:
                            assert refusal.code == "no_window_serves", refusal.code
                elif kind == "call":
                    window, follow, service, to_window = step[1:]
                    called = await call_and_compare(engine, redis, window, staff[window])
                    stats[f"called:{called is not None}"] += 1
                    if called and follow == "no_show":
                        clock.advance(engine.hall.rules.no_show.min_seconds_after_call)
                        await no_show_and_compare(engine, redis, window, staff[window], called["token"])
                        stats["no_show"] += 1
                    elif called and follow == "transfer":
                        await engine.act(window, "transfer", staff[window], service=service, to_window=to_window)
                        stats["transfer"] += 1
                    elif called and follow == "suspend":
                        await engine.act(window, "suspend", staff[window])
                elif kind in ("specific", "resume", "cancel") and issued:
                    info = await engine.ticket(issued[step[-1] % len(issued)])
                    assert info is not None
                    if kind == "cancel":
                        await engine.cancel(info["ticket"]["token"])
                    else:
                        action = "call" if kind == "specific" else "resume"
                        await engine.act(step[1], action, staff[step[1]], ticket=info["ticket"]["number"])
            except Refusal as refusal:
                assert refusal.code in {
                    "missing_target",
                    "same_window",
                    "window_cannot_serve",
                    "not_waiting",
                    "not_suspended",
                    "window_not_open",
                }, refusal.code
            await check_against_rules(engine, redis, issued)
        # then every window calls in turn until nobody waits (each call removes a ticket)
        idle = 0
        while idle < len(WINDOWS):
            for window in WINDOWS:
                called = await call_and_compare(engine, redis, window, staff[window])
                stats[f"called:{called is not None}"] += 1
                idle = 0 if called else idle + 1
        assert not await check_against_rules(engine, redis, issued), "every ticket was called in the end"
        note(f"calls that found a ticket: {min(stats['called:True'], 10)}+")
        note(f"no-shows and transfers: {min(stats['no_show'] + stats['transfer'], 5)}+")
    finally:
        await redis.aclose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(tickets, min_size=3, max_size=20), steps=st.lists(ops, min_size=5, max_size=40))
def test_lua_agrees_with_the_rules(
    redis_server: EmbeddedRedis, first: list[tuple[list[str], str]], steps: list[tuple[Any, ...]]
) -> None:
    asyncio.run(run_random_queue(redis_server.url, [("issue", first), *steps]))


def test_rules_hall_parses() -> None:
    hall = parse_hall(RULES_HALL)
    assert [w.id for w in hall.windows] == list(WINDOWS)
    assert load_demo().id == hall.id
    assert re.fullmatch(r"hallq:\{demo\}:", P)


async def test_a_server_with_a_lagging_clock_never_rolls_the_day_back(redis: Redis, hall: Hall) -> None:
    """Two server processes whose clocks differ by two seconds around the 03:00 reset: the
    one behind must not "roll over" to yesterday, expiring the new day's tickets."""
    ahead, behind = HallClock(DEMO_MORNING + 17 * HOUR + 1), HallClock(DEMO_MORNING + 17 * HOUR - 1)
    first = Engine(redis, hall, secret=b"k", clock=HallClock(DEMO_MORNING), min_call_interval_s=0)
    await first.issue(["register"])  # yesterday's A001
    fast = Engine(redis, hall, secret=b"k", clock=ahead, min_call_interval_s=0)
    slow = Engine(redis, hall, secret=b"k", clock=behind, min_call_interval_s=0)
    today = await fast.issue(["register"])
    assert today["ticket"]["number"] == "A001"
    late = await slow.issue(["register"])
    assert late["ticket"]["number"] == "A002", "the lagging server issues into the day Redis is in"
    assert (await slow.rollover())["rolled"] is False
    info = await fast.ticket(today["ticket"]["token"])
    assert info is not None and info["ticket"]["status"] == "waiting"
    resets = [e for e in await events(fast) if e["type"] == "hall.reset"]
    assert len(resets) == 1 and resets[0]["day"] == "2025-11-27"
    assert (await fast.snapshot())["day"] == "2025-11-27"
    s01 = clerk(hall, "s01")
    assert await numbers_called(slow, "1", s01, 3) == ["A001", "A002", None]


async def test_a_process_starting_with_another_hall_file_announces_it(engine: Engine) -> None:
    """The first hash is only remembered; a process that starts with a different file says so
    (hall.config) so that the processes already running reload it; the same file says nothing."""
    first = await engine.announce_config("hash-a", "v1", quiet=True)
    assert first["changed"] is False
    again = await engine.announce_config("hash-a", "v1", quiet=True)
    assert again["changed"] is False and again["seq"] == first["seq"]
    edited = await engine.announce_config("hash-b", "v1", quiet=True)
    assert edited["changed"] is True and edited["seq"] == first["seq"] + 1
    events = await engine.events_after(first["seq"])
    assert events is not None and [(e["type"], e["previous"]) for e in events] == [("hall.config", "hash-a")]
