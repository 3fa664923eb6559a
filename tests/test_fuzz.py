"""Hypothesis against a real ``hallq serve``: every JSON route and every socket message.

Whatever a client sends, the server answers with the contract's JSON error (never a
5xx), and a refusal changes nothing (the hall's seq and waiting counts stay). The
default budget is small (``HALLQ_FUZZ_EXAMPLES``, default 60 per test) so the suite
stays fast; a long run sets it to thousands.
"""

from __future__ import annotations

import http.client
import json
import os
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.live import LiveServer

EXAMPLES = int(os.environ.get("HALLQ_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=os.environ.get("HALLQ_FUZZ_RANDOM") != "1",
)

# Text with what breaks parsers: lone surrogates, NULs, non-ASCII digits, long runs.
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "x\udfff", "\x00", "²", "٣", "A001", "register", "1234", "s01", "demo", "9" * 40]),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
FIELDS = {
    "/api/halls/demo/tickets": ["services", "priority", "lang", "id_number", "request_id"],
    "/api/auth/login": ["hall", "staff", "pin"],
    "/api/halls/demo/windows/1/actions": ["action", "ticket", "service", "to_window", "request_id"],
    "/api/halls/demo/windows/1/rating": ["score", "reasons", "ticket"],
    "/api/halls/demo/notice": ["text"],
    "RATING": ["score", "reasons"],
}


def bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    """Raw bodies: mostly objects of the route's own fields with any values, some anything at all."""
    known = st.dictionaries(st.sampled_from([*fields, "extra"]), JSON, max_size=len(fields) + 1)
    as_json = st.one_of(known, known, JSON).map(lambda v: json.dumps(v).encode())
    nested = st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
    return st.one_of(as_json, as_json, as_json, st.binary(max_size=64), nested)


def post(server: LiveServer, path: str, body: bytes, token: str | None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request("POST", path, body, headers)
        answer = connection.getresponse()
        raw = answer.read()
        return answer.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def fingerprint(server: LiveServer) -> tuple[int, Any]:
    status, state = server.request("GET", "/api/halls/demo/state")
    assert status == 200
    return state["seq"], state["waiting"]


def assert_contract_error(status: int, body: Any) -> None:
    assert status < 500, (status, body)
    if status >= 400:
        assert isinstance(body, dict) and set(body) == {"error"}, body
        assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


def test_json_routes_never_answer_5xx_and_refusals_change_nothing(live_server: LiveServer) -> None:
    tokens = {
        "/api/halls/demo/windows/1/actions": live_server.login("s01"),
        "/api/halls/demo/notice": live_server.login("admin", "admin1234"),
    }
    rating = f"/api/tickets/{live_server.issue(['register'])['ticket']['token']}/rating"
    routes = st.sampled_from(list(FIELDS)).flatmap(lambda route: st.tuples(st.just(route), bodies(FIELDS[route])))

    @FUZZ
    @given(case=routes)
    def attempt(case: tuple[str, bytes]) -> None:
        route, body = case
        before = fingerprint(live_server)
        status, answer = post(live_server, rating if route == "RATING" else route, body, tokens.get(route))
        assert_contract_error(status, answer)
        if status >= 400:
            assert fingerprint(live_server) == before, (route, body, status, answer)

    attempt()


def test_pad_frames_are_always_answered_and_the_pad_stays(live_server: LiveServer) -> None:
    clerk = live_server.login("s01")
    # no keepalive pings: their random payload, drawn in a background thread, would look to
    # Hypothesis like a strategy using the global random
    with connect(
        f"{live_server.ws_url}/ws/halls/demo/windows/1?token={clerk}", open_timeout=5, ping_interval=None
    ) as pad:
        assert json.loads(pad.recv(5))["type"] == "window_state"

        @FUZZ
        @given(
            frame=st.one_of(
                bodies(FIELDS["/api/halls/demo/windows/1/actions"]).map(lambda b: b.decode(errors="replace")), TEXT
            )
        )
        def attempt(frame: str) -> None:
            try:
                frame.encode()
            except UnicodeEncodeError:
                frame = json.dumps(frame)  # a WebSocket text frame is UTF-8: send it as JSON text
            before = fingerprint(live_server)
            pad.send(frame)
            while True:
                message = json.loads(pad.recv(10))
                if message.get("type") == "result":
                    break
            assert isinstance(message["ok"], bool)
            if not message["ok"]:
                assert isinstance(message["error"]["code"], str)
                assert fingerprint(live_server) == before, (frame, message)

        attempt()


def test_display_since_is_a_number_or_a_clear_refusal(live_server: LiveServer) -> None:
    live_server.issue(["register"])

    @FUZZ
    @given(since=TEXT)
    def attempt(since: str) -> None:
        quoted = quote(since.encode("utf-8", "surrogatepass"), safe="")
        with connect(
            f"{live_server.ws_url}/ws/halls/demo/display?since={quoted}", open_timeout=5, ping_interval=None
        ) as display:
            try:
                first = json.loads(display.recv(3))
            except TimeoutError:  # a valid since= at the hall's seq: nothing to replay yet
                assert since.isascii() and since.isdigit(), since
                return
            if first.get("type") == "error":
                assert first["error"]["code"] == "bad_since"
                with pytest.raises(ConnectionClosed) as closed:
                    display.recv(5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
            else:
                assert "seq" in first

    attempt()
