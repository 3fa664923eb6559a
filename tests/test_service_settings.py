"""A service's letter, kind, minutes and quota changed, and a service taken away, from the
manager's API (server/hall_api.py): checked as check-config checks, refused with 409
strands_visitors while it would strand a visitor (a ticket of the old letter open, someone
waiting or served for the service, a booking not yet over), written to the overlay beside
the hall file, applied live on both workers with the queue kept, audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server import staff_overlay
from server.config import demo_text, load_hall, parse_hall
from server.embedded import EmbeddedRedis
from server.toml_locator import ConfigError
from tests.live import LiveServer, fresh_database

SERVICES = "/api/halls/demo/services"


def hall_file_in(tmp_path: Path) -> Path:
    hall_file = tmp_path / "hall.toml"
    hall_file.write_text(demo_text(), encoding="utf-8")
    return hall_file


def services_of(server: LiveServer) -> dict[str, dict[str, Any]]:
    _, config = server.request("GET", "/api/halls/demo")
    return {s["id"]: s for s in config["services"]}


def tiers_of(server: LiveServer) -> dict[str, list[list[str]]]:
    _, config = server.request("GET", "/api/halls/demo")
    return {w["id"]: w["tiers"] for w in config["windows"]}


def refused(answer: tuple[int, Any], status: int, code: str) -> dict[str, Any]:
    assert answer[0] == status and answer[1]["error"]["code"] == code, answer
    return dict(answer[1]["error"])


def audited(server: LiveServer, admin: str, *actions: str) -> list[tuple[str, str]]:
    _, audit = server.request("GET", "/api/halls/demo/audit", None, admin)
    return [(e["action"], e["detail"]) for e in audit["entries"] if e["action"] in actions]


def test_a_new_letter_waits_for_the_old_ones_tickets_then_numbers_the_next_ticket(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    hall_file = hall_file_in(tmp_path)
    written = hall_file.read_bytes()
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file), workers=2)
    server.start()
    try:
        admin = server.login("admin", "admin1234")
        settings = f"{SERVICES}/register/settings"
        a001 = server.issue(["register"])["ticket"]["number"]
        assert a001 == "A001"
        # bad input, a clerk, an unknown service: refused, nothing written
        for body, status, code in (
            ({"prefix": "e"}, 422, "bad_field"),
            ({"prefix": "B"}, 422, "bad_service"),  # 关系转移's letter
            ({"daily_quota": 1000}, 422, "bad_field"),
            ({"kind": "someday"}, 422, "bad_field"),
            ({}, 422, "bad_field"),
        ):
            error = refused(server.request("POST", settings, body, admin), status, code)
            if code == "bad_service":
                assert any("duplicate prefix 'B'" in p for p in error["problems"]), error
        refused(
            server.request("POST", f"{SERVICES}/nope/settings", {"kind": "promised"}, admin), 404, "unknown_service"
        )
        refused(server.request("POST", settings, {"prefix": "E"}, server.login("s01")), 403, "forbidden")

        # A001 is open: its call could not be spoken with the letter gone
        error = refused(server.request("POST", settings, {"prefix": "E"}, admin), 409, "strands_visitors")
        assert [(t["number"], t["reason"]) for t in error["tickets"]] == [("A001", "letter_changed")]
        assert services_of(server)["register"]["prefix"] == "A"
        assert not staff_overlay.beside(hall_file).exists()

        clerk = server.login("s01")
        assert server.act(clerk, "1", "call_next")[1]["ticket"]["number"] == "A001"
        assert server.act(clerk, "1", "complete")[0] == 200
        change = {"prefix": "E", "kind": "promised", "expected_minutes": 8, "daily_quota": 2}
        status, answer = server.request("POST", settings, change, admin)
        assert status == 200, answer
        assert answer["service"] == {
            "id": "register",
            "prefix": "E",
            "name": {"zh": "参保登记", "en": "Insurance registration"},
            "kind": "promised",
            "expected_minutes": 8.0,
            "daily_quota": 2,
            "windows": ["1", "2", "3", "4", "5"],
        }
        # both workers issue with the new letter, from E's own count of the day, to the quota
        assert [server.issue(["register"])["ticket"]["number"] for _ in range(2)] == ["E001", "E002"]
        refused(server.request("POST", "/api/halls/demo/tickets", {"services": ["register"]}), 409, "quota_reached")
        assert services_of(server)["register"] == {**services_of(server)["register"], "prefix": "E", "daily_quota": 2}
        status, _ = server.request("POST", settings, {"daily_quota": 0}, admin)  # no quota again
        assert status == 200 and services_of(server)["register"]["daily_quota"] is None
        assert server.issue(["register"])["ticket"]["number"] == "E003"
        # a clerk calls the new letter by number; the queue went on
        status, called = server.act(clerk, "1", "call", ticket="E002")
        assert status == 200 and called["ticket"]["number"] == "E002", called
        assert load_hall(hall_file).service("register").prefix == "E"  # type: ignore[union-attr]  # check-config agrees
        assert hall_file.read_bytes() == written
        assert audited(server, admin, "service_settings") == [
            ("service_settings", "register: daily_quota none"),
            ("service_settings", "register: prefix E, kind promised, expected_minutes 8.0, daily_quota 2"),
        ]
    finally:
        server.stop()


def tomorrows_slot(server: LiveServer, service: str) -> tuple[str, str]:
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    _, body = server.request("GET", f"/api/halls/demo/slots?date={day}&service={service}")
    return day, next(s["start"] for s in body["slots"] if s["left"] > 0)


def test_a_service_goes_only_once_nobody_waits_is_served_or_is_booked_for_it(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    hall_file = hall_file_in(tmp_path)
    server = LiveServer(fresh_database(redis_server), tmp_path, config=str(hall_file), workers=2)
    server.start()
    try:
        admin = server.login("admin", "admin1234")
        remove = f"{SERVICES}/photo/remove"
        before = tiers_of(server)
        d001 = server.issue(["photo"])["ticket"]["number"]
        error = refused(server.request("POST", remove, None, admin), 409, "strands_visitors")
        assert [(t["number"], t["status"], t["reason"]) for t in error["tickets"]] == [
            (d001, "waiting", "service_removed")
        ]
        assert "photo" in services_of(server) and tiers_of(server) == before
        refused(server.request("POST", remove, None, server.login("s02")), 403, "forbidden")
        refused(server.request("POST", f"{SERVICES}/nope/remove", None, admin), 404, "unknown_service")

        # the visitor is called as ever, and while in hand the service stays
        clerk = server.login("s01")
        assert server.act(clerk, "5", "call_next")[1]["ticket"]["number"] == d001
        error = refused(server.request("POST", remove, None, admin), 409, "strands_visitors")
        assert [(t["status"], t["reason"]) for t in error["tickets"]] == [("called", "service_removed")]
        assert server.act(clerk, "5", "complete")[0] == 200

        # a booking whose check-in is still ahead holds the service too (its code never shown)
        day, start = tomorrows_slot(server, "photo")
        status, booked = server.request(
            "POST", "/api/halls/demo/appointments", {"services": ["photo"], "date": day, "start": start}
        )
        assert status == 201, booked
        error = refused(server.request("POST", remove, None, admin), 409, "strands_visitors")
        assert error["tickets"] == [] and len(error["appointments"]) == 1, error
        assert error["appointments"][0] == {
            **error["appointments"][0],
            "services": ["photo"],
            "date": day,
            "start": start,
            "reason": "service_removed",
        }
        assert "code" not in error["appointments"][0] and "token" not in error["appointments"][0]
        assert server.request("DELETE", f"/api/appointments/{booked['appointment']['token']}")[0] == 200
        assert not staff_overlay.beside(hall_file).exists()
        assert server.request("POST", "/api/halls/demo/windows/4/retire", None, admin)[0] == 200

        status, answer = server.request("POST", remove, None, admin)
        assert status == 200 and answer == {"service": None, "services": ["register", "transfer", "pension"]}
        assert "photo" not in services_of(server)
        everything = ["register", "transfer", "pension"]
        assert tiers_of(server) == {**{w: [everything] for w in "123"}, "5": [everything]}  # photo's tier gone
        assert server.request("POST", "/api/halls/demo/windows/4/restore", None, admin)[0] == 200  # without it
        assert tiers_of(server)["4"] == [everything]
        refused(server.request("POST", "/api/halls/demo/tickets", {"services": ["photo"]}), 404, "unknown_service")
        assert server.issue(["register"])["ticket"]["number"] == "A001"  # the queue goes on
        assert audited(server, admin, "service_remove") == [("service_remove", "photo")]

        # a window left with nothing to serve: check-config's refusal, nothing changed
        assert server.request("POST", "/api/halls/demo/windows", {"id": "8", "services": ["pension"]}, admin)[0] == 201
        error = refused(server.request("POST", f"{SERVICES}/pension/remove", None, admin), 422, "bad_service")
        assert any("window serves no service" in p for p in error["problems"]), error
        assert "pension" in services_of(server)

        # and a service taken away comes back as a new one
        photo = {"id": "photo", "prefix": "D", "name": {"zh": "照片采集", "en": "Photos"}, "windows": ["5"]}
        assert server.request("POST", SERVICES, photo, admin)[0] == 201
        assert tiers_of(server)["5"] == [[*everything, "photo"]]
        assert server.issue(["photo"])["ticket"]["number"] == "D002"  # D001 was today's already
    finally:
        server.stop()


def test_the_overlay_takes_a_service_and_a_quota_away_as_check_config_reads_it() -> None:
    booked_photos = demo_text().replace("days_ahead = 14", 'days_ahead = 14\nservices = ["photo", "register"]')
    booked_photos = booked_photos.replace("expected_minutes = 6", "expected_minutes = 6\ndaily_quota = 50", 1)
    everything = [["register", "transfer", "pension"]]
    text = staff_overlay.dumps(
        [],
        [{"id": w, "tiers": everything} for w in "12345"],
        [{"id": "photo", "removed": True}, {"id": "register", "prefix": "E", "daily_quota": 0}],
    )
    hall = parse_hall(booked_photos, text)
    assert [(s.id, s.prefix, s.daily_quota) for s in hall.services] == [
        ("register", "E", None),
        ("transfer", "B", None),
        ("pension", "C", None),
    ]
    assert hall.appointments is not None and hall.appointments.services == ("register",)
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text(), staff_overlay.dumps([], [], [{"id": "photo", "removed": "yes"}]))
    assert [str(p) for p in caught.value.problems] == ["(staff overlay) services[0].removed: must be true or false"]
