"""Issue 9 through the real server: a no-show at a comprehensive window goes back behind the
tickets of other services that window calls, and the visitor's page says where it really is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.live import LiveServer, no_show_hall


def test_a_no_show_is_not_next_and_its_phone_says_three_ahead(live_server_factory: Any, tmp_path: Path) -> None:
    server: LiveServer = live_server_factory(config=no_show_hall(tmp_path, 0))
    d001 = server.issue(["photo"])
    for service in ("register", "transfer", "pension"):
        server.issue([service])
    clerk = server.login("s01")
    status, called = server.act(clerk, "1", "call_next")
    assert status == 200 and called["ticket"]["number"] == "D001", called
    status, requeued = server.act(clerk, "1", "no_show")
    assert status == 200 and requeued["ticket"]["status"] == "waiting", requeued
    status, found = server.request("GET", f"/api/tickets/{d001['ticket']['token']}")
    assert status == 200 and found["ticket"]["status"] == "waiting"
    assert found["ahead"] == 3, "A001, B001 and C001 are called before it, not 下一位就是您"
    assert found["eta_s"] > 0
    numbers = []
    for _ in range(4):
        status, answer = server.act(clerk, "1", "call_next")
        assert status == 200, answer
        numbers.append(answer["ticket"]["number"])
    assert numbers == ["A001", "B001", "C001", "D001"]
