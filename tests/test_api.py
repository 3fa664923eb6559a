"""The HTTP API of CONTRACT.md against a real ``hallq serve`` process on a real Redis.

Every endpoint answers as the contract says, and every refusal is the contract's
``{"error": {"code", "message"}}`` with its status *and changes nothing* (the
hall's ``seq`` stays where it was).
"""

from __future__ import annotations

import http.client
import json
import re
from typing import Any

from tests.live import LiveServer

TOKEN_SHAPE = re.compile(r"^demo\.[A-Za-z0-9_-]{22,64}$")


# --- helpers (also used by the other server test modules) ---------------------


def raw_request(
    server: LiveServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
) -> tuple[int, Any, dict[str, str]]:
    """Send exactly these bytes (no JSON encoding); answer (status, parsed body, headers)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if chunked:
            connection.putrequest(method, path)
            for name, value in {**all_headers, "Transfer-Encoding": "chunked"}.items():
                connection.putheader(name, value)
            connection.endheaders()
            for start in range(0, len(body or b""), 4096):
                chunk = (body or b"")[start : start + 4096]
                connection.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.send(b"0\r\n\r\n")
        else:
            connection.request(method, path, body=body, headers=all_headers)
        answer = connection.getresponse()
        data = answer.read()
        try:
            parsed: Any = json.loads(data)
        except ValueError:
            parsed = data.decode(errors="replace")
        return answer.status, parsed, {k.lower(): v for k, v in answer.getheaders()}
    finally:
        connection.close()


def assert_error(answer: tuple[Any, ...], status: int, code: str) -> None:
    """``answer`` is the contract's error of ``status`` with ``code`` and a message."""
    got_status, body = answer[0], answer[1]
    assert got_status == status, (got_status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


def seq_of(server: LiveServer) -> int:
    status, state = server.request("GET", "/api/halls/demo/state")
    assert status == 200, state
    return int(state["seq"])


def serve_and_complete(server: LiveServer, token: str, window: str = "1") -> dict[str, Any]:
    """Call the next visitor at ``window``, start and complete; the completed ticket."""
    status, called = server.act(token, window, "call_next")
    assert status == 200 and called["ticket"] is not None, called
    assert server.act(token, window, "start")[0] == 200
    status, done = server.act(token, window, "complete")
    assert status == 200, done
    return dict(called["ticket"])


# --- the hall ----------------------------------------------------------------------


def test_healthz_answers_ok(live_server: LiveServer) -> None:
    assert live_server.request("GET", "/healthz") == (200, {"status": "ok"})


def test_hall_config_is_the_public_demo_hall(live_server: LiveServer) -> None:
    status, hall = live_server.request("GET", "/api/halls/demo")
    assert status == 200
    assert hall["id"] == "demo"
    assert hall["name"] == {"zh": "人力社保服务中心", "en": "Social Security Service Centre"}
    assert hall["languages"] == ["zh", "en"]
    assert [(s["id"], s["prefix"], s["kind"]) for s in hall["services"]] == [
        ("register", "A", "instant"),
        ("transfer", "B", "promised"),
        ("pension", "C", "promised"),
        ("photo", "D", "instant"),
    ]
    assert {"zh", "en"} <= set(hall["services"][0]["name"])
    windows = {w["id"]: w for w in hall["windows"]}
    assert list(windows) == ["1", "2", "3", "4", "5"]
    assert windows["1"]["services"] == ["register", "transfer", "pension", "photo"]
    assert windows["5"]["services"] == ["photo", "register", "transfer", "pension"]
    assert windows["5"]["tiers"] == [["photo"], ["register", "transfer", "pension"]]
    # nothing secret in the public config
    assert "pin" not in json.dumps(hall) and "staff" not in hall
    assert_error(live_server.request("GET", "/api/halls/nowhere"), 404, "unknown_hall")


def test_state_of_an_empty_hall_then_after_an_issue(live_server: LiveServer) -> None:
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert status == 200
    assert state["seq"] == 0
    assert [(w["id"], w["status"], w["ticket"], w["clerk"]) for w in state["windows"]] == [
        (str(i), "closed", None, None) for i in range(1, 6)
    ]
    assert state["waiting"] == {"register": 0, "transfer": 0, "pension": 0, "photo": 0}
    assert state["recent"] == []
    live_server.issue(["photo"])
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert state["seq"] == 1 and state["waiting"]["photo"] == 1
    assert isinstance(state["waiting_since"]["photo"], int)
    assert_error(live_server.request("GET", "/api/halls/nowhere/state"), 404, "unknown_hall")


# --- tickets -----------------------------------------------------------------------


def test_issue_answers_201_with_ticket_ahead_and_eta(live_server: LiveServer) -> None:
    status, first = live_server.request(
        "POST", "/api/halls/demo/tickets", {"services": ["register"], "priority": False, "lang": "en"}
    )
    assert status == 201, first
    ticket = first["ticket"]
    assert ticket["number"] == "A001" and ticket["status"] == "waiting" and ticket["lang"] == "en"
    assert ticket["services"] == ["register"] and ticket["priority"] is False and ticket["window"] is None
    assert TOKEN_SHAPE.match(ticket["token"])
    assert isinstance(ticket["issued_at"], int) and ticket["called_at"] is None and ticket["done_at"] is None
    assert first["ahead"] == 0 and isinstance(first["eta_s"], int | float)
    second = live_server.issue(["register"], id_number="110101199003071234")
    assert second["ticket"]["number"] == "A002" and second["ahead"] == 1
    assert second["eta_s"] >= first["eta_s"]
    assert "id_number" not in second["ticket"] and "110101199003071234" not in json.dumps(second)
    assert second["ticket"]["token"] != ticket["token"]


def test_malformed_issues_are_refused_and_change_nothing(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    before = seq_of(live_server)
    path = "/api/halls/demo/tickets"
    assert_error(live_server.request("POST", path, {"services": ["register"], "colour": "red"}), 422, "unknown_field")
    assert_error(live_server.request("POST", path, {"services": "register"}), 422, "bad_field")
    assert_error(live_server.request("POST", path, {"services": ["register"], "priority": "yes"}), 422, "bad_field")
    assert_error(live_server.request("POST", path, {"services": [1, 2]}), 422, "bad_field")
    assert_error(live_server.request("POST", path, {"priority": True}), 422, "missing_field")
    assert_error(live_server.request("POST", path, [1, 2, 3]), 422, "bad_body")
    assert_error(live_server.request("POST", path, {"services": ["haircut"]}), 404, "unknown_service")
    assert_error(live_server.request("POST", path, {"services": []}), 422, "no_services")
    assert_error(live_server.request("POST", path, {"services": ["register"], "lang": "fr"}), 422, "unknown_language")
    assert_error(raw_request(live_server, "POST", path, b'{"services": ["register"'), 400, "bad_json")
    assert_error(raw_request(live_server, "POST", path, b"\xff\xfe not utf-8"), 400, "bad_json")
    big = json.dumps({"services": ["register"], "lang": "x" * 17_000}).encode()
    assert_error(raw_request(live_server, "POST", path, big), 413, "body_too_large")
    # without a Content-Length the server counts what it reads
    assert_error(raw_request(live_server, "POST", path, big, chunked=True), 413, "body_too_large")
    assert_error(
        live_server.request("POST", "/api/halls/nowhere/tickets", {"services": ["register"]}), 404, "unknown_hall"
    )
    assert seq_of(live_server) == before
    _status, state = live_server.request("GET", "/api/halls/demo/state")
    assert state["waiting"]["register"] == 1


def test_get_and_cancel_a_ticket(live_server: LiveServer) -> None:
    first = live_server.issue(["register"])
    second = live_server.issue(["register"])
    token = second["ticket"]["token"]
    status, found = live_server.request("GET", f"/api/tickets/{token}")
    assert status == 200
    assert found["ticket"]["number"] == "A002" and found["ticket"]["token"] == token
    assert found["ahead"] == 1 and "eta_s" in found
    status, cancelled = live_server.request("DELETE", f"/api/tickets/{token}")
    assert status == 200 and cancelled["ticket"]["status"] == "cancelled", cancelled
    status, found = live_server.request("GET", f"/api/tickets/{token}")
    assert found["ticket"]["status"] == "cancelled"
    before = seq_of(live_server)
    assert live_server.request("DELETE", f"/api/tickets/{token}")[0] == 409
    # the first visitor is no longer behind anyone; the cancelled one is out of the queue
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert state["waiting"]["register"] == 1
    assert live_server.request("GET", f"/api/tickets/{first['ticket']['token']}")[1]["ahead"] == 0
    unknown = "demo." + "A" * 32
    assert_error(live_server.request("GET", f"/api/tickets/{unknown}"), 404, "unknown_ticket")
    assert_error(live_server.request("DELETE", f"/api/tickets/{unknown}"), 404, "unknown_ticket")
    assert_error(live_server.request("GET", "/api/tickets/not-a-token"), 404, "unknown_ticket")
    assert seq_of(live_server) == before


def test_staff_find_a_ticket_by_number(live_server: LiveServer) -> None:
    issued = live_server.issue(["pension"])
    desk = live_server.login("desk")
    status, found = live_server.request("GET", "/api/halls/demo/tickets?number=C001", token=desk)
    assert status == 200 and found["ticket"]["token"] == issued["ticket"]["token"]
    assert_error(live_server.request("GET", "/api/halls/demo/tickets?number=C001"), 401, "not_logged_in")
    assert_error(live_server.request("GET", "/api/halls/demo/tickets?number=C009", token=desk), 404, "unknown_ticket")


def test_rating_a_visit(live_server: LiveServer) -> None:
    token = live_server.issue(["register"])["ticket"]["token"]
    rating = f"/api/tickets/{token}/rating"
    assert_error(live_server.request("POST", rating, {"score": 5}), 409, "not_done")
    clerk = live_server.login("s01")
    serve_and_complete(live_server, clerk)
    before = seq_of(live_server)
    assert_error(live_server.request("POST", rating, {"score": 6}), 422, "bad_score")
    assert_error(live_server.request("POST", rating, {"score": "5"}), 422, "bad_field")
    assert_error(live_server.request("POST", rating, {"score": 5, "stars": 5}), 422, "unknown_field")
    assert seq_of(live_server) == before
    status, rated = live_server.request("POST", rating, {"score": 2, "reasons": ["slow"]})
    assert status == 201, rated
    assert rated["ticket"]["number"] == "A001"
    assert seq_of(live_server) == before + 1
    assert_error(live_server.request("POST", rating, {"score": 4}), 409, "already_rated")
    assert seq_of(live_server) == before + 1
    admin = live_server.login("admin", "admin1234")
    status, ratings = live_server.request("GET", "/api/halls/demo/ratings?bad=1", token=admin)
    assert status == 200
    assert [(r["ticket"], r["score"], r["reasons"]) for r in ratings["ratings"]] == [("A001", 2, ["slow"])]


def test_rating_pad_rates_only_the_visit_just_completed(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    clerk = live_server.login("s01")
    serve_and_complete(live_server, clerk, "1")
    pad = "/api/halls/demo/windows/1/rating"
    assert_error(live_server.request("POST", pad, {"ticket": "A009", "score": 5}), 409, "not_rateable")
    assert_error(
        live_server.request("POST", "/api/halls/demo/windows/2/rating", {"ticket": "A001", "score": 5}),
        409,
        "not_rateable",
    )
    assert live_server.request("POST", pad, {"ticket": "A001", "score": 5})[0] == 201
    assert_error(live_server.request("POST", pad, {"ticket": "A001", "score": 5}), 409, "already_rated")


# --- window actions ------------------------------------------------------------------


def test_actions_answer_window_ticket_and_seq(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    live_server.issue(["photo"])
    clerk = live_server.login("s05")
    status, called = live_server.act(clerk, "5", "call_next")
    assert status == 200, called
    # window 5 serves photo first, even though A001 came earlier
    assert called["ticket"]["number"] == "D001" and called["ticket"]["status"] == "called"
    assert called["window"]["id"] == "5" and called["window"]["status"] == "calling"
    assert called["window"]["clerk"]["id"] == "s05"
    assert called["seq"] == seq_of(live_server)
    assert live_server.act(clerk, "5", "recall")[0] == 200
    status, started = live_server.act(clerk, "5", "start")
    assert status == 200 and started["ticket"]["status"] == "serving"
    status, done = live_server.act(clerk, "5", "complete")
    assert status == 200 and done["ticket"]["status"] == "done"
    status, nothing = live_server.act(clerk, "5", "recall")
    assert_error((status, nothing), 409, nothing["error"]["code"])
    status, called = live_server.act(clerk, "5", "call", ticket="A001")
    assert status == 200 and called["ticket"]["number"] == "A001"
    assert live_server.act(clerk, "5", "pause")[1]["window"]["status"] == "paused"
    # a clerk cannot leave with a visitor in hand
    assert_error(live_server.act(clerk, "5", "close"), 409, "window_busy")
    # no-show is refused right after a call (the visitor needs time to walk over)
    assert live_server.act(clerk, "5", "no_show")[0] == 409
    assert live_server.act(clerk, "5", "suspend")[1]["ticket"]["status"] == "suspended"
    assert live_server.act(clerk, "5", "close")[0] == 200
    status, state = live_server.request("GET", "/api/halls/demo/state")
    assert state["windows"][4]["status"] == "closed"


def test_refused_actions_change_nothing(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    clerk = live_server.login("s01")
    before = seq_of(live_server)
    path = "/api/halls/demo/windows/1/actions"
    assert_error(live_server.request("POST", path, {"action": "call_next"}), 401, "not_logged_in")
    assert_error(
        live_server.request("POST", path, {"action": "call_next"}, token="demo.forged-token-xxxxxxxxxxxx"),
        401,
        "not_logged_in",
    )
    desk = live_server.login("desk")
    assert_error(live_server.request("POST", path, {"action": "call_next"}, token=desk), 403, "forbidden")
    assert_error(live_server.act(clerk, "1", "dance"), 422, "unknown_action")
    assert_error(live_server.act(clerk, "9", "call_next"), 404, "unknown_window")
    assert_error(live_server.act(clerk, "1", "call", ticket="nope"), 422, "bad_ticket_number")
    assert_error(live_server.act(clerk, "1", "call_next", request_id="has spaces"), 422, "bad_request_id")
    assert_error(live_server.act(clerk, "1", "call_next", colour="red"), 422, "unknown_field")
    assert_error(live_server.act(clerk, "1", "transfer"), 422, "missing_target")
    assert_error(raw_request(live_server, "POST", path, b"{", {"Authorization": f"Bearer {clerk}"}), 400, "bad_json")
    assert seq_of(live_server) == before


def test_another_clerk_cannot_act_at_a_taken_window(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    live_server.issue(["register"])
    first, second = live_server.login("s01"), live_server.login("s02")
    assert live_server.act(first, "1", "call_next")[0] == 200
    before = seq_of(live_server)
    assert_error(live_server.act(second, "1", "call_next"), 409, "window_taken")
    assert_error(live_server.act(second, "1", "close"), 409, "window_taken")
    assert seq_of(live_server) == before
    # once the first clerk leaves, the second may take the window
    assert live_server.act(first, "1", "complete")[0] == 200
    assert live_server.act(first, "1", "close")[0] == 200
    status, called = live_server.act(second, "1", "call_next")
    assert status == 200 and called["window"]["clerk"]["id"] == "s02"


def test_same_request_id_is_performed_once(live_server: LiveServer) -> None:
    for _ in range(3):
        live_server.issue(["register"])
    clerk = live_server.login("s01")
    first = live_server.act(clerk, "1", "call_next", request_id="pad-1:42")
    after_first = seq_of(live_server)
    again = live_server.act(clerk, "1", "call_next", request_id="pad-1:42")
    assert first[0] == again[0] == 200
    assert again[1] == first[1]
    assert seq_of(live_server) == after_first
    assert live_server.request("GET", "/api/halls/demo/state")[1]["waiting"]["register"] == 2
    # a new request_id is a new action
    _status, other = live_server.act(clerk, "1", "call_next", request_id="pad-1:43")
    assert other["ticket"]["number"] == "A002"


# --- the manager ----------------------------------------------------------------------


ADMIN_ONLY = (
    "/api/halls/demo/stats",
    "/api/halls/demo/stats?by=window&format=csv",
    "/api/halls/demo/ratings",
    "/api/halls/demo/history.csv",
    "/api/halls/demo/config.toml",
)


def test_admin_only_endpoints(live_server: LiveServer) -> None:
    clerk, desk = live_server.login("s01"), live_server.login("desk")
    admin = live_server.login("admin", "admin1234")
    for path in ADMIN_ONLY:
        assert_error(live_server.request("GET", path), 401, "not_logged_in")
        assert_error(live_server.request("GET", path, token=clerk), 403, "forbidden")
        assert_error(live_server.request("GET", path, token=desk), 403, "forbidden")
        status, body = live_server.request("GET", path, token=admin)
        assert status == 200, (path, body)


def test_admin_endpoints_answer_real_figures(live_server: LiveServer) -> None:
    live_server.issue(["register"])
    serve_and_complete(live_server, live_server.login("s01"))
    admin = live_server.login("admin", "admin1234")
    status, report = live_server.request("GET", "/api/halls/demo/stats?by=service", token=admin)
    assert status == 200
    assert "issued" in json.dumps(report) and "served" in json.dumps(report)
    status, csv_text = live_server.request("GET", "/api/halls/demo/history.csv", token=admin)
    assert status == 200 and "A001" in csv_text
    status, hall_file = live_server.request("GET", "/api/halls/demo/config.toml", token=admin)
    assert status == 200 and "[hall]" in hall_file and 'id = "demo"' in hall_file
    assert "scrypt" not in hall_file and "$" not in hall_file.split("pin_hash", 1)[-1].split("\n", 1)[0]
    assert_error(live_server.request("GET", "/api/halls/demo/stats?by=colour", token=admin), 422, "invalid_by")
    assert_error(
        live_server.request("GET", "/api/halls/demo/history.csv?day=yesterday", token=admin), 422, "invalid_date"
    )
    status, notice = live_server.request("POST", "/api/halls/demo/notice", {"text": "午休 12:00–13:30"}, token=admin)
    assert status == 200 and notice["text"] == "午休 12:00–13:30"
    assert live_server.request("GET", "/api/halls/demo/state")[1]["notice"] == "午休 12:00–13:30"
    assert_error(
        live_server.request("POST", "/api/halls/demo/notice", {"text": "x"}, token=live_server.login("s02")),
        403,
        "forbidden",
    )


# --- rate limits ---------------------------------------------------------------------


def test_anonymous_issuing_is_rate_limited_but_staff_are_exempt(live_server: LiveServer) -> None:
    path = "/api/halls/demo/tickets"
    answers = [live_server.request("POST", path, {"services": ["photo"]})[0] for _ in range(31)]
    assert answers[:30] == [201] * 30
    limited = live_server.request("POST", path, {"services": ["photo"]})
    assert_error(limited, 429, "rate_limited")
    before = seq_of(live_server)
    assert live_server.request("GET", "/api/halls/demo/state")[1]["waiting"]["photo"] == 30
    desk = live_server.login("desk")
    for _ in range(5):
        assert live_server.request("POST", path, {"services": ["photo"]}, token=desk)[0] == 201
    assert seq_of(live_server) == before + 5
    # an integration with a clerk or admin token is exempt too
    assert live_server.request("POST", path, {"services": ["photo"]}, token=live_server.login("s03"))[0] == 201


def test_unknown_routes_answer_json_errors(live_server: LiveServer) -> None:
    assert_error(live_server.request("GET", "/api/nothing/here"), 404, "not_found")
    assert_error(
        live_server.request("PUT", "/api/halls/demo/tickets", {"services": ["register"]}), 405, "method_not_allowed"
    )


# --- a clerk's day (issue 9: points 2, 3 and 5) ------------------------------------------


def test_a_double_tap_on_call_next_calls_one_visitor(live_server_factory: Any) -> None:
    import time

    server = live_server_factory(min_call_interval_s=None)  # the demo hall's own 3 s
    for _ in range(2):
        server.issue(["register"])
    clerk = server.login("s01")
    status, first = server.act(clerk, "1", "call_next", request_id="tap-1")
    assert status == 200 and first["ticket"]["number"] == "A001"
    before = seq_of(server)
    time.sleep(0.25)
    answer = server.act(clerk, "1", "call_next", request_id="tap-2")
    assert_error(answer, 409, "just_called")
    assert 0 < answer[1]["error"]["retry_after_ms"] <= 3000 and answer[1]["error"]["number"] == "A001"
    assert seq_of(server) == before, "the refused tap changed nothing"
    _status, ticket = server.request("GET", f"/api/tickets/{first['ticket']['token']}")
    assert ticket["ticket"]["status"] == "called", "the visitor just called is not closed"


def test_transfer_to_a_closed_window_then_a_window_closing_with_reserved_tickets(live_server: LiveServer) -> None:
    """Point 3 end to end: refused transfer names the open windows; a closing window's
    reserved ticket goes back to the photo line; 特呼 of it works at another window."""
    visitor = live_server.issue(["photo"])  # D001
    live_server.issue(["register"])  # A001
    s01, s02, s05 = live_server.login("s01"), live_server.login("s02"), live_server.login("s05")
    assert live_server.act(s02, "2", "open")[0] == 200
    assert live_server.act(s01, "1", "call", ticket="D001")[0] == 200
    before = seq_of(live_server)
    refused = live_server.act(s01, "1", "transfer", to_window="5")
    assert_error(refused, 409, "window_not_open")
    assert refused[1]["error"]["open_windows"] == ["2"] and "window 5 is closed" in refused[1]["error"]["message"]
    assert seq_of(live_server) == before
    assert live_server.act(s05, "5", "open")[0] == 200
    status, moved = live_server.act(s01, "1", "transfer", to_window="5")
    assert status == 200 and moved["ticket"]["to_window"] == "5"
    status, closed = live_server.act(s05, "5", "close")
    assert status == 200 and closed["window"]["status"] == "closed"
    _status, mine = live_server.request("GET", f"/api/tickets/{visitor['ticket']['token']}")
    assert mine["ticket"]["status"] == "waiting" and "to_window" not in mine["ticket"]
    assert mine["ahead"] == 0, "back in the photo line ahead of everybody"
    status, called = live_server.act(s02, "2", "call", ticket="D001")
    assert status == 200 and called["ticket"]["window"] == "2"


def test_request_id_is_one_namespace_per_caller_and_action(live_server: LiveServer) -> None:
    for _ in range(2):
        live_server.issue(["register"])
    clerk_a, clerk_b = live_server.login("s01"), live_server.login("s02")
    status, a = live_server.act(clerk_a, "1", "call_next", request_id="same-id")
    assert status == 200 and a["ticket"]["number"] == "A001"
    # clerk B's own action with A's id: B's visitor at B's window, never A's answer or token
    status, b = live_server.act(clerk_b, "2", "call_next", request_id="same-id")
    assert status == 200 and b["window"]["id"] == "2" and b["ticket"]["number"] == "A002"
    assert b["ticket"]["token"] != a["ticket"]["token"]
    # an anonymous kiosk reusing a clerk's id gets its own ticket (it was a 500)
    status, kiosk = live_server.request(
        "POST", "/api/halls/demo/tickets", {"services": ["photo"], "request_id": "same-id"}
    )
    assert status == 201, kiosk
    assert kiosk["ticket"]["number"] == "D001" and kiosk["ahead"] == 0
    # the kiosk retrying after a lost answer: the same ticket, no ghost
    before = seq_of(live_server)
    status, again = live_server.request(
        "POST", "/api/halls/demo/tickets", {"services": ["photo"], "request_id": "same-id"}
    )
    assert status == 201 and again == kiosk and seq_of(live_server) == before
    # the same clerk retrying: the same answer, one call
    assert live_server.act(clerk_a, "1", "call_next", request_id="same-id") == (200, a)
    assert seq_of(live_server) == before
    # a desk (staff) issuing with that id is another caller again
    desk = live_server.login("desk")
    status, by_desk = live_server.request(
        "POST", "/api/halls/demo/tickets", {"services": ["photo"], "request_id": "same-id"}, desk
    )
    assert status == 201 and by_desk["ticket"]["number"] == "D002"
