"""The pure ordering rules: who a window calls next, how many stand ahead, where a no-show goes."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from server.queue.constants import REQUEUE_STEP
from server.queue.rules import (
    WaitingTicket,
    called_before,
    competes_with,
    group_of,
    next_for_window,
    people_ahead,
    requeue_score,
    tier_of,
)

ALL = ("register", "transfer", "pension", "photo")
COMPREHENSIVE = (ALL,)
PHOTO_FIRST = (("photo",), ("register", "transfer", "pension"))


def ticket(token: str, *services: str, cls: str = "o", score: float = 0, to_window: str | None = None) -> WaitingTicket:
    return WaitingTicket(token=token, services=services, cls=cls, score=score, to_window=to_window)


def chosen(waiting: list[WaitingTicket], window: str, tiers: tuple[tuple[str, ...], ...]) -> str | None:
    best = next_for_window(waiting, window, tiers)
    return best.token if best else None


# --- next_for_window ------------------------------------------------------------


def test_nothing_waiting() -> None:
    assert next_for_window([], "1", COMPREHENSIVE) is None


def test_fifo_across_services_inside_a_tier() -> None:
    waiting = [
        ticket("b1", "transfer", score=2),
        ticket("a1", "register", score=3),
        ticket("c1", "pension", score=1),
    ]
    assert chosen(waiting, "1", COMPREHENSIVE) == "c1"
    assert chosen(waiting[:2], "1", COMPREHENSIVE) == "b1"


def test_priority_before_ordinary() -> None:
    waiting = [ticket("early", "register", score=1), ticket("prio", "pension", cls="p", score=9)]
    assert chosen(waiting, "1", COMPREHENSIVE) == "prio"


def test_transferred_to_a_service_before_priority() -> None:
    waiting = [
        ticket("prio", "register", cls="p", score=1),
        ticket("moved", "pension", cls="x", score=5),
        ticket("early", "register", score=0),
    ]
    assert chosen(waiting, "1", COMPREHENSIVE) == "moved"


def test_transferred_to_this_window_first() -> None:
    waiting = [
        ticket("to-svc", "register", cls="x", score=1),
        ticket("to-win", "register", cls="x", score=7, to_window="1"),
        ticket("prio", "register", cls="p", score=0),
    ]
    assert chosen(waiting, "1", COMPREHENSIVE) == "to-win"
    # ... and only at that window: window 2 takes the service transfer instead
    assert chosen(waiting, "2", COMPREHENSIVE) == "to-svc"


def test_a_ticket_for_another_window_is_never_taken() -> None:
    waiting = [ticket("elsewhere", "photo", cls="x", score=0, to_window="5")]
    assert chosen(waiting, "1", COMPREHENSIVE) is None
    assert chosen(waiting, "5", PHOTO_FIRST) == "elsewhere"


def test_tiers_in_order_within_a_class() -> None:
    waiting = [ticket("reg", "register", score=1), ticket("photo", "photo", score=9)]
    assert chosen(waiting, "5", PHOTO_FIRST) == "photo", "window 5 takes its photo tier first"
    assert chosen(waiting, "1", COMPREHENSIVE) == "reg", "a comprehensive window goes by arrival"
    assert chosen(waiting[:1], "5", PHOTO_FIRST) == "reg", "window 5 falls back to its other tier"


def test_class_comes_before_tier() -> None:
    waiting = [ticket("photo", "photo", score=1), ticket("prio-reg", "register", cls="p", score=2)]
    assert chosen(waiting, "5", PHOTO_FIRST) == "prio-reg"


def test_a_checked_in_appointment_comes_after_priority_and_transfers_before_walk_ins() -> None:
    walk_in = ticket("walk-in", "register", score=1)
    appointment = ticket("appt", "register", cls="a", score=5)
    assert chosen([walk_in, appointment], "1", COMPREHENSIVE) == "appt"
    assert chosen([walk_in, appointment, ticket("prio", "register", cls="p", score=9)], "1", COMPREHENSIVE) == "prio"
    assert chosen([walk_in, appointment, ticket("moved", "register", cls="x", score=9)], "1", COMPREHENSIVE) == "moved"
    assert people_ahead([walk_in, appointment], walk_in, {"1": COMPREHENSIVE}) == 1
    assert people_ahead([walk_in, appointment], appointment, {"1": COMPREHENSIVE}) == 0


def test_multi_service_only_at_windows_serving_all() -> None:
    photo_only = (("photo",),)
    both = ticket("both", "photo", "register", score=1)
    waiting = [both, ticket("later", "photo", score=2)]
    assert chosen(waiting, "6", photo_only) == "later"
    assert chosen([both], "6", photo_only) is None
    assert chosen(waiting, "1", COMPREHENSIVE) == "both"
    # at window 5 the combination sits at its worst tier (1), behind a later photo ticket
    assert chosen(waiting, "5", PHOTO_FIRST) == "later"


def test_ties_broken_by_token() -> None:
    waiting = [ticket("zz", "register", score=4), ticket("aa", "pension", score=4)]
    assert chosen(waiting, "1", COMPREHENSIVE) == "aa"


def test_tier_of_and_group_of() -> None:
    assert tier_of(PHOTO_FIRST, ["photo"]) == 0
    assert tier_of(PHOTO_FIRST, ["pension", "photo"]) == 1
    assert tier_of((("photo",),), ["pension"]) is None
    assert group_of(["transfer", "register"]) == group_of(["register", "transfer"]) == "register,transfer"
    assert ticket("t", "transfer", "register").group == "register,transfer"


# --- people_ahead: the hall's merged order ---------------------------------------------

#: the demo hall: windows 1-4 comprehensive, window 5 photo first with the rest as fallback
DEMO = {"1": COMPREHENSIVE, "2": COMPREHENSIVE, "3": COMPREHENSIVE, "4": COMPREHENSIVE, "5": PHOTO_FIRST}
#: a hall of specialised windows: no window serves both register and photo
SPLIT = {"1": (("register",),), "2": (("photo",),), "3": (("register", "pension"),)}


def test_people_ahead_counts_every_line_a_comprehensive_window_calls_first() -> None:
    me = ticket("me", "register", score=5)
    waiting = [
        ticket("before", "register", score=1),
        ticket("after", "register", score=9),
        ticket("combo-before", "register", "photo", score=2),
        ticket("other-service", "pension", score=0),
        ticket("prio-after", "register", cls="p", score=20),
        ticket("moved-after", "register", cls="x", score=30),
        ticket("prio-other", "photo", cls="p", score=0),
        ticket("to-window", "register", cls="x", score=40, to_window="2"),
        ticket("photo-after", "photo", score=6),
        me,
    ]
    # window 1 calls all but "after" and "photo-after" before "me"; window 5 (photo first, register
    # as fallback) calls "photo-after" first too
    assert people_ahead(waiting, me, DEMO) == 8
    assert people_ahead(waiting, me, {"1": COMPREHENSIVE}) == 6, "no window 2 there to call to-window"


def test_people_ahead_counts_only_windows_able_to_serve_the_ticket() -> None:
    me = ticket("me", "register", score=5)
    waiting = [
        me,
        ticket("photo-before", "photo", score=1),  # no window serving register takes photo
        ticket("pension-before", "pension", score=2),  # window 3 calls it first
        ticket("prio-photo", "photo", cls="p", score=3),
        ticket("to-window-2", "photo", cls="x", score=4, to_window="2"),
        ticket("to-window-3", "pension", cls="x", score=9, to_window="3"),
    ]
    assert people_ahead(waiting, me, SPLIT) == 2  # pension-before, to-window-3


def test_people_ahead_through_a_fallback_tier() -> None:
    """Window 5 takes photo first, but windows 1-4 go by arrival: a register ticket issued
    before a photo ticket is ahead of it (some window would call it first)."""
    me = ticket("me", "photo", score=5)
    waiting = [me, ticket("reg", "register", score=1), ticket("photo-later", "photo", score=6)]
    assert people_ahead(waiting, me, DEMO) == 1
    assert people_ahead(waiting, me, {"5": PHOTO_FIRST}) == 0, "window 5 alone calls photo first"


def test_people_ahead_of_a_priority_ticket() -> None:
    me = ticket("me", "pension", cls="p", score=5)
    waiting = [me, ticket("o", "pension", score=1), ticket("p", "pension", cls="p", score=3)]
    assert people_ahead(waiting, me, DEMO) == 1


def test_people_ahead_of_a_ticket_sent_to_a_window() -> None:
    me = ticket("me", "photo", cls="x", score=5, to_window="5")
    waiting = [
        me,
        ticket("first", "register", cls="x", score=2, to_window="5"),
        ticket("other-window", "photo", cls="x", score=1, to_window="4"),
        ticket("prio", "photo", cls="p", score=0),
    ]
    assert people_ahead(waiting, me, DEMO) == 1


def test_first_in_line_has_nobody_ahead() -> None:
    me = ticket("me", "register", score=1)
    assert people_ahead([me, ticket("later", "register", score=2)], me, DEMO) == 0


def test_ties_in_score_go_by_token_as_the_windows_call() -> None:
    me = ticket("m", "register", score=4)
    waiting = [me, ticket("a", "pension", score=4), ticket("z", "photo", score=4)]
    assert people_ahead(waiting, me, {"1": COMPREHENSIVE}) == 1
    assert next_for_window(waiting, "1", COMPREHENSIVE) == waiting[1]


# --- requeue_score: a no-show goes back in the merged order ----------------------------


def test_a_no_show_goes_behind_the_other_services_a_comprehensive_window_calls() -> None:
    """Issue 9: D001 (photo), then A001, B001, C001; window 1 calls D001, marks it no-show:
    it must come back after A001, B001 and C001, not straight away."""
    d001 = ticket("d001", "photo", score=1)
    others = [
        ticket("a001", "register", score=2),
        ticket("b001", "transfer", score=3),
        ticket("c001", "pension", score=4),
    ]
    score = requeue_score(others, d001, DEMO, 3)
    assert 4 < score < 5
    back = ticket("d001", "photo", score=score)
    assert people_ahead([*others, back], back, DEMO) == 3
    assert chosen([*others, back], "1", COMPREHENSIVE) == "a001"


def test_requeue_moves_back_between_neighbours() -> None:
    me = ticket("me", "register", score=3)
    line = [ticket(f"t{s}", "register", score=s) for s in (4, 5, 6, 7)]
    assert requeue_score(line, me, DEMO, 3) == 6.5


def test_requeue_goes_to_the_end_when_few_are_behind() -> None:
    me = ticket("me", "register", score=3)
    two = [ticket("a", "register", score=4), ticket("b", "transfer", score=5)]
    assert requeue_score(two, me, DEMO, 3) == 5 + REQUEUE_STEP
    line = [ticket(f"t{s}", "pension", score=s) for s in (1, 4, 5, 6)]
    assert requeue_score(line, me, DEMO, 3) == 6 + REQUEUE_STEP, "exactly three behind: just after the last"
    assert requeue_score([ticket("a", "register", score=7.5)], me, DEMO, 3) == 7.5 + REQUEUE_STEP
    near = 8 - REQUEUE_STEP / 4  # closer to the next issued ticket (8) than a step: half way
    assert requeue_score([ticket("a", "register", score=near)], me, DEMO, 3) == (near + 8) / 2


def test_no_shows_sent_behind_the_last_again_and_again_never_tie_the_next_ticket() -> None:
    """Each no-show goes behind the one sent back before it, in a hall where nobody new comes:
    every place stays distinct and before the next issued ticket's (8). Half way each time,
    the 48th reached 8 itself and tied it (the order then fell to the random tokens)."""
    me = ticket("me", "register", score=3)
    last = 7.0
    for _ in range(10_000):
        score = requeue_score([ticket("last", "register", score=last)], me, DEMO, 3)
        assert last < score < 8
        last = score


def test_requeue_with_nobody_behind_keeps_its_place() -> None:
    me = ticket("me", "register", score=3)
    assert requeue_score([], me, DEMO, 3) == 3, "an empty hall"
    before = [ticket("a", "register", score=1), ticket("b", "photo", score=2)]
    assert requeue_score(before, me, DEMO, 3) == 3


def test_requeue_with_zero_places() -> None:
    me = ticket("me", "register", score=3)
    assert requeue_score([ticket("a", "register", score=4)], me, DEMO, 0) == 3


def test_requeue_keeps_the_class_order() -> None:
    """An ordinary no-show never jumps over priority tickets (they stay ahead, whenever issued)
    and counts only ordinary tickets behind it; a priority no-show counts only priority ones."""
    me = ticket("me", "register", score=3)
    waiting = [
        ticket("prio-late", "pension", cls="p", score=10),
        ticket("moved", "photo", cls="x", score=11),
        ticket("o4", "register", score=4),
        ticket("o5", "pension", score=5),
        ticket("o6", "transfer", score=6),
        ticket("o7", "register", score=7),
    ]
    score = requeue_score(waiting, me, DEMO, 3)
    assert score == 6.5
    back = ticket("me", "register", score=score)
    assert people_ahead([*waiting, back], back, DEMO) == 5
    prio = ticket("prio", "register", cls="p", score=3)
    assert requeue_score(waiting, prio, DEMO, 3) == 10 + REQUEUE_STEP, "behind the one priority ticket behind it"


def test_requeue_of_a_ticket_sent_to_a_window_stays_in_that_window_line() -> None:
    me = ticket("me", "photo", cls="x", score=3, to_window="5")
    waiting = [
        ticket("w5-a", "register", cls="x", score=4, to_window="5"),
        ticket("w4", "photo", cls="x", score=5, to_window="4"),
        ticket("photo", "photo", score=6),
    ]
    assert requeue_score(waiting, me, DEMO, 3) == 4 + REQUEUE_STEP


def test_requeue_at_a_specialised_hall_counts_only_lines_its_windows_share() -> None:
    me = ticket("me", "register", score=1)
    waiting = [
        ticket("photo", "photo", score=2),
        ticket("pension", "pension", score=3),
        ticket("reg", "register", score=4),
    ]
    assert requeue_score(waiting, me, SPLIT, 1) == 3.5, "behind pension (window 3), photo does not count"


HALLS = [DEMO, SPLIT, {"1": COMPREHENSIVE}, {"5": PHOTO_FIRST, "6": (("pension",), ("photo",))}]
waiting_sets = st.lists(
    st.tuples(
        st.lists(st.sampled_from(ALL), min_size=1, max_size=2, unique=True),
        st.sampled_from(["o", "o", "o", "p", "a", "x"]),
        st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["1", "5"])),
    ),
    max_size=25,
)


@given(waiting_sets, st.integers(0, 24), st.sampled_from(HALLS), st.integers(0, 5), st.randoms())
def test_requeue_property(
    specs: list[tuple[list[str], str, str | None]], pick: int, hall: dict[str, Any], places: int, rnd: Any
) -> None:
    """On random halls and queues (unique scores): after the requeue everyone who was ahead is
    still ahead, plus exactly the next min(places, behind) competing tickets, and nobody else."""
    scores = rnd.sample(range(1, 1000), len(specs) + 1)
    tickets_ = [
        WaitingTicket(f"t{i:02d}", tuple(sv), "x" if tw else cls, float(scores[i]), tw)
        for i, (sv, cls, tw) in enumerate(specs)
    ]
    me = WaitingTicket("me", ("register",), "o", float(scores[-1]))
    if tickets_:
        me = tickets_.pop(pick % len(tickets_))
    before = {o.token for o in tickets_ if called_before(o, me, hall)}
    behind = sorted(
        (o for o in tickets_ if competes_with(o, me, hall) and o.token not in before), key=lambda o: o.score
    )
    new = requeue_score(tickets_, me, hall, places)
    moved = WaitingTicket(me.token, me.services, me.cls, new, me.to_window)
    after = {o.token for o in tickets_ if called_before(o, moved, hall)}
    assert after == before | {o.token for o in behind[:places]}
    assert people_ahead([*tickets_, moved], moved, hall) == len(before) + min(places, len(behind))
    # unique among the tickets it competes with (a ticket of another class or line may share
    # the score: the class decides first, and each line is its own sorted set)
    assert new not in {o.score for o in tickets_ if competes_with(o, me, hall)}
    if not places or not behind:
        assert new == me.score
