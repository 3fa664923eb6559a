"""The hall file's schema (server/hall_schema/): pydantic models that speak hall words.

Whatever a person writes in a hall file, ``parse_hall`` either builds the hall or lists every
problem with a key path, a line and a sentence of ours, never pydantic's own words.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config import demo_text, parse_hall
from server.hall_schema.base import Known
from server.hall_schema.hall_file import path_of
from server.hall_schema.sms import Texts
from server.sms_rules import KINDS
from server.toml_locator import ConfigError, ConfigProblem

DEMO = demo_text()
# every `key = value` line of the demo hall (its place in the file), and a few keys it lacks
KEY_LINES = [n for n, line in enumerate(DEMO.splitlines()) if re.match(r"^[a-z_]+\s*=", line)]
EXTRA_KEYS = ["id", "name", "tiers", "services", "pin", "role", "disabled", "quota", "repeat", "colour", "secret"]
# pydantic's own phrases: a hall file's reader must never meet them
JARGON = re.compile(r"Input should|Extra inputs|valid dictionary|instance of|Field required|pydantic|Value error")

scalars = st.one_of(
    st.integers(-5, 100_000),
    st.floats(-10, 1000, allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["", " ", "x", "A", "zh", "photo", "09:00", "08:00-09:00", "24:00", "{number}{window}", "s01"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["zh", "en", "x"]), inner)),
    max_leaves=6,
)


def toml_value(value: object) -> str:
    """``value`` written as a TOML value (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"


def problems_of(text: str) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_hall(text)
    return caught.value.problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(KEY_LINES), st.one_of(st.none(), st.sampled_from(EXTRA_KEYS)), values),
        min_size=1,
        max_size=4,
    )
)
def test_any_edit_is_a_hall_or_problems_in_hall_words_with_their_lines(
    edits: list[tuple[int, str | None, object]],
) -> None:
    lines = DEMO.splitlines()
    for number, new_key, value in edits:
        if new_key is None:  # the line's own key gets another value
            key = lines[number].split("=")[0].strip()
            lines[number] = f"{key} = {toml_value(value)}"
        else:  # a key added above it (TOML refuses a key twice: that is a problem too)
            lines[number] = f"{new_key} = {toml_value(value)}\n{lines[number]}"
    text = "\n".join(lines) + "\n"
    try:
        parse_hall(text)
    except ConfigError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.line is not None, problem
            assert problem.message and not JARGON.search(problem.message), problem
            assert problem.path, problem


def test_problems_come_in_the_files_order() -> None:
    text = DEMO.replace('id = "4"', 'id = "3"', 1).replace('languages = ["zh", "en"]', "languages = []", 1)
    text = text.replace('["register", "transfer", "pension"]]', '["register", "transfr", "pension"]]', 1)
    found = problems_of(text)
    assert [p.path for p in found] == ["hall.languages", "windows[3].id", "windows[4].tiers"]
    lines = [p.line for p in found]
    assert lines == sorted(lines)
    assert str(found[2]).endswith("windows[4].tiers: unknown service 'transfr' in tiers[1]")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "rating_timeout_s = 60",
            "rating_timeout_s = 60.0",
            "hall.rating_timeout_s: must be a whole number from 5 to 3600",
        ),
        (
            "rating_timeout_s = 60",
            "rating_timeout_s = true",
            "hall.rating_timeout_s: must be a whole number from 5 to 3600",
        ),
        ('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"', "hall.timezone: unknown time zone 'Mars/Olympus'"),
        ('id = "demo"', "id = 7", "hall.id: must be a non-empty string"),
        ('id = "demo"', 'id = "De Mo"', "hall.id: must be lowercase letters, digits, '-' or '_' (at most 32)"),
        ('name = "李明"', 'name = " "', "staff[0].name: must be a non-empty string"),
        ('kind = "instant"', 'kind = "quick"', "services[0].kind: must be one of instant, promised"),
        ('prefix = "A"', 'prefix = "a"', "services[0].prefix: bad prefix 'a': one capital letter A–Z"),
        ('mon = ["00:00-24:00"]', "mon = [1]", "hall.hours.mon[0]: bad opening span 1: expected HH:MM-HH:MM"),
        ("[hall.hours]", "[hall.hours]\nmonday = []", "hall.hours.monday: unknown weekday; use one of mon, tue"),
        (
            'zh = "请{number}号到{window}号窗口办理"',
            "zh = 3",
            "rules.announce.templates.zh: must be a non-empty string",
        ),
        ("repeat = 2", "repeat = 9", "rules.announce.repeat: must be a whole number from 1 to 5"),
        (
            "[rules]\n",
            "[ratings]\ndays = 3\n[rules]\n",
            "ratings.days: unknown key 'days'; expected one of follow_up_days",
        ),
        ("[hall]", "colour = 1\n[hall]", "colour: unknown key 'colour'; expected one of hall, services, windows"),
    ],
)
def test_each_mistake_in_hall_words(old: str, new: str, expected: str) -> None:
    assert old in DEMO
    text = DEMO.replace(old, new, 1)
    shown = [str(p) for p in problems_of(text)]
    assert any(expected in s for s in shown), shown
    assert all(s.startswith("line ") for s in shown), shown


def test_a_hall_file_without_hall_services_or_windows() -> None:
    shown = {p.path: p.message for p in problems_of("[ratings]\nfollow_up_days = 3\n")}
    assert shown == {
        "hall.id": "is required",
        "hall.name": 'must be a table of names per language, e.g. { zh = "…", en = "…" }',
        "services": "at least one [[services]] table is required",
        "windows": "at least one [[windows]] table is required",
    }


def test_a_hall_language_needs_its_name_template_and_voice() -> None:
    text = DEMO.replace('languages = ["zh", "en"]', 'languages = ["zh", "en", "ug"]', 1)
    shown = {p.path: p.message for p in problems_of(text)}
    assert shown == {
        "hall.name": "has no name in 'ug'",
        # kiosks, screens and calls say each service in every language of the hall
        **{f"services[{i}].name": "has no name in 'ug'" for i in range(4)},
        "rules.announce.templates.ug": "no announcement template for language 'ug'",
        "rules.announce.voices.ug": "no voice for language 'ug'",
    }


def test_windows_numbers_and_the_services_shorthand() -> None:
    text = DEMO.replace('id = "5"\nname = { zh = "5号窗口", en = "Window 5" }', "id = 5", 1)
    text = text.replace('tiers = [["photo"], ["register", "transfer", "pension"]]', 'services = ["photo"]', 1)
    five = parse_hall(text).window("5")
    assert five is not None and five.tiers == (("photo",),)
    assert dict(five.name) == {"zh": "5号窗口", "en": "Window 5"}


def test_the_built_hall_is_the_demo_contract() -> None:
    hall = parse_hall(DEMO)
    register = hall.service("register")
    assert register is not None and register.expected_minutes == 6.0 and isinstance(register.expected_minutes, float)
    assert hall.hours["mon"] == ((0, 24 * 60),) and hall.daily_reset == 180 and hall.ticket_cutoff == 23 * 60 + 59
    assert hall.appointments is not None and hall.appointments.services == ("register", "transfer", "pension", "photo")
    assert [s.role for s in hall.staff].count("clerk") == 5 and not any(s.disabled for s in hall.staff)


def test_the_sms_texts_model_has_one_field_per_message() -> None:
    assert tuple(Texts.model_fields) == KINDS


def test_key_paths_from_pydantic_locations() -> None:
    assert path_of(("services", 2, "id")) == "services[2].id"
    assert path_of(("hall", "hours", "mon", 0)) == "hall.hours.mon[0]"
    assert path_of(("sms", "text", "called", "zh")) == "sms.text.called.zh"
    assert path_of(("webhooks",)) == "webhooks"


def test_known_is_read_from_a_raw_file_of_any_shape() -> None:
    assert Known.of({"hall": 3, "services": {"a": 1}, "windows": [1, {"tiers": "x"}]}) == Known()
    known = Known.of({"services": [{"id": "a"}, {"id": 3}], "windows": [{"services": ["a", 2]}, {"tiers": [["b"]]}]})
    assert known.languages == ("zh", "en") and known.service_ids == ("a",) and known.served == {"a", "b"}
