"""The soak benchmark, bounded: 90 s of a compressed day with workers and Redis killed at random.

Nothing acknowledged is lost or doubled, every screen applies every seq in order, and
``/healthz`` answers 200 again once the kills stop. The full runs are in docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import soak

pytestmark = pytest.mark.long


def test_a_compressed_day_with_kills_loses_nothing() -> None:
    options = soak.parse(["--duration", "90", "--phones", "200", "--screens", "5", "--kill-every", "15"])
    result = soak.soak(options)
    print(soak.summary(result))
    assert result["kills_worker"] + result["kills_redis"] >= 2, result["kills"]
    assert result["tickets_acknowledged"] == 200, result["failures"]
    assert result["failures"] == []
    assert result["lost"] == 0, result["lost_which"]
    assert result["double"] == 0
    screens = result["screens"]
    assert screens["gaps"] == 0, screens["gap_examples"]
    assert screens["behind_at_end"] == 0
    assert screens["snapshots_after_first"] == 0
    health = result["healthz"]
    assert health["healthy_at_end"]
    assert health["heal_after_day_s"] < 30
    assert health["longest_outage_s"] < 30
