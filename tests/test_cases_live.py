"""好差评 follow-up through a live ``hallq serve``: rate badly on the phone API after a served
visit, list the case, take it through verify → rectify → answer → close, and read the rates."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis as sync_redis

from server import calendar_overlay, cases
from server.config import demo_text, parse_hall
from server.embedded import EmbeddedRedis
from tests.live import LiveServer, fresh_database
from tests.test_api import assert_error, serve_and_complete

CASES = "/api/halls/demo/cases"
CALENDAR = "/api/halls/demo/calendar"
DAY_MS = 86_400_000
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the demo hall's time zone


def bad_visit(server: LiveServer, clerk: str, score: int = 1, **issue: Any) -> str:
    token = str(server.issue(["register"], **issue)["ticket"]["token"])
    serve_and_complete(server, clerk)
    status, body = server.request("POST", f"/api/tickets/{token}/rating", {"score": score, "reasons": ["attitude"]})
    assert status == 201, body
    return token


def act(server: LiveServer, admin: str, case_id: int, action: str, **fields: Any) -> dict[str, Any]:
    status, body = server.request("POST", f"{CASES}/{case_id}", {"action": action, **fields}, token=admin)
    assert status == 200, body
    return dict(body["case"])


def backdate(server: LiveServer, case_id: int, days: int) -> None:
    """Move a case's rating ``days`` back (written into the store: the server has no settable
    clock); its deadline follows, being worked out from the rating when read."""
    store = sync_redis.Redis.from_url(server.redis_url, decode_responses=True)
    key = f"hallq:{{demo}}:case:{case_id}"
    case = json.loads(str(store.get(key)))
    case["rated_at"] -= days * DAY_MS
    store.set(key, json.dumps(case))
    store.close()


def test_a_bad_rating_is_followed_up_to_the_end(live_server: LiveServer) -> None:
    clerk, admin = live_server.login("s01"), live_server.login("admin", "admin1234")
    assert_error(live_server.request("GET", CASES), 401, "not_logged_in")
    assert_error(live_server.request("GET", CASES, token=clerk), 403, "forbidden")
    named = bad_visit(live_server, clerk, id_number="110101199003071234")
    bad_visit(live_server, clerk, score=2)
    good = str(live_server.issue(["register"])["ticket"]["token"])
    serve_and_complete(live_server, clerk)
    assert live_server.request("POST", f"/api/tickets/{good}/rating", {"score": 5})[0] == 201
    assert_error(live_server.request("POST", f"/api/tickets/{named}/rating", {"score": 1}), 409, "already_rated")

    status, listed = live_server.request("GET", CASES, token=admin)
    assert status == 200
    assert [(c["id"], c["ticket"], c["score"], c["named"], c["overdue"]) for c in listed["cases"]] == [
        (1, "A001", 1, True, False),
        (2, "A002", 2, False, False),
    ]
    assert "token" not in json.dumps(listed) and named not in json.dumps(listed)
    assert listed["cases"][0]["clerk"] == "s01" and listed["cases"][0]["reasons"] == ["attitude"]
    # before an answer, the visitor's page says it is being looked into
    assert live_server.request("GET", f"/api/tickets/{named}")[1]["case"] == {"answer": None}
    assert "case" not in live_server.request("GET", f"/api/tickets/{good}")[1]

    # refusals change nothing and answer a code
    assert_error(live_server.request("POST", f"{CASES}/1", {"action": "close"}, token=admin), 409, "invalid_transition")
    assert_error(live_server.request("POST", f"{CASES}/1", {"action": "fly"}, token=admin), 422, "unknown_action")
    assert_error(
        live_server.request("POST", f"{CASES}/1", {"action": "assign", "owner": "nobody"}, token=admin),
        404,
        "unknown_staff",
    )
    assert_error(
        live_server.request("POST", f"{CASES}/99", {"action": "verify", "note": "x"}, token=admin), 404, "unknown_case"
    )
    assert_error(live_server.request("POST", f"{CASES}/1", {"action": "verify"}, token=admin), 422, "bad_field")
    assert live_server.request("GET", f"{CASES}/1", token=admin)[1]["case"]["history"] == [
        {"at": listed["cases"][0]["rated_at"], "action": "opened", "staff": ""}
    ]

    act(live_server, admin, 1, "assign", owner="s02")
    act(live_server, admin, 1, "verify", note="the clerk was curt; confirmed on the recording")
    act(live_server, admin, 1, "rectify", note="talked it through with the clerk")
    answered = act(live_server, admin, 1, "answer", answer="我们已整改，感谢您的监督", channel="phone_page")
    assert answered["status"] == "answered" and answered["called_back"] is False
    visitor = live_server.request("GET", f"/api/tickets/{named}")[1]
    assert visitor["case"]["answer"] == "我们已整改，感谢您的监督"
    assert_error(live_server.request("POST", f"{CASES}/1", {"action": "close"}, token=admin), 409, "call_back_required")
    act(live_server, admin, 1, "call_back", note="phoned; satisfied")
    closed = act(live_server, admin, 1, "close")
    assert closed["status"] == "closed" and closed["owner"] == "s02" and closed["closed_at"] is not None
    assert [h["action"] for h in closed["history"]] == [
        "opened",
        "assign",
        "verify",
        "rectify",
        "answer",
        "call_back",
        "close",
    ]
    assert_error(live_server.request("POST", f"{CASES}/1", {"action": "call_back"}, token=admin), 409, "case_closed")

    status, open_now = live_server.request("GET", CASES + "?status=open", token=admin)
    assert [c["id"] for c in open_now["cases"]] == [2]
    assert [c["id"] for c in live_server.request("GET", CASES + "?status=all", token=admin)[1]["cases"]] == [1, 2]
    assert_error(live_server.request("GET", CASES + "?status=lost", token=admin), 422, "bad_status")

    # every change is in the audit log
    status, audit = live_server.request("GET", "/api/halls/demo/audit", token=admin)
    actions = [r["action"] for r in audit["entries"] if r["action"].startswith("case_")]
    assert sorted(actions) == sorted(
        ["case_assign", "case_verify", "case_rectify", "case_answer", "case_call_back", "case_close"]
    )

    # case 2 runs late: rated 8 days ago, its 5 working days are past (the demo opens every day)
    backdate(live_server, 2, days=8)
    assert live_server.request("GET", CASES, token=admin)[1]["cases"][0]["overdue"] is True

    status, summary = live_server.request("GET", CASES + "/summary", token=admin)
    assert status == 200, summary
    # due: case 1 (rectified in time) and case 2 (past its deadline, not rectified); named: case 1, called back
    assert (summary["due"], summary["in_time"], summary["in_time_rate"]) == (2, 1, 0.5)
    assert (summary["named"], summary["called_back"], summary["called_back_rate"]) == (1, 1, 1.0)
    assert_error(live_server.request("GET", CASES + "/summary?from=2025-13-01", token=admin), 422, "invalid_date")


def test_a_holiday_declared_after_a_rating_moves_its_deadline(redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    """The manager declares a holiday over the days a case had to be settled in: its deadline
    moves, it is no longer overdue, and rectified now it counts as in time; the holiday taken
    away again, the deadline moves back and the same rectification was late."""
    server = LiveServer(fresh_database(redis_server), tmp_path)  # its own data folder: the calendar overlay
    server.start()
    try:
        clerk, admin = server.login("s01"), server.login("admin", "admin1234")
        bad_visit(server, clerk)
        backdate(server, 1, days=8)
        bad_visit(server, clerk)  # case 2: rated today

        def listed() -> list[dict[str, Any]]:
            status, body = server.request("GET", CASES + "?status=pending", token=admin)
            assert status == 200, body
            return list(body["cases"])

        first, second = listed()
        assert (first["id"], first["overdue"], second["id"], second["overdue"]) == (1, True, 2, False)
        today = server.request("GET", CALENDAR, None, admin)[1]["calendar"]["today"]
        rated = datetime.fromtimestamp(first["rated_at"] / 1000, SHANGHAI).date()
        since = (rated + timedelta(days=1)).isoformat()

        # a closure over every day since case 1's rating: none of them counts any more
        holiday = {"date": since, "until": today, "name": "停电检修"}
        assert server.request("POST", f"{CALENDAR}/holidays", holiday, admin)[0] == 201
        hall = parse_hall(demo_text(), calendar=calendar_overlay.dumps([holiday], []))
        moved = listed()
        assert [(c["id"], c["deadline"], c["overdue"]) for c in moved] == [
            (1, cases.deadline_ms(first["rated_at"], hall, 5), False),
            (2, cases.deadline_ms(second["rated_at"], hall, 5), False),
        ]
        assert moved[0]["deadline"] > server.request("GET", CASES, token=admin)[1]["now"] > first["deadline"]
        act(server, admin, 1, "verify", note="the queue screen was off")
        act(server, admin, 1, "rectify", note="fixed the screen")
        status, summary = server.request("GET", CASES + "/summary", token=admin)
        assert (status, summary["due"], summary["in_time"]) == (200, 1, 1), summary

        # the holiday taken away: case 1's deadline is back in the past, its rectification late
        assert server.request("DELETE", f"{CALENDAR}/holidays/{since}", None, admin)[0] == 200
        assert [c["deadline"] for c in listed()] == [first["deadline"], second["deadline"]]
        summary = server.request("GET", CASES + "/summary", token=admin)[1]
        assert (summary["due"], summary["in_time"]) == (1, 0), summary
    finally:
        server.stop()
