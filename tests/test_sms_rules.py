"""SMS rules with no I/O: the ``[sms]`` hall-file section, numbers (normalised, masked),
which message is due for which ticket, the gateway body and its signature."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.config import demo_text, load_demo, parse_hall
from server.sms_rules import (
    DEFAULT_TEXTS,
    due,
    finished,
    mask,
    mask_text,
    normalize_phone,
    render_body,
    sign,
    text_for,
)
from server.toml_locator import ConfigError
from server.webhook_rules import verify

phones = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
GATEWAY = '\n[sms]\nurl = "https://sms.example.org/send?key=k3y"\n'


def problems(extra: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_hall(demo_text() + extra)
    return [str(p) for p in caught.value.problems]


# --- the hall file ------------------------------------------------------------------


def test_demo_hall_sends_no_sms_and_says_so() -> None:
    hall = load_demo()
    assert hall.sms is None
    assert hall.public()["sms"] is None


def test_a_gateway_with_defaults() -> None:
    hall = parse_hall(demo_text() + GATEWAY)
    assert hall.sms is not None
    assert hall.sms.url.startswith("https://sms.example.org/")
    assert (hall.sms.method, hall.sms.ahead, hall.sms.signature_header) == ("POST", 3, "X-Hallq-Signature")
    assert hall.sms.texts["called"]["zh"] == DEFAULT_TEXTS["called"]["zh"]
    assert hall.public()["sms"] == {"ahead": 3}
    assert "k3y" not in json.dumps(hall.public())


def test_switched_off_or_pointed_at_nothing_is_off_but_still_checked() -> None:
    assert parse_hall(demo_text() + GATEWAY + "enabled = false\n").sms is None
    assert parse_hall(demo_text() + "\n[sms]\nahead = 2\n").sms is None
    assert any("sms.ahead" in p for p in problems("\n[sms]\nenabled = false\nahead = 99\n"))


def test_every_mistake_is_reported_with_its_place() -> None:
    found = problems(
        '\n[sms]\nurl = "ftp://x"\nmethod = "GET"\nbody = "to={to}"\nsignature_header = "X Sig"\n'
        'secret_env = "my secret"\nahead = -1\ntimeout_s = 0\ncolour = "red"\n'
        '[sms.text]\ncalled = { zh = "{number}到{counter}" }\nlater = { zh = "x" }\n'
    )
    text = "\n".join(found)
    for expected in (
        "sms.url: must be an http:// or https:// URL",
        'sms.method: must be "POST" or "PUT"',
        "sms.body: unknown placeholder {to}",
        "sms.body: must send the number",
        "sms.body: must send the message",
        "sms.signature_header: must be a header name",
        "sms.secret_env: must be an environment variable's name",
        "sms.ahead: must be a whole number from 0 to 50",
        "sms.timeout_s: must be a number of seconds",
        "sms.colour: unknown key 'colour'",
        "sms.text.called.zh: unknown placeholder {counter}",
        "sms.text.later: unknown key 'later'",
    ):
        assert expected in text, (expected, found)
    assert all(p.startswith("line ") for p in found), found


def test_texts_in_every_hall_language() -> None:
    text = demo_text().replace('languages = ["zh", "en"]', 'languages = ["zh", "en", "ug"]')
    if text == demo_text():
        pytest.skip("the demo hall spells its languages differently")
    with pytest.raises(ConfigError) as caught:
        parse_hall(text + GATEWAY)
    assert "sms.text.ahead: has no text in 'ug'" in str(caught.value)


# --- numbers ------------------------------------------------------------------------


@given(phones)
def test_a_number_is_masked_to_its_first_three_and_last_four_digits(phone: str) -> None:
    shown = mask(phone)
    assert shown == phone[:3] + "****" + phone[-4:]
    assert phone not in shown


@given(phones, st.sampled_from(["{}", "+86 {}", "86{}", "{0} ", "({})"]))
def test_numbers_are_normalised(phone: str, form: str) -> None:
    spaced = form.format(phone[:3] + " " + phone[3:7] + "-" + phone[7:]) if "(" not in form else phone
    assert normalize_phone(spaced) == phone


@pytest.mark.parametrize("bad", ["", "12345678901", "1381234567", "138123456789", "abc", "+1 13812345678"])
def test_what_is_not_a_mobile_number(bad: str) -> None:
    assert normalize_phone(bad) is None


@given(phones, st.text(alphabet="abc: =,", max_size=10), st.text(alphabet="abc: =,", max_size=10))
def test_a_logged_line_never_holds_a_number(phone: str, before: str, after: str) -> None:
    line = mask_text(f"{before}{phone}{after} and +86{phone}")
    assert phone not in line
    assert mask(phone) in line


# --- which message is due -------------------------------------------------------------


def test_ahead_is_sent_once_when_few_are_in_front() -> None:
    waiting = {"status": "waiting", "window": None}
    assert due(waiting, 5, 3, set()) == []
    notice = due(waiting, 3, 3, set())
    assert [(n.kind, n.ahead) for n in notice] == [("ahead", 3)]
    assert due(waiting, 1, 3, {"ahead"}) == []
    assert due(waiting, None, 3, set()) == []


def test_called_is_sent_for_each_call() -> None:
    called = {"status": "called", "window": "3", "called_at": 1000}
    (notice,) = due(called, 0, 3, {"ahead"})
    assert (notice.kind, notice.window) == ("called", "3")
    assert due(called, 0, 3, {"ahead", notice.key}) == []
    again = {**called, "called_at": 2000}  # requeued after a no-show, called again
    assert [n.kind for n in due(again, 0, 3, {"ahead", notice.key})] == ["called"]


@given(
    st.sampled_from(["waiting", "called", "serving", "done", "no_show", "suspended", "cancelled", "expired"]),
    st.integers(0, 20),
    st.integers(0, 10),
)
def test_closed_and_served_tickets_get_nothing(status: str, ahead: int, threshold: int) -> None:
    ticket = {"status": status, "window": "2", "called_at": 5}
    notices = due(ticket, ahead, threshold, set())
    if status not in ("waiting", "called"):
        assert notices == []
    assert finished(ticket) == (status in ("done", "no_show", "cancelled", "expired"))
    assert finished(None)


# --- the gateway request ----------------------------------------------------------------


@given(st.text(max_size=40), phones)
def test_a_json_body_stays_json_whatever_the_text(text: str, phone: str) -> None:
    body = render_body(
        '{"to":"{phone}","msg":"{text}","sign":"hallq"}', "application/json", {"phone": phone, "text": text}
    )
    assert json.loads(body) == {"to": phone, "msg": text, "sign": "hallq"}


def test_a_form_body_is_percent_encoded() -> None:
    body = render_body(
        "to={phone}&msg={text}", "application/x-www-form-urlencoded", {"phone": "13812345678", "text": "A&B=请"}
    )
    assert parse_qs(body.decode()) == {"to": ["13812345678"], "msg": ["A&B=请"]}


def test_the_signature_is_over_the_exact_body() -> None:
    body = render_body('{"p":"{phone}"}', "application/json", {"phone": "13812345678"})
    assert verify("s3cret", body, sign("s3cret", body))
    assert not verify("other", body, sign("s3cret", body))


def test_message_words() -> None:
    values = {"hall": "人社", "number": "A012", "window": "3", "ahead": "3"}
    assert text_for(DEFAULT_TEXTS, "called", "zh", values) == "【人社】请A012号到3号窗口办理。"
    assert "3 ahead of number A012" in text_for(DEFAULT_TEXTS, "ahead", "en", values)
    assert text_for(DEFAULT_TEXTS, "called", "fr", values).startswith("【人社】")  # first language


def test_the_documented_example_is_a_valid_hall_file() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[sms\].*?)```", doc, re.S)
    assert block is not None
    hall = parse_hall(demo_text() + "\n" + block.group(1))
    assert hall.sms is not None and "{phone}" in hall.sms.body


@given(phones)
def test_every_log_line_masks_numbers(phone: str) -> None:
    from server.logs import redact

    line = redact(f'refused {{"phone": "{phone}"}} at 1795776000123 for /api/tickets/abc/phone')
    assert phone not in line and mask(phone) in line
    assert "1795776000123" in line  # an epoch-ms time is not a phone number
