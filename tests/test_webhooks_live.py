"""Webhooks against a real ``hallq serve`` and a real receiver on a loopback port.

Every event reaches each receiver in seq order with a valid signature and no token;
a receiver that is down gets everything once it is back, across a restart of hallq;
two workers never deliver one receiver's events concurrently or out of order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis

from server import ratelimit
from server.config import demo_text
from server.webhook_rules import receiver_id
from tests.live import LiveServer, admin_login, fresh_database
from tests.webhook_receiver import Receiver


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-off of 0.1 s doubling to 0.4 s, leases of 4 s: the retries a test can wait for."""
    monkeypatch.setenv("HALLQ_WEBHOOK_BACKOFF_MIN_S", "0.1")
    monkeypatch.setenv("HALLQ_WEBHOOK_BACKOFF_MAX_S", "0.4")
    monkeypatch.setenv("HALLQ_WEBHOOK_LEASE_S", "2")
    monkeypatch.setenv("HALLQ_WEBHOOK_TIMEOUT_S", "1")


@pytest.fixture
def receivers() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def make(**options: Any) -> Receiver:
        receiver = Receiver(**options)
        receiver.start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def hall_file(tmp_path: Path, *hooks: tuple[str, str, list[str]]) -> str:
    text = demo_text()
    for url, secret, events in hooks:
        quoted = ", ".join(f'"{e}"' for e in events)
        text += f'\n[[webhooks]]\nurl = "{url}"\nsecret = "{secret}"\nevents = [{quoted}]\n'
    path = tmp_path / "hall.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def busy_morning(server: LiveServer, tickets: int = 6) -> int:
    """Issue tickets and serve them at two windows; the hall's last seq."""
    for _ in range(tickets):
        server.issue(["register"])
    clerks = {"1": server.login("s01"), "2": server.login("s02")}
    for window, clerk in clerks.items():
        status, _ = server.act(clerk, window, "call_next")
        assert status == 200
    for window, clerk in clerks.items():
        assert server.act(clerk, window, "start")[0] == 200
        assert server.act(clerk, window, "complete")[0] == 200
    status, state = server.request("GET", "/api/halls/demo/state")
    assert status == 200
    return int(state["seq"])


def assert_in_order(receiver: Receiver, last: int, first: int = 1) -> None:
    """Every seq first..last arrived, in order (a repeat only as a resend), each signed right."""
    seqs = receiver.seqs()
    distinct = list(dict.fromkeys(seqs))
    assert distinct == list(range(first, last + 1)), seqs
    assert seqs == sorted(seqs), seqs  # a repeat (at least once) only right after itself
    for delivery in receiver.deliveries:
        assert delivery.valid, delivery.seq
        assert delivery.event["seq"] == delivery.seq
        assert b'"token"' not in delivery.raw


def test_every_event_in_order_signed_without_tokens_and_filtered(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver]
) -> None:
    everything = receivers(secret="s3cret-all")
    calls = receivers(secret="s3cret-calls")
    config = hall_file(
        tmp_path,
        (everything.url + "?key=in-the-query", everything.secret, ["*"]),
        (calls.url, calls.secret, ["ticket.called"]),
    )
    server: LiveServer = live_server_factory(config=config)
    last = busy_morning(server)
    everything.wait_for(last)
    assert_in_order(everything, last)
    types = [d.event["type"] for d in everything.deliveries]
    assert types[:6] == ["ticket.issued"] * 6
    assert everything.deliveries[0].event["ticket"]["number"] == "A001"
    called = [d.event for d in everything.deliveries if d.event["type"] == "ticket.called"]
    assert called and all("announce" in e for e in called)  # as the screens get it
    calls.wait_for(2)
    time.sleep(0.3)
    assert [d.event["type"] for d in calls.deliveries] == ["ticket.called", "ticket.called"]
    assert all(d.valid for d in calls.deliveries)

    admin = server.login("admin", "admin1234")
    status, report = server.request("GET", "/api/halls/demo/webhooks", token=admin)
    assert status == 200
    first, second = report["webhooks"]
    assert first["url"] == everything.url  # no query
    assert "key=" not in str(report) and "s3cret" not in str(report)
    assert first["id"] == receiver_id(everything.url + "?key=in-the-query")
    assert first["backlog"] == 0 and first["last_status"] == 200 and first["last_seq"] == last
    assert second["events"] == ["ticket.called"] and second["backlog"] == 0
    # a clerk may not read it, nobody anonymous either
    assert server.request("GET", "/api/halls/demo/webhooks", token=server.login("s03"))[0] == 403
    assert server.request("GET", "/api/halls/demo/webhooks")[0] == 401
    status, text = server.request("GET", "/metrics")
    assert f'hallq_webhook_deliveries_total{{hall="demo",outcome="ok",receiver="{first["id"]}"}} {float(last)}' in text
    assert f'hallq_webhook_backlog{{hall="demo",receiver="{first["id"]}"}} 0.0' in text


def test_an_event_acknowledged_before_the_receivers_first_turn_is_delivered(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], redis_server: Any, fast_retries: None
) -> None:
    """A new receiver's cursor is fixed when the server starts, not when it first gets the lease.

    Here another process holds the lease when hallq starts (as a second worker would, or one
    slow to take its first turn): the ticket issued meanwhile is delivered once it is free.
    Seen in CI as seq 1 never delivered when the first ticket came before the task's first turn.
    """
    receiver = receivers()
    config = hall_file(tmp_path, (receiver.url, receiver.secret, ["*"]))
    url = fresh_database(redis_server)
    client = sync_redis.Redis.from_url(url, decode_responses=True)
    lease = f"hallq:{{demo}}:webhook:{receiver_id(receiver.url)}:lease"
    client.set(lease, "another-process", px=60_000)
    server: LiveServer = live_server_factory(config=config, redis_url=url)
    server.issue(["register"])
    server.issue(["photo"])
    time.sleep(0.5)
    assert receiver.seqs() == []  # the lease is not ours yet
    client.delete(lease)  # the other process is gone: hallq takes over within a lease
    client.close()
    receiver.wait_for(2)
    assert_in_order(receiver, 2)


def test_receiver_down_across_a_restart_gets_everything_in_order(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None
) -> None:
    receiver = receivers()
    config = hall_file(tmp_path, (receiver.url, receiver.secret, ["*"]))
    server: LiveServer = live_server_factory(config=config)
    server.issue(["register"])
    receiver.wait_for(1)
    receiver.status = 503  # answering, but failing
    server.issue(["register"])
    server.issue(["photo"])
    time.sleep(1.0)
    receiver.stop()  # then gone altogether: connections refused
    clerk = server.login("s01")
    assert server.act(clerk, "1", "call_next")[0] == 200
    admin = server.login("admin", "admin1234")
    _status, report = server.request("GET", "/api/halls/demo/webhooks", token=admin)
    (item,) = report["webhooks"]
    assert item["backlog"] >= 3 and item["failures"] >= 1 and item["last_error"]
    assert item["last_seq"] == 1
    server.stop()  # hallq restarts while the receiver is down
    server.start()
    server.issue(["transfer"])
    time.sleep(0.5)
    receiver.status = 200
    receiver.start()
    _status, state = server.request("GET", "/api/halls/demo/state")
    last = int(state["seq"])
    receiver.wait_for(last, timeout=20)
    assert_in_order(receiver, last)
    assert receiver.seqs().count(1) == 1  # acknowledged once, never sent again
    assert receiver.secret not in server.log_path.read_text()  # failures were logged, never the secret


def test_two_workers_deliver_each_receiver_once_in_order(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None
) -> None:
    receiver = receivers()
    config = hall_file(tmp_path, (receiver.url, receiver.secret, ["*"]))
    server: LiveServer = live_server_factory(config=config, workers=2)
    other: LiveServer = live_server_factory(config=config, redis_url=server.redis_url)  # a second server too
    last = busy_morning(server, tickets=4)
    for _ in range(4):
        other.issue(["pension"])
    last += 4
    receiver.wait_for(last)
    time.sleep(0.5)
    assert receiver.seqs() == list(range(1, last + 1))  # a healthy receiver: each once, in order
    assert receiver.max_in_flight == 1
    client = sync_redis.Redis.from_url(server.redis_url, decode_responses=True)
    lease = f"hallq:{{demo}}:webhook:{receiver_id(receiver.url)}:lease"
    assert client.exists(lease)
    client.close()


def test_a_slow_receiver_never_delays_calls_or_other_receivers(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None
) -> None:
    down = receivers()
    down.stop()  # refuses every connection
    healthy = receivers()
    config = hall_file(tmp_path, (down.url, down.secret, ["*"]), (healthy.url, healthy.secret, ["*"]))
    server: LiveServer = live_server_factory(config=config)
    started = time.monotonic()
    last = busy_morning(server, tickets=3)
    assert time.monotonic() - started < 5
    healthy.wait_for(last)
    assert_in_order(healthy, last)
    assert down.seqs() == []


@pytest.mark.long
@pytest.mark.timeout(400)
def test_receiver_down_for_two_minutes_across_a_restart(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's test: down two minutes, hallq restarted meanwhile, default-like back-off
    (1 s doubling to 30 s): every event delivered, in order, signature valid."""
    monkeypatch.setenv("HALLQ_WEBHOOK_BACKOFF_MAX_S", "30")
    receiver = receivers()
    config = hall_file(tmp_path, (receiver.url, receiver.secret, ["*"]))
    server: LiveServer = live_server_factory(config=config, workers=2)
    server.issue(["register"])
    receiver.wait_for(1)
    receiver.stop()
    # a ticket every 2.5 s: within the kiosk's limit per device and minute (30) with the first
    # (at every 2 s, a minute that began just before the first ticket held 31: seen as a 429)
    pace_s = 60 / (ratelimit.LIMITS["issue"] * 0.8)
    down_until = time.monotonic() + 120
    issued = 1
    restarted = False
    while time.monotonic() < down_until:
        server.issue(["register"] if issued % 2 else ["photo"])
        issued += 1
        if not restarted and time.monotonic() > down_until - 60:
            server.stop()
            server.start()
            restarted = True
        time.sleep(pace_s)
    receiver.start()
    _status, state = server.request("GET", "/api/halls/demo/state")
    last = int(state["seq"])
    receiver.wait_for(last, timeout=60)
    assert_in_order(receiver, last)


def test_manager_page_lists_receivers_with_last_delivery_backlog_and_error(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None, browser: Any
) -> None:
    healthy = receivers()
    down = receivers()
    down.stop()
    config = hall_file(
        tmp_path,
        (healthy.url + "?access_key=zzq-key", healthy.secret, ["*"]),
        (down.url, down.secret, ["ticket.issued"]),
    )
    server: LiveServer = live_server_factory(config=config)
    server.issue(["register"])
    server.issue(["photo"])
    healthy.wait_for(2)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a Content-Security-Policy refusal (inline script or style) shows only on the console
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "webhook" in r.url else None)
    try:
        admin_login(page, server)
        ok_row = page.locator(f'#webhooks-table tr[data-receiver="{receiver_id(healthy.url + "?access_key=zzq-key")}"]')
        bad_row = page.locator(f'#webhooks-table tr[data-receiver="{receiver_id(down.url)}"]')
        ok_row.wait_for(timeout=10_000)
        cells = ok_row.locator("td").all_inner_texts()
        assert cells[0] == healthy.url
        page.wait_for_function("document.getElementById('config-text').textContent.includes('[[webhooks]]')")
        assert "zzq-key" not in page.content() and healthy.secret not in page.content()
        assert cells[1] == "全部" and cells[3] == "成功 200" and cells[4] == "0" and cells[5] == "—"
        assert bad_row.get_attribute("class") == "attention"
        bad = bad_row.locator("td").all_inner_texts()
        assert bad[1] == "ticket.issued" and bad[4] == "2" and bad[3].startswith("失败")
        assert "ConnectError" in bad[5]
        assert page.locator("#webhooks-empty").is_hidden()
        page.click("[data-lang-switch]")
        page.wait_for_function("document.querySelector('#webhooks-card h2').textContent === 'Webhooks'")
        assert ok_row.locator("td").nth(3).inner_text() == "OK 200"
    finally:
        context.close()
    assert errors == []


def test_events_trimmed_before_delivery_are_counted_and_skipped(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None
) -> None:
    """A receiver down longer than the stream keeps events: it goes on from the oldest kept."""
    receiver = receivers()
    config = hall_file(tmp_path, (receiver.url, receiver.secret, ["*"]))
    server: LiveServer = live_server_factory(config=config)
    server.issue(["register"])
    receiver.wait_for(1)
    receiver.stop()
    for _ in range(5):
        server.issue(["register"])  # seqs 2..6 while it is down
    # restarted (a process keeps the last events it read in memory, and would still send them)
    server.stop()
    client = sync_redis.Redis.from_url(server.redis_url, decode_responses=True)
    client.xtrim("hallq:{demo}:events", minid="5-0", approximate=False)  # as retention would: 2..4 are gone
    client.close()
    server.start()
    server.issue(["photo"])  # seq 7
    receiver.start()
    receiver.wait_for(4)  # 1, then 5, 6, 7
    time.sleep(0.3)
    assert receiver.seqs() == [1, 5, 6, 7]
    assert all(d.valid for d in receiver.deliveries)
    _status, text = server.request("GET", "/metrics")
    rid = receiver_id(receiver.url)
    assert f'hallq_webhook_deliveries_total{{hall="demo",outcome="trimmed",receiver="{rid}"}} 3.0' in text
    assert "missed events 2..4" in server.log_path.read_text()


def test_receivers_follow_reloads_of_the_hall_file(
    tmp_path: Path, live_server_factory: Any, receivers: Callable[..., Receiver], fast_retries: None
) -> None:
    receiver = receivers()
    config = hall_file(tmp_path)  # no receiver yet
    server: LiveServer = live_server_factory(config=config)
    server.issue(["register"])  # seq 1: before the receiver existed
    hall_file(tmp_path, (receiver.url, receiver.secret, ["ticket.issued"]))
    admin = server.login("admin", "admin1234")
    status, answer = server.request("POST", "/api/halls/demo/reload", token=admin)
    assert status == 200 and answer["changed"], answer
    status, report = server.request("GET", "/api/halls/demo/webhooks", token=admin)
    assert [w["url"] for w in report["webhooks"]] == [receiver.url]
    deadline = time.monotonic() + 10
    while (
        time.monotonic() < deadline
        and not server.request("GET", "/api/halls/demo/webhooks", token=admin)[1]["webhooks"][0]["delivering"]
    ):
        time.sleep(0.1)
    issued = server.issue(["photo"])
    (delivery,) = receiver.wait_for(1)
    assert delivery.event["ticket"]["number"] == issued["ticket"]["number"] and delivery.valid
    hall_file(tmp_path)  # removed again
    assert server.request("POST", "/api/halls/demo/reload", token=admin)[0] == 200
    time.sleep(3)  # the receiver's task is stopped within 2 s
    server.issue(["register"])
    time.sleep(0.5)
    assert len(receiver.deliveries) == 1
    assert server.request("GET", "/api/halls/demo/webhooks", token=admin)[1]["webhooks"] == []
