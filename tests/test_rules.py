"""The pure ordering rules: who a window calls next, how many stand ahead, where a no-show goes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.queue.rules import WaitingTicket, group_of, next_for_window, people_ahead, requeue_score, tier_of

ALL = ("register", "transfer", "pension", "photo")
COMPREHENSIVE = (ALL,)
PHOTO_FIRST = (("photo",), ("register", "transfer", "pension"))


def ticket(
    token: str, *services: str, cls: str = "o", score: float = 0, to_window: str | None = None
) -> WaitingTicket:
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


# --- people_ahead -------------------------------------------------------------------


def test_people_ahead_counts_lines_sharing_a_service() -> None:
    me = ticket("me", "register", score=5)
    waiting = [
        ticket("before", "register", score=1),
        ticket("after", "register", score=9),
        ticket("combo-before", "register", "photo", score=2),
        ticket("other-service", "pension", score=0),
        ticket("prio-after", "register", cls="p", score=20),
        ticket("moved-after", "register", cls="x", score=30),
        ticket("prio-other", "photo", cls="p", score=0),
        ticket("to-window", "register", cls="x", score=0, to_window="2"),
        me,
    ]
    assert people_ahead(waiting, me) == 4  # before, combo-before, prio-after, moved-after


def test_people_ahead_of_a_priority_ticket() -> None:
    me = ticket("me", "pension", cls="p", score=5)
    waiting = [me, ticket("o", "pension", score=1), ticket("p", "pension", cls="p", score=3)]
    assert people_ahead(waiting, me) == 1


def test_people_ahead_of_a_ticket_sent_to_a_window() -> None:
    me = ticket("me", "photo", cls="x", score=5, to_window="5")
    waiting = [
        me,
        ticket("first", "register", cls="x", score=2, to_window="5"),
        ticket("other-window", "photo", cls="x", score=1, to_window="4"),
        ticket("prio", "photo", cls="p", score=0),
    ]
    assert people_ahead(waiting, me) == 1


def test_first_in_line_has_nobody_ahead() -> None:
    me = ticket("me", "register", score=1)
    assert people_ahead([me, ticket("later", "register", score=2)], me) == 0


# --- requeue_score ------------------------------------------------------------------


def test_requeue_moves_back_between_neighbours() -> None:
    # line without the ticket: 4, 5, 6, 7; the ticket stood at 3 (first)
    score = requeue_score([4, 5, 6, 7], 3, 3)
    assert 6 < score < 7
    assert score == 6.5


def test_requeue_goes_to_the_end_when_few_are_behind() -> None:
    assert requeue_score([4, 5], 3, 3) == 6
    assert requeue_score([1, 4, 5, 6], 3, 3) == 7, "exactly three behind: just after the last"


def test_requeue_with_nobody_behind_keeps_its_place() -> None:
    assert requeue_score([], 3, 3) == 3
    assert requeue_score([1, 2], 3, 3) == 3


def test_requeue_with_zero_places() -> None:
    assert requeue_score([4, 5], 3, 0) == 3


@given(
    st.lists(st.integers(0, 200), unique=True, max_size=30),
    st.integers(0, 200),
    st.integers(0, 6),
)
def test_requeue_property(line: list[int], original: int, move_back: int) -> None:
    """The ticket ends behind exactly min(move_back, behind) more tickets than before."""
    scores = [float(s) for s in line if s != original]
    ahead = sum(1 for s in scores if s < original)
    behind = len(scores) - ahead
    new = requeue_score(scores, float(original), move_back)
    assert sum(1 for s in scores if s < new) == ahead + min(move_back, behind)
    if move_back and behind:
        assert new not in scores
