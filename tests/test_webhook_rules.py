"""Webhook rules (signing, back-off, filters, what is shown) and the ``[[webhooks]]`` section."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.config import demo_text, parse_hall
from server.toml_locator import ConfigError
from server.webhook_rules import (
    EVENT_TYPES,
    backoff,
    body,
    receiver_id,
    redact_line,
    scrub,
    shown_url,
    sign,
    valid_url,
    verify,
    wants,
)


def test_signature_is_hmac_sha256_of_the_exact_body() -> None:
    payload = body({"seq": 7, "type": "ticket.issued", "ticket": {"number": "A001", "token": "t0k"}})
    expected = hmac.new(b"key", payload, hashlib.sha256).hexdigest()
    assert sign("key", payload) == "sha256=" + expected
    assert verify("key", payload, "sha256=" + expected)
    assert not verify("other", payload, "sha256=" + expected)
    assert not verify("key", payload + b" ", "sha256=" + expected)
    assert not verify("key", payload, "")


def test_body_leaves_every_token_and_personal_key_out_at_any_depth() -> None:
    event = {
        "seq": 3,
        "type": "ticket.transferred",
        "token": "x",
        "ticket": {"number": "A001", "token": "secret-token", "id_hash": "h", "services": ["register"]},
        "tickets": [{"token": "y", "number": "B002"}],
    }
    decoded = json.loads(body(event))
    assert decoded == {
        "seq": 3,
        "type": "ticket.transferred",
        "ticket": {"number": "A001", "services": ["register"]},
        "tickets": [{"number": "B002"}],
    }
    assert event["ticket"]["token"] == "secret-token"  # the original is left alone
    assert body({"text": "请到3号窗口"}) == '{"text":"请到3号窗口"}'.encode()
    assert scrub([{"pin": "1"}, 2]) == [{}, 2]


def test_filters() -> None:
    assert wants(["*"], "ticket.called")
    assert wants(["ticket.called", "ticket.issued"], "ticket.issued")
    assert not wants(["ticket.called"], "ticket.issued")
    assert not wants([], "ticket.called")


@given(st.integers(1, 200), st.floats(0, 1))
def test_backoff_doubles_from_low_to_high_with_bounded_jitter(attempt: int, r: float) -> None:
    wait = backoff(attempt, 1.0, 300.0, rand=lambda: r)
    step = min(300.0, 2.0 ** (attempt - 1))
    assert step / 2 <= wait <= step
    assert 0.5 <= wait <= 300.0


def test_backoff_steps() -> None:
    assert [backoff(n, 1.0, 300.0, rand=lambda: 1.0) for n in (1, 2, 3, 9, 10, 50)] == [1, 2, 4, 256, 300, 300]
    assert backoff(1, 1.0, 300.0, rand=lambda: 0.0) == 0.5


def test_shown_url_drops_credentials_query_and_fragment() -> None:
    assert shown_url("https://user:pw@hooks.example.com:8443/in?key=abc#x") == "https://hooks.example.com:8443/in"
    assert shown_url("http://[::1]:9000/h") == "http://[::1]:9000/h"
    assert receiver_id("http://a/b") == receiver_id("http://a/b") != receiver_id("http://a/c")


def test_valid_url() -> None:
    assert valid_url("https://example.com/hook") is None
    assert valid_url("http://127.0.0.1:9000") is None
    assert valid_url("ftp://example.com/") == "must be an http:// or https:// URL"
    assert valid_url("https:///nohost") == "has no host"
    assert valid_url("http://example.com:99999/") == "is not a valid URL"


HOOKS = """
[[webhooks]]
url = "https://sms.example.com/hallq?key=abc"
secret = "s3cret"
events = ["ticket.called", "ticket.recalled"]

[[webhooks]]
url = "http://127.0.0.1:9000/all"
secret = "other"
"""


def test_hall_file_webhooks_parse() -> None:
    hall = parse_hall(demo_text() + HOOKS)
    first, second = hall.webhooks
    assert first.url == "https://sms.example.com/hallq?key=abc"
    assert first.events == ("ticket.called", "ticket.recalled")
    assert second.events == ("*",)
    assert "s3cret" not in repr(hall)
    assert parse_hall(demo_text()).webhooks == ()


def test_hall_file_webhook_mistakes_are_all_reported_with_places() -> None:
    bad = """
[[webhooks]]
url = "ftp://example.com/x"
secret = ""
events = ["ticket.caled", "*"]
colour = "red"

[[webhooks]]
url = "https://a.example.com/h"
secret = "k"
events = []

[[webhooks]]
url = "https://a.example.com/h"
secret = "k"
"""
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text() + bad)
    problems = {(p.path, p.message.split(" (")[0].split(";")[0]) for p in caught.value.problems}
    assert ("webhooks[0].url", "must be an http:// or https:// URL") in problems
    assert ("webhooks[0].secret", "must be a non-empty string") in problems
    assert ("webhooks[0].events", "unknown event type 'ticket.caled'") in problems
    assert ("webhooks[0].colour", "unknown key 'colour'") in problems
    assert ("webhooks[1].events", 'must list event types, or ["*"] for all') in problems
    assert ("webhooks[2].url", "receiver https://a.example.com/h is listed twice") in problems
    lines = {p.path: p.line for p in caught.value.problems}
    first_line = (demo_text() + bad).splitlines().index("[[webhooks]]") + 1
    assert lines["webhooks[0].url"] == first_line + 1
    assert lines["webhooks[0].secret"] == first_line + 2
    with pytest.raises(ConfigError) as caught:
        parse_hall("webhooks = 3\n" + demo_text())
    assert [p.path for p in caught.value.problems] == ["webhooks"]


def test_check_config_lists_webhook_problems_without_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "hall.toml"
    path.write_text(demo_text() + '\n[[webhooks]]\nurl = "mailto:x@y"\nsecret = "top-secret-key"\nevents = ["nope"]\n')
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "webhooks[0].url" in done.stderr and "webhooks[0].events" in done.stderr
    assert "top-secret-key" not in done.stderr + done.stdout


def test_every_known_type_is_accepted() -> None:
    events = ", ".join(f'"{t}"' for t in sorted(EVENT_TYPES))
    hall = parse_hall(demo_text() + f'\n[[webhooks]]\nurl = "http://h/x"\nsecret = "k"\nevents = [{events}]\n')
    assert set(hall.webhooks[0].events) == EVENT_TYPES


def test_the_hall_file_shown_hides_secrets_and_url_keys() -> None:
    assert redact_line('secret = "s3cret"') == 'secret = "(hidden)"'
    assert redact_line('  secret="s3cret" # ours') == '  secret = "(hidden)"'
    assert redact_line('url = "https://u:p@h.example.com/x?key=1"  # sms') == 'url = "https://h.example.com/x"  # sms'
    assert redact_line('name = "secretariat"') == 'name = "secretariat"'
    assert redact_line('url = "not a url"') == 'url = "not a url"'


def test_every_event_type_the_scripts_emit_can_be_subscribed() -> None:
    """A hall file may name any event the hall produces: the list of types follows the scripts."""
    import re
    from pathlib import Path

    lua = Path(__file__).parent.parent / "server" / "queue" / "lua"
    emitted = {t for f in lua.glob("*.lua") for t in re.findall(r"type = '([a-z_]+\.[a-z_]+)'", f.read_text())}
    assert emitted and emitted <= EVENT_TYPES, sorted(emitted - EVENT_TYPES)
