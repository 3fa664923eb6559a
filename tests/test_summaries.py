"""The hall's summaries (lib.lua) never drift: ``sizes`` (of its lines) and ``callable`` (its
windows open for calling).

The day model (tests/test_day_model.py) again, with invariants more: after every step the
``sizes`` hash, once complete, equals the size of each line, and ``callable``, once counted for
the hall's windows, names those neither closed nor paused; and rules more: a summary is
dropped, as in a hall that has run since before it existed (an upgrade in the middle of a day),
after which the next script counts it again and every answer stays the model's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import invariant, rule, run_state_machine_as_test

from server.embedded import EmbeddedRedis
from tests.test_day_model import WINDOWS, DayMachine, P

#: the line classes (lib.lua CLASSES)
CLASSES = ("x", "p", "a", "o")


class SizedDay(DayMachine):
    """The day model, checking the line sizes' summary against the lines themselves."""

    @rule()
    def an_upgraded_hall_has_no_summary(self) -> None:
        self.seen["sizes dropped"] += 1
        self.run(self.redis.delete(P + "sizes"))

    @rule()
    def an_upgraded_hall_has_no_callable_windows(self) -> None:
        self.seen["callable dropped"] += 1
        self.run(self.redis.delete(P + "callable"))

    @invariant()
    def callable_names_the_windows_open_for_calling(self) -> None:
        callable = self.run(self.redis.hgetall(P + "callable"))
        if callable.get("_") != ",".join(WINDOWS):  # not counted since dropped
            return
        pipe = self.redis.pipeline(transaction=False)
        for w in WINDOWS:
            pipe.hmget(P + f"w:{w}", "clerk", "paused")
        states = self.run(pipe.execute())  # one round trip for every window
        open_ids = {w for w, (clerk, paused) in zip(WINDOWS, states, strict=True) if clerk and paused != "1"}
        assert {k for k in callable if k != "_"} == open_ids

    @invariant()
    def the_summary_is_each_lines_size(self) -> None:
        sizes = self.run(self.redis.hgetall(P + "sizes"))
        if "_" not in sizes:  # not counted since the day began (or since dropped)
            return
        groups = self.run(self.redis.smembers(P + "groups"))
        lines = [f"q:{g}:{c}" for g in groups for c in CLASSES] + [f"wx:{w}" for w in WINDOWS]
        pipe = self.redis.pipeline(transaction=False)
        for line in lines:
            pipe.zcard(P + line)
        actual = dict(zip(lines, self.run(pipe.execute()), strict=True))  # one round trip
        assert {k: int(v) for k, v in sizes.items() if k != "_" and int(v)} == {k: n for k, n in actual.items() if n}


@pytest.mark.timeout(420)
def test_summaries_follow_the_hall(redis_server: EmbeddedRedis) -> None:
    SizedDay.redis_url = redis_server.url
    run_state_machine_as_test(
        SizedDay,
        settings=settings(
            max_examples=25,
            stateful_step_count=60,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        ),
    )
    assert SizedDay.seen["sizes dropped"] > 0
    assert SizedDay.seen["callable dropped"] > 0
