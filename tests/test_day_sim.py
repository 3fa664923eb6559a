"""The model of the day (issue 9): a short simulated day through the real system, and its verdict.

``test_a_short_day_*`` runs ``bench/day.py`` (a subprocess: it drives its own asyncio
Playwright) against a real ``hallq serve`` on a real redis-server, with the lobby page in
Debian's headless Chromium listening: clerks double-tap, mark no-shows, transfer (once to a
closed window), pause for lunch, one window closes early; visitors cancel, fetch a document
and come back, try a second ticket, rate twice. It is ``long`` (about a minute).

The other tests hold the report's rules (what counts as lost, as a double call, as a
no-show called back too soon, as an unheard call) on small hand-made days, fast.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.live import CHROMIUM, LiveServer

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("day_report", ROOT / "bench" / "day_report.py")
assert _spec and _spec.loader
day_report: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(day_report)


def event(seq: int, kind: str, number: str | None = None, window: str | None = None, at: int = 0) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": kind,
        "at": at or seq * 1000,
        "window": window,
        "ticket": {"number": number, "issued_at": 0} if number else None,
    }


# --- the verdict's rules (fast) ----------------------------------------------------------


def test_a_ticket_called_at_a_second_window_while_held_is_a_double_call() -> None:
    events = [
        event(1, "ticket.issued", "A001"),
        event(2, "ticket.called", "A001", "1"),
        event(3, "ticket.called", "A001", "2"),
    ]
    assert [d["number"] for d in day_report.double_calls(events)] == ["A001"]


def test_calls_after_a_requeue_or_transfer_are_not_double_calls_but_after_done_they_are() -> None:
    events = [
        event(1, "ticket.called", "A001", "1"),
        event(2, "ticket.requeued", "A001", "1"),
        event(3, "ticket.called", "A001", "2"),
        event(4, "ticket.transferred", "A001", "2"),
        event(5, "ticket.called", "A001", "5"),
        event(6, "ticket.completed", "A001", "5"),
    ]
    assert day_report.double_calls(events) == []
    assert day_report.double_calls([*events, event(7, "ticket.called", "A001", "3")])[0]["why"] == (
        "called after closed"
    )


def test_a_no_show_called_straight_back_past_waiting_others_is_too_soon() -> None:
    issued = [event(i, "ticket.issued", n) for i, n in enumerate(["D001", "A001", "B001", "C001"], 1)]
    called_back = [
        *issued,
        event(5, "ticket.called", "D001", "1"),
        event(6, "ticket.requeued", "D001", "1"),
        event(7, "ticket.called", "D001", "1"),
    ]
    assert [r["too_soon"] for r in day_report.noshow_returns(called_back, 3)] == [True]
    behind_three = [
        *issued,
        event(5, "ticket.called", "D001", "1"),
        event(6, "ticket.requeued", "D001", "1"),
        event(7, "ticket.called", "A001", "2"),
        event(8, "ticket.called", "B001", "3"),
        event(9, "ticket.called", "C001", "4"),
        event(10, "ticket.called", "D001", "1"),
    ]
    assert [r["too_soon"] for r in day_report.noshow_returns(behind_three, 3)] == [False]
    # A priority no-show with no other priority ticket waiting comes straight back: right.
    priority = [
        *issued,
        event(5, "ticket.issued", "D002"),
        event(6, "ticket.called", "D002", "1"),
        event(7, "ticket.requeued", "D002", "1"),
        event(8, "ticket.called", "D002", "1"),
    ]
    priority[4]["ticket"]["priority"] = True
    assert [r["too_soon"] for r in day_report.noshow_returns(priority, 3)] == [False]
    # With nobody else waiting, coming straight back is right.
    alone = [
        event(1, "ticket.issued", "D001"),
        event(2, "ticket.called", "D001", "1"),
        event(3, "ticket.requeued", "D001", "1"),
        event(4, "ticket.called", "D001", "1"),
    ]
    assert [r["too_soon"] for r in day_report.noshow_returns(alone, 3)] == [False]


CALLED = {"ticket": {"status": "called", "window": "1"}}


@pytest.mark.parametrize(
    ("visitor", "outcome"),
    [
        ({"token": "t", "final_status": "done", "started": True, "phone": [CALLED]}, ("served", None)),
        (
            {"token": "t", "final_status": "done", "started": False, "phone": [CALLED]},
            ("lost", "closed as done before its visitor reached a window"),
        ),
        (
            {"token": "t", "final_status": "done", "started": True, "phone": []},
            ("lost", "served, but the phone never showed the call"),
        ),
        (
            {"token": "t", "final_status": "waiting", "started": False, "phone": []},
            ("lost", "left waiting with the hall drained (stranded)"),
        ),
        ({"token": "t", "final_status": "cancelled", "phone": []}, ("cancelled", None)),
        ({"token": "t", "final_status": "no_show", "phone": [CALLED]}, ("no_show", None)),
    ],
)
def test_what_counts_as_lost(visitor: dict[str, Any], outcome: tuple[str, str | None]) -> None:
    assert day_report.classify_visitor(visitor) == outcome


def test_a_call_replaced_by_a_newer_one_at_its_window_is_not_unheard_but_a_dropped_one_is() -> None:
    calls = [
        event(1, "ticket.called", "A001", "1", at=1000),
        event(2, "ticket.called", "A002", "1", at=2000),
        event(3, "ticket.called", "A003", "2", at=3000),
    ]
    shown = [{"seq": c["seq"], "shown": True} for c in calls]
    played = [
        {"seq": 2, "kind": "chime", "started_at": 4000},
        {"seq": 2, "kind": "voice", "lang": "zh", "started_at": 5000},
    ]
    audit = day_report.call_audit(calls, shown, played)
    assert (audit["calls"], audit["shown"], audit["spoken"]) == (3, 3, 1)
    assert audit["replaced_by_newer_call_at_same_window"] == 1
    assert [c["seq"] for c in audit["unheard_calls"]] == [3]
    assert audit["longest_silence_s"] == 2.0
    assert audit["parts_spoken"] == {0: 2, 2: 1}


# --- a short day, for real (long) ------------------------------------------------------------


@pytest.mark.long
@pytest.mark.timeout(240)
def test_a_short_day_loses_no_visitor_and_every_shown_call_is_spoken(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # The hall's own double-tap guard stays on: clerks here tap like people, not like a script.
    guarded = "min_call_interval_s" in inspect.signature(LiveServer).parameters
    live_server = live_server_factory(**({"min_call_interval_s": None} if guarded else {}))
    out = tmp_path / "day.json"
    run = subprocess.run(
        [
            sys.executable,
            "bench/day.py",
            "--url",
            live_server.url,
            "--minutes",
            "0.5",
            "--visitors",
            "12",
            "--seed",
            "3",
            "--drain",
            "15",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    print(run.stdout)
    assert result["meta"]["errors"] == [] and result["meta"]["page_errors"] == [], result["meta"]
    assert result["issued"] >= 11
    assert result["served"] >= 7
    # Every flow of the day happened: a double tap, a no-show, a transfer, a suspension, a lunch.
    kinds = {row[1] for row in result["meta"]["trace"]}
    flows = {"ticket.requeued", "ticket.transferred", "ticket.suspended", "ticket.resumed", "window.paused"}
    assert flows | {"window.closed"} <= kinds, sorted(flows | {"window.closed"} - kinds)
    assert result["lost"] == 0, result["lost_tickets"]
    assert result["noshow_called_back_too_soon"] == [], result["noshow_called_back_too_soon"]
    calls = result["calls"]
    assert calls["shown"] == calls["calls"], calls["not_shown"]
    assert calls["unheard"] == 0, calls["unheard_calls"]
    assert calls["spoken"] + calls["replaced_by_newer_call_at_same_window"] == calls["shown"]
