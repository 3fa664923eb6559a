"""The stream reader's rule for a store gone back in time, on one Redis as on a cluster: the
hall's seq must stay below the last one seen for REWIND_GRACE_S. A flush followed at once by a
restore is not one (seen: a quiet reader looked inside that gap, took it for a rewind, and the
screens were sent the restored day's events again before its ``hall.reset``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from server import reader
from server.reader import REWIND_GRACE_S, StreamReader


class Hub(SimpleNamespace):
    rewinds: list[int]

    async def check_rewind(self, current: int) -> None:
        self.rewinds.append(current)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(reader.time, "monotonic", lambda: now[0])
    return now


async def test_a_seq_back_below_only_for_a_moment_is_no_rewind(clock: list[float]) -> None:
    stream = StreamReader(client=None, spec=None)  # type: ignore[arg-type]  # no I/O in the rule
    hub: Any = Hub(key="hallq:{demo}:events", last_seq=11, rewinds=[])
    await stream._check_rewind(hub, 0)  # flushed: the reader looks inside the gap
    clock[0] += REWIND_GRACE_S - 0.5
    await stream._check_rewind(hub, 12)  # restored, its hall.reset is next
    clock[0] += 10
    await stream._check_rewind(hub, 12)
    assert hub.rewinds == []


async def test_a_seq_that_stays_below_is_a_rewind_once(clock: list[float]) -> None:
    stream = StreamReader(client=None, spec=None)  # type: ignore[arg-type]
    hub: Any = Hub(key="hallq:{demo}:events", last_seq=11, rewinds=[])
    await stream._check_rewind(hub, 0)  # restarted empty
    assert hub.rewinds == []
    clock[0] += REWIND_GRACE_S
    await stream._check_rewind(hub, 0)
    assert hub.rewinds == [0]
