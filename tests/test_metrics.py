"""``GET /metrics``: Prometheus text that is right with ``--workers 2``, for loopback or an admin."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import redis as sync_redis
from prometheus_client.parser import text_string_to_metric_families

from tests.live import LiveServer
from tests.test_sockets import call, display_url, issue, open_socket, pad_url, visitor_url


def scrape(server: LiveServer, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(server.url + "/metrics", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as {(name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def worker_counts(text: str) -> dict[str, float]:
    return {dict(k[1])["pid"]: v for k, v in samples(text).items() if k[0] == "hallq_worker_sockets"}


async def scraped_until(server: LiveServer, holds: Callable[[str], bool], within: float) -> str:
    """The first scrape for which ``holds(text)`` is true, polling until ``within`` seconds
    have passed (then the last scrape): socket counts are sampled every 2 s, so a test waits
    for the sample it needs rather than a fixed period."""
    deadline = time.monotonic() + within
    while True:
        status, text = await asyncio.to_thread(scrape, server)
        assert status == 200
        if holds(text) or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.2)


async def test_sockets_on_both_workers_are_counted_once(live_server_factory: Any) -> None:
    server: LiveServer = live_server_factory(workers=2)
    clerk = await asyncio.to_thread(server.login, "s01")
    ticket = await issue(server)

    def on_both_workers(text: str) -> bool:
        return len([n for n in worker_counts(text).values() if n > 0]) >= 2

    async with contextlib.AsyncExitStack() as stack:
        displays = []
        # new connections until both workers hold some (the kernel spreads accepts)
        deadline = time.monotonic() + 30
        while True:
            displays.append(await stack.enter_async_context(open_socket(display_url(server))))
            await displays[-1].recv()
            if len(displays) >= 4 and on_both_workers(await scraped_until(server, on_both_workers, 2.5)):
                break  # (2.5 s: one sampling period)
            assert time.monotonic() < deadline, "every display landed on one worker"
        pad = await stack.enter_async_context(open_socket(pad_url(server, "1", clerk)))
        await pad.recv()
        phone = await stack.enter_async_context(open_socket(visitor_url(server, ticket["ticket"]["token"])))
        await phone.recv()

        def all_counted(text: str) -> bool:
            return sum(worker_counts(text).values()) == len(displays) + 2

        await scraped_until(server, all_counted, 5.0)
        for _ in range(6):  # whichever worker answers, the sums are the same
            status, text = await asyncio.to_thread(scrape, server)
            assert status == 200
            assert value(text, "hallq_sockets", hall="demo", kind="display") == len(displays)
            assert value(text, "hallq_sockets", hall="demo", kind="pad") == 1
            assert value(text, "hallq_sockets", hall="demo", kind="visitor") == 1
            assert sum(worker_counts(text).values()) == len(displays) + 2

    def none_left(text: str) -> bool:
        return value(text, "hallq_sockets", hall="demo", kind="display") == 0

    text = await scraped_until(server, none_left, 5.0)
    assert value(text, "hallq_sockets", hall="demo", kind="display") == 0


async def test_actions_events_requests_and_redis_are_measured(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    for _ in range(3):
        await issue(live_server)
    await call(live_server, clerk, "1")
    await call(live_server, clerk, "1", "recall")
    for _ in range(2):
        await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
    await asyncio.to_thread(live_server.request, "GET", "/no/such/page/abc123")
    status, text = await asyncio.to_thread(scrape, live_server)
    assert status == 200
    _status, state = await asyncio.to_thread(live_server.request, "GET", "/api/halls/demo/state")
    assert value(text, "hallq_events_total", hall="demo") == state["seq"]
    assert value(text, "hallq_redis_up") == 1
    assert value(text, "hallq_action_seconds_count", hall="demo", action="call_next") == 1
    assert value(text, "hallq_action_seconds_count", hall="demo", action="recall") == 1
    assert value(text, "hallq_speech_queue_depth") >= 0
    routes = {dict(k[1]).get("route") for k in samples(text) if k[0] == "hallq_http_request_seconds_count"}
    assert "/api/halls/{hall}/state" in routes and "unmatched" in routes
    assert not any("abc123" in str(r) or r == "/api/halls/demo/state" for r in routes), routes
    assert (
        value(text, "hallq_http_request_seconds_count", method="GET", route="/api/halls/{hall}/state", status="200")
        >= 2
    )


async def test_metrics_need_loopback_or_an_admin(live_server: LiveServer) -> None:
    clerk = await asyncio.to_thread(live_server.login, "s01")
    admin = await asyncio.to_thread(live_server.login, "admin", "admin1234")
    # through a proxy every visitor looks local: a forwarded request needs a token
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    status, body = await asyncio.to_thread(scrape, live_server, proxied)
    assert status == 401 and '"not_logged_in"' in body
    status, body = await asyncio.to_thread(scrape, live_server, {**proxied, "Authorization": f"Bearer {clerk}"})
    assert status == 403 and '"forbidden"' in body
    status, body = await asyncio.to_thread(scrape, live_server, {**proxied, "Authorization": f"Bearer {admin}"})
    assert status == 200 and "hallq_redis_up" in body


async def test_a_store_going_back_in_time_is_logged(live_server_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLQ_STORE_CHECK_S", "0.3")
    server: LiveServer = live_server_factory()
    for _ in range(3):
        await issue(server)
    await asyncio.sleep(0.5)
    assert "went back in time" not in server.log_path.read_text()
    client = sync_redis.Redis.from_url(server.redis_url)
    client.flushdb()  # what an operator's FLUSHALL or an empty restarted Redis does
    client.close()
    deadline = time.monotonic() + 10
    while "went back in time" not in server.log_path.read_text():
        assert time.monotonic() < deadline, server.log_path.read_text()[-2000:]
        await asyncio.sleep(0.1)
    assert server.log_path.read_text().count("went back in time") == 1, "logged once, not every check"
