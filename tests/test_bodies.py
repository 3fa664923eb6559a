"""Request bodies (server/bodies.py): each mistake refused with its code and a sentence that
names the field and says what is wrong; the live tests (test_api, test_sockets, …) check the
same codes over HTTP and the pad socket."""

from __future__ import annotations

from typing import Any

import pytest

from server import bodies, hall_bodies, staff_bodies, ticket_bodies
from server.bodies import BadRequest, checked, parse_json
from server.queue.errors import Refusal


@pytest.mark.parametrize(
    ("model", "body", "code", "message"),
    [
        (ticket_bodies.Issue, [1, 2], "bad_body", "the body must be a JSON object"),
        (
            ticket_bodies.Issue,
            {"services": ["\ud800"]},
            "bad_text",
            "the text must be valid Unicode (no lone surrogates)",
        ),
        (
            ticket_bodies.Issue,
            {"services": ["register"], "zz": 1, "colour": "red"},
            "unknown_field",
            "unknown field(s): colour, zz",
        ),
        (ticket_bodies.Issue, {"priority": True}, "missing_field", "services is required"),
        (ticket_bodies.Issue, {"services": None}, "missing_field", "services is required"),
        (ticket_bodies.Issue, {"services": "register"}, "bad_field", "services must be a list of up to 10 service ids"),
        (ticket_bodies.Issue, {"services": [1, 2]}, "bad_field", "services must be a list of up to 10 service ids"),
        (ticket_bodies.Issue, {"services": ["a"] * 11}, "bad_field", "services must be a list of up to 10 service ids"),
        (ticket_bodies.Issue, {"services": ["a"], "priority": "yes"}, "bad_field", "priority must be true or false"),
        (
            ticket_bodies.Issue,
            {"services": ["a"], "id_number": "1" * 33},
            "bad_field",
            "id_number is too long (at most 32)",
        ),
        (
            ticket_bodies.RemoteIssue,
            {"services": ["a"], "priority": True},
            "unknown_field",
            "unknown field(s): priority",
        ),
        (ticket_bodies.Rating, {"score": "5"}, "bad_field", "score must be a whole number"),
        (ticket_bodies.Rating, {"score": True}, "bad_field", "score must be a whole number"),
        (ticket_bodies.Rating, {"score": 6}, "bad_score", "score must be a whole number from 1 to 5"),
        (
            ticket_bodies.Rating,
            {"score": 2, "reasons": ["Not A Code"]},
            "bad_reasons",
            "reasons must be up to 8 short codes like long_wait",
        ),
        (
            ticket_bodies.Rating,
            {"score": 2, "reasons": [5]},
            "bad_reasons",
            "reasons must be up to 8 short codes like long_wait",
        ),
        (ticket_bodies.PadRating, {"score": 2}, "missing_field", "ticket is required"),
        (staff_bodies.Login, {"hall": "demo", "staff": "s02", "pin": 1234}, "bad_field", "pin must be a string"),
        (staff_bodies.WindowAction, {"action": 7}, "bad_field", "action must be a string"),
        (
            staff_bodies.WindowAction,
            {"action": "recall", "ticket": "A" * 9},
            "bad_field",
            "ticket is too long (at most 8)",
        ),
        (ticket_bodies.PushSubscription, {"endpoint": "x", "keys": "k"}, "bad_field", "keys must be an object"),
        (
            ticket_bodies.PushSubscription,
            {"endpoint": "x", "keys": {"p256dh": "a"}},
            "missing_field",
            "keys.auth is required",
        ),
        (
            ticket_bodies.PushSubscription,
            {"endpoint": "x", "keys": {"p256dh": "a", "auth": "b", "more": 1}},
            "unknown_field",
            "unknown field(s): keys.more",
        ),
        (
            ticket_bodies.PushSubscription,
            {"endpoint": "x", "keys": {"p256dh": "a", "auth": "b"}, "expirationTime": "soon"},
            "bad_field",
            "expirationTime must be a number",
        ),
        (
            staff_bodies.NewStaff,
            {"id": "s06", "name": "新人", "role": "boss", "pin": "2580"},
            "bad_field",
            "role must be one of clerk, desk, admin",
        ),
        (
            staff_bodies.NewStaff,
            {"id": "S 06", "name": "新人", "role": "clerk", "pin": "2580"},
            "bad_field",
            "id must be lowercase letters, digits, '-' or '_' (at most 32)",
        ),
        (
            staff_bodies.NewStaff,
            {"id": "s06", "name": " \n", "role": "clerk", "pin": "2580"},
            "bad_field",
            "name must be a printable name",
        ),
        (
            hall_bodies.NewWindow,
            {"id": "7 7", "services": ["photo"]},
            "bad_field",
            'id must be a short window id such as "7" or "A1"',
        ),
        (hall_bodies.NewWindow, {"id": "7", "services": []}, "bad_field", "services must list service ids"),
        (staff_bodies.Notice, {"text": "x" * 201}, "bad_field", "text is too long (at most 200)"),
    ],
)
def test_each_mistake_is_said_with_its_field(model: type[bodies.Body], body: Any, code: str, message: str) -> None:
    with pytest.raises(Refusal) as caught:
        checked(model, body)
    assert (caught.value.code, caught.value.message) == (code, message)


def test_null_is_absent_and_values_are_typed() -> None:
    issue = checked(ticket_bodies.Issue, {"services": ["register"], "lang": None, "priority": True})
    assert (issue.services, issue.lang, issue.priority, issue.phone) == (["register"], None, True, None)
    staff = checked(staff_bodies.NewStaff, {"id": "s06", "name": " 新人 ", "role": "desk", "pin": "2580"})
    assert staff.name == "新人"  # stripped
    push = checked(
        ticket_bodies.PushSubscription, {"endpoint": "x", "keys": {"p256dh": "a", "auth": "b"}, "expirationTime": 5}
    )
    assert push.expiration_time == 5.0 and push.keys.auth == "b"


def test_bad_json_is_a_400() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json(b"[" * 100_000)
    assert (caught.value.code, caught.value.message) == ("bad_json", "the JSON is nested too deeply")
    with pytest.raises(BadRequest) as caught:
        parse_json(b"{")
    assert caught.value.code == "bad_json"
