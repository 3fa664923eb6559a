"""The estimated-wait rule (server/eta.py) and the ticket QR code (server/qr.py): pure functions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
import segno
from hypothesis import given
from hypothesis import strategies as st

from server.eta import PRIOR_WEIGHT, estimate_wait_s, handling_time_s
from server.qr import qr_svg

EXPECTED = {"register": 8.0, "transfer": 12.0, "photo": 3.0}


def test_no_recent_data_uses_expected_minutes() -> None:
    assert handling_time_s([], 8.0) == 480.0
    # 4 ahead, 1 window, 8 min each, the person at the window half done: 4.5 * 480 s.
    assert estimate_wait_s(4, ["register"], {}, {"register": 1}, EXPECTED) == 2160


def test_live_rate_takes_over_as_samples_accumulate() -> None:
    few = handling_time_s([120.0], 8.0)
    many = handling_time_s([120.0] * 60, 8.0)
    assert 120.0 < many < few < 480.0
    assert many == pytest.approx(120.0, rel=0.2)
    # The blend weighs the configured time as PRIOR_WEIGHT samples.
    assert few == pytest.approx((PRIOR_WEIGHT * 480 + 120) / (PRIOR_WEIGHT + 1))


def test_more_open_windows_shorten_the_wait() -> None:
    one = estimate_wait_s(10, ["register"], {}, {"register": 1}, EXPECTED)
    four = estimate_wait_s(10, ["register"], {}, {"register": 4}, EXPECTED)
    assert four == pytest.approx(one / 4, abs=1)


def test_no_open_window_assumes_one_will_open() -> None:
    none = estimate_wait_s(3, ["register"], {}, {}, EXPECTED)
    assert none == estimate_wait_s(3, ["register"], {}, {"register": 1}, EXPECTED)


def test_combined_visit_uses_mean_time_and_smallest_capacity() -> None:
    wait = estimate_wait_s(2, ["register", "photo"], {}, {"register": 4, "photo": 1}, EXPECTED)
    assert wait == round(2.5 * (480 + 180) / 2 / 1)


def test_services_of_visitors_ahead_set_the_work_ahead() -> None:
    # A photo ticket (3 min) behind two transfer cases (12 min each) at one window.
    behind_slow = estimate_wait_s(2, ["photo"], {}, {"photo": 1}, EXPECTED, ahead_services=[["transfer"], ["transfer"]])
    assert behind_slow == round((2 * 720 + 0.5 * 180) / 1)
    assert behind_slow > estimate_wait_s(2, ["photo"], {}, {"photo": 1}, EXPECTED)
    # A combined visit ahead counts all of its services.
    combined = estimate_wait_s(1, ["photo"], {}, {"photo": 2}, EXPECTED, ahead_services=[["register", "transfer"]])
    assert combined == round((480 + 720 + 90) / 2)


def test_one_forgotten_visit_does_not_dominate() -> None:
    recent = [300.0] * 9 + [3 * 3600.0]  # a clerk forgot to press complete for three hours
    h = handling_time_s(recent, 5.0)
    assert h < 2 * 300.0


def test_unknown_service_and_bad_samples() -> None:
    assert estimate_wait_s(0, ["nope"], {"nope": [0.0, -5.0]}, {}, {}) == 300  # 0.5 * 10 min
    with pytest.raises(ValueError):
        estimate_wait_s(-1, ["register"], {}, {}, EXPECTED)
    with pytest.raises(ValueError):
        estimate_wait_s(1, [], {}, {}, EXPECTED)


@given(
    ahead=st.integers(0, 500),
    samples=st.lists(st.floats(0, 7200, allow_nan=False), max_size=40),
    windows=st.integers(0, 50),
)
def test_monotonic_in_people_ahead(ahead: int, samples: list[float], windows: int) -> None:
    args = (["register"], {"register": samples}, {"register": windows}, EXPECTED)
    a = estimate_wait_s(ahead, *args)
    b = estimate_wait_s(ahead + 1, *args)
    assert 0 <= a <= b


def _svg_modules(svg: str) -> set[tuple[int, int]]:
    """Dark modules drawn by segno's SVG path (moves M/m, horizontal runs h)."""
    root = ET.fromstring(svg)
    paths = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("stroke")]
    assert len(paths) == 1
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for cmd, args in re.findall(r"([MmHh])([-\d. ]+)", paths[0].get("d", "")):
        nums = [float(n) for n in args.split()]
        if cmd == "M":
            x, y = nums
        elif cmd == "m":
            x, y = x + nums[0], y + nums[1]
        else:
            run = int(nums[0])
            dark.update((int(x) + i, int(y - 0.5)) for i in range(run))
            x += run
    return dark


def test_qr_svg_encodes_the_url() -> None:
    url = "http://192.168.1.20:8765/t/QmFzZTY0dXJsVG9rZW5PZjE2Qnl0ZXM"
    svg = qr_svg(url)
    assert svg.startswith("<svg") and "viewBox" in svg and "crispEdges" in svg
    assert 'width="' not in svg.split(">", 1)[0]  # sized by CSS, not by the SVG
    matrix = segno.make_qr(url, error="m", boost_error=False).matrix
    expected = {(c + 4, r + 4) for r, row in enumerate(matrix) for c, v in enumerate(row) if v}
    assert _svg_modules(svg) == expected
