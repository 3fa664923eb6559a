"""The pure Web Push rules (server/push_rules.py): which ticket state sends which notice."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.push_rules import BadSubscription, State, check_subscription, decide

NAMES = {"3": {"zh": "3号窗口", "en": "Window 3"}}


def info(
    status: str, ahead: int = 0, window: str | None = None, called_at: int | None = None, lang: str = "en"
) -> dict[str, Any]:
    ticket = {"number": "A012", "status": status, "window": window, "called_at": called_at, "lang": lang}
    return {"ticket": ticket, "ahead": ahead}


def run(item: dict[str, Any] | None, state: State | None = None) -> Any:
    return decide(
        item,
        state or State(),
        token="tok",
        hall_name={"en": "Demo hall", "zh": "示范大厅"},
        window_names=NAMES,
        languages=("zh", "en"),
        threshold=3,
    )


def test_ahead_is_sent_once_at_the_threshold() -> None:
    assert run(info("waiting", ahead=4)).notices == ()
    first = run(info("waiting", ahead=3))
    assert [n.payload["body"] for n in first.notices] == ["3 ahead of you"]
    assert first.notices[0].payload["url"] == "/t/tok"
    assert run(info("waiting", ahead=2), first.state).notices == ()


def test_zero_ahead_and_chinese() -> None:
    assert run(info("waiting", ahead=0)).notices[0].payload["body"] == "You are next"
    assert run(info("waiting", ahead=2, lang="zh")).notices[0].payload["body"] == "您前面还有 2 人"


def test_call_is_sent_once_per_call() -> None:
    state = run(info("waiting", ahead=1)).state
    called = run(info("called", window="3", called_at=1000), state)
    assert [n.kind for n in called.notices] == ["call"]
    assert called.notices[0].payload["body"] == "Your turn at Window 3"
    assert called.notices[0].payload["window"] == "3"
    assert run(info("called", window="3", called_at=1000), called.state).notices == ()
    recalled = run(info("called", window="3", called_at=2000), called.state)
    assert [n.kind for n in recalled.notices] == ["call"]
    zh = run(info("called", window="3", called_at=1, lang="zh"))
    assert zh.notices[0].payload["body"] == "轮到您了，请到3号窗口办理"


def test_a_call_without_ahead_first_sends_only_the_call() -> None:
    decision = run(info("called", window="3", called_at=5))
    assert [n.kind for n in decision.notices] == ["call"]
    assert decision.state.ahead_sent


def test_waiting_again_after_a_call_starts_afresh() -> None:
    called = run(info("called", window="3", called_at=5)).state
    again = run(info("waiting", ahead=2), called)
    assert [n.kind for n in again.notices] == ["ahead"]


def test_serving_sends_nothing_and_ended_tickets_end_the_subscription() -> None:
    state = run(info("called", window="3", called_at=5)).state
    assert run(info("serving", window="3", called_at=5), state).notices == ()
    for status in ("done", "cancelled", "expired"):
        assert run(info(status), state).ended
    assert run(None).ended


def test_state_round_trips_and_tolerates_garbage() -> None:
    state = State(ahead_sent=True, call="3:5")
    assert State.load(state.dump()) == state
    assert State.load("not json") == State()
    assert State.load(None) == State()


def key() -> str:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return base64.urlsafe_b64encode(point).decode().rstrip("=")


AUTH = base64.urlsafe_b64encode(b"0123456789abcdef").decode().rstrip("=")


def test_subscription_checks() -> None:
    check_subscription("https://push.example/abc", key(), AUTH)
    check_subscription("http://127.0.0.1:9/abc", key(), AUTH, allow_http=True)
    bad = [
        ("http://push.example/abc", key(), AUTH),
        ("ftp://push.example/abc", key(), AUTH),
        ("https://user:pw@push.example/abc", key(), AUTH),
        ("https://push.example/" + "a" * 1000, key(), AUTH),
        ("https://push.example/abc", "not base64!", AUTH),
        ("https://push.example/abc", base64.urlsafe_b64encode(b"\x04" + b"\x01" * 64).decode(), AUTH),
        ("https://push.example/abc", key()[:40], AUTH),
        ("https://push.example/abc", key(), AUTH[:10]),
    ]
    for endpoint, p256dh, auth in bad:
        with pytest.raises(BadSubscription):
            check_subscription(endpoint, p256dh, auth)


async def test_the_days_reset_deletes_the_subscriptions(redis: Any, engine: Any, clock: Any) -> None:
    from server.push import sent_key, subs_key
    from tests.conftest import DEMO_MORNING

    issued = await engine.issue(["register"])
    token = issued["ticket"]["token"]
    await redis.hset(subs_key("demo"), token, '{"endpoint": "https://push.example/x"}')
    await redis.hset(sent_key("demo"), token, State(ahead_sent=True).dump())
    clock.now = DEMO_MORNING + 17 * 3600 + 1  # 03:00:01 the next morning: a new business day
    assert (await engine.rollover())["rolled"] is True
    assert await redis.exists(subs_key("demo"), sent_key("demo")) == 0
