"""The hall file: the bundled demo matches CONTRACT.md, and every mistake is reported
with its key path and line, all of them at once."""

from __future__ import annotations

import pytest

from server.config import demo_text, load_demo, parse_hall
from server.hall_model import Hall
from server.toml_locator import ConfigError, ConfigProblem, parse_time

ALL_FOUR = ("register", "transfer", "pension", "photo")


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``."""
    found = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    return found[nth]


def replace_once(text: str, old: str, new: str, nth: int = 0) -> str:
    """``text`` with the ``nth`` occurrence of ``old`` replaced (it must exist)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old) :]


def problems_of(text: str) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_hall(text)
    assert caught.value.problems, "a ConfigError lists at least one problem"
    return caught.value.problems


def only(problems: tuple[ConfigProblem, ...], path: str) -> ConfigProblem:
    matching = [p for p in problems if p.path == path]
    assert len(matching) == 1, f"expected one problem at {path}, got {problems}"
    return matching[0]


# --- the demo hall ------------------------------------------------------------


def test_demo_hall_identity() -> None:
    hall = load_demo()
    assert hall.id == "demo"
    assert hall.name == {"zh": "人力社保服务中心", "en": "Social Security Service Centre"}
    assert hall.languages == ("zh", "en")
    assert hall.timezone == "Asia/Shanghai"
    assert hall.event_retention >= 10_000


def test_demo_hall_services() -> None:
    hall = load_demo()
    got = [(s.id, s.prefix, s.name["zh"]) for s in hall.services]
    assert got == [
        ("register", "A", "参保登记"),
        ("transfer", "B", "关系转移"),
        ("pension", "C", "养老待遇"),
        ("photo", "D", "照片采集"),
    ]
    for service in hall.services:
        assert service.kind in ("instant", "promised")
        assert service.expected_minutes > 0
        assert service.name["en"]


def test_demo_hall_windows() -> None:
    hall = load_demo()
    assert [w.id for w in hall.windows] == ["1", "2", "3", "4", "5"]
    for window_id in "1234":
        window = hall.window(window_id)
        assert window is not None
        assert len(window.tiers) == 1, "windows 1–4 are comprehensive: one tier"
        assert sorted(window.tiers[0]) == sorted(ALL_FOUR)
    five = hall.window("5")
    assert five is not None
    assert five.tiers[0] == ("photo",)
    assert sorted(s for tier in five.tiers[1:] for s in tier) == ["pension", "register", "transfer"]
    assert five.services[0] == "photo"


def test_demo_hall_staff_and_pins() -> None:
    hall = load_demo()
    roles = {s.id: s.role for s in hall.staff}
    for clerk in ("s01", "s02", "s03", "s04", "s05"):
        assert roles[clerk] == "clerk"
        member = hall.staff_member(clerk)
        assert member is not None and member.check_pin("1234")
        assert not member.check_pin("4321")
    admin = hall.staff_member("admin")
    assert admin is not None and admin.role == "admin"
    assert admin.check_pin("admin1234") and not admin.check_pin("1234")
    desk = hall.staff_member("desk")
    assert desk is not None and desk.role == "desk" and desk.check_pin("1234")
    # PINs are stored only as salted scrypt hashes, never in clear
    text = demo_text()
    assert "admin1234" not in text.replace("PIN admin1234", "")
    assert all(s.pin_hash.startswith("scrypt$") for s in hall.staff)
    assert len({s.pin_hash for s in hall.staff}) == len(hall.staff), "every hash has its own salt"


def test_demo_hall_rules_and_public_config() -> None:
    hall = load_demo()
    assert hall.rules.no_show.places_back == 3
    assert hall.rules.no_show.max_times == 2
    assert hall.rules.announce.repeat == 2
    assert "{number}" in hall.rules.announce.templates["zh"]
    public = hall.public()
    assert public["id"] == "demo"
    assert [s["prefix"] for s in public["services"]] == ["A", "B", "C", "D"]
    assert public["windows"][4]["services"][0] == "photo"
    assert "staff" not in public and "pin" not in str(public)


def test_windows_serving_and_tiers() -> None:
    hall = load_demo()
    five = hall.window("5")
    assert five is not None
    assert five.tier_of(["photo"]) == 0
    assert five.tier_of(["register"]) == 1
    assert five.tier_of(["photo", "register"]) == 1, "a combination goes at its worst tier"
    assert [w.id for w in hall.windows_serving(["photo", "pension"])] == ["1", "2", "3", "4", "5"]


def test_parse_time() -> None:
    assert parse_time("00:00") == 0
    assert parse_time("08:30") == 510
    assert parse_time("24:00") == 1440
    for bad in ("24:01", "25:00", "8:30", "08:60", "noon", "", "08:30\n"):
        assert parse_time(bad) is None


# --- every mistake, with its place ----------------------------------------------


def test_unknown_service_in_window() -> None:
    text = replace_once(demo_text(), '["register", "transfer", "pension"]]', '["register", "transfr", "pension"]]')
    problem = only(problems_of(text), "windows[4].tiers")
    assert "unknown service 'transfr'" in problem.message
    assert problem.line == line_of(text, "transfr")
    assert str(problem).startswith(f"line {problem.line}: windows[4].tiers:")


def test_duplicate_prefix() -> None:
    text = replace_once(demo_text(), 'prefix = "C"', 'prefix = "B"')
    problem = only(problems_of(text), "services[2].prefix")
    assert "duplicate prefix 'B'" in problem.message
    assert problem.line == line_of(text, 'prefix = "B"', nth=1)


def test_duplicate_service_id() -> None:
    text = replace_once(demo_text(), 'id = "pension"', 'id = "transfer"')
    problems = problems_of(text)
    problem = only(problems, "services[2].id")
    assert "duplicate service id 'transfer'" in problem.message
    assert problem.line == line_of(text, 'id = "transfer"', nth=1)


def test_duplicate_window_id() -> None:
    text = replace_once(demo_text(), 'id = "3"', 'id = "2"')
    problem = only(problems_of(text), "windows[2].id")
    assert "duplicate window id '2'" in problem.message
    assert problem.line == line_of(text, 'id = "2"', nth=1)


@pytest.mark.parametrize("tiers", ["tiers = []", "tiers = [[]]"])
def test_window_with_no_service(tiers: str) -> None:
    text = replace_once(demo_text(), 'tiers = [["photo"], ["register", "transfer", "pension"]]', tiers)
    problem = only(problems_of(text), "windows[4].tiers")
    assert "service" in problem.message
    assert problem.line == line_of(text, tiers)


@pytest.mark.parametrize("window", [3, 4])
def test_window_without_tiers_at_all(window: int) -> None:
    """A missing key points at its own table, never at the same key of a later table."""
    text = demo_text()
    header = line_of(text, "[[windows]]", nth=window)
    lines = text.splitlines()
    tiers_line = next(n for n in range(header, len(lines)) if lines[n].startswith("tiers ="))
    text = "\n".join(lines[:tiers_line] + lines[tiers_line + 1 :]) + "\n"
    problem = only(problems_of(text), f"windows[{window}].tiers")
    assert "serves no service" in problem.message
    assert problem.line == header


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('ticket_cutoff = "23:59"', 'ticket_cutoff = "25:00"', "hall.ticket_cutoff"),
        ('ticket_cutoff = "23:59"', 'ticket_cutoff = "5pm"', "hall.ticket_cutoff"),
        ('daily_reset = "03:00"', 'daily_reset = "3:00"', "hall.daily_reset"),
        ('daily_reset = "03:00"', 'daily_reset = "24:00"', "hall.daily_reset"),
        ('mon = ["00:00-24:00"]', 'mon = ["09:00-08:00"]', "hall.hours.mon[0]"),
        ('tue = ["00:00-24:00"]', 'tue = ["08:30-12:61"]', "hall.hours.tue[0]"),
    ],
)
def test_bad_time(old: str, new: str, path: str) -> None:
    text = replace_once(demo_text(), old, new)
    problem = only(problems_of(text), path)
    assert problem.line == line_of(text, new)


def test_empty_languages() -> None:
    text = replace_once(demo_text(), 'languages = ["zh", "en"]', "languages = []")
    problem = only(problems_of(text), "hall.languages")
    assert "at least one language" in problem.message
    assert problem.line == line_of(text, "languages = []")


def test_toml_syntax_error_has_its_line() -> None:
    text = replace_once(demo_text(), "rating_timeout_s = 60", "rating_timeout_s = = 60")
    problems = problems_of(text)
    assert len(problems) == 1
    assert problems[0].line == line_of(text, "rating_timeout_s = = 60")
    assert f"line {problems[0].line}" in str(problems[0])


def test_clear_pin_is_refused() -> None:
    text = replace_once(demo_text(), 'role = "desk"', 'role = "desk"\npin = "1234"')
    problem = only(problems_of(text), "staff[5].pin")
    assert "never stored in clear" in problem.message


def test_several_mistakes_are_all_listed() -> None:
    text = demo_text()
    text = replace_once(text, 'languages = ["zh", "en"]', "languages = []")
    text = replace_once(text, 'ticket_cutoff = "23:59"', 'ticket_cutoff = "16:75"')
    text = replace_once(text, 'prefix = "D"', 'prefix = "A"')
    text = replace_once(text, 'id = "4"', 'id = "1"')
    text = replace_once(text, '["register", "transfer", "pension"]]', '["register", "nosuch", "pension"]]')
    problems = problems_of(text)
    paths = {p.path for p in problems}
    assert {
        "hall.languages",
        "hall.ticket_cutoff",
        "services[3].prefix",
        "windows[3].id",
        "windows[4].tiers",
    } <= paths
    assert all(p.line is not None for p in problems)
    lines = {p.path: p.line for p in problems}
    assert lines["hall.languages"] == line_of(text, "languages = []")
    assert lines["hall.ticket_cutoff"] == line_of(text, '"16:75"')
    assert lines["services[3].prefix"] == line_of(text, 'prefix = "A"', nth=1)
    assert lines["windows[3].id"] == line_of(text, 'id = "1"', nth=1)
    assert lines["windows[4].tiers"] == line_of(text, "nosuch")
    # The exception's text lists them all, one per line.
    with pytest.raises(ConfigError) as caught:
        parse_hall(text)
    assert len(str(caught.value).splitlines()) == len(problems)


def test_a_valid_variant_parses(hall: Hall) -> None:
    text = replace_once(demo_text(), "expected_minutes = 6", "expected_minutes = 6\ndaily_quota = 50")
    quota_hall = parse_hall(text)
    register = quota_hall.service("register")
    assert register is not None and register.daily_quota == 50
    assert quota_hall.windows == hall.windows


def test_no_show_places_back_and_its_old_name() -> None:
    """``places_back`` is the documented key; a hall file written with ``move_back`` still works."""
    assert parse_hall(replace_once(demo_text(), "places_back = 3", "places_back = 5")).rules.no_show.places_back == 5
    assert parse_hall(replace_once(demo_text(), "places_back = 3", "move_back = 4")).rules.no_show.places_back == 4


def test_place_inside_a_table_without_its_own_header() -> None:
    """The demo has [rules.no_show] but no [rules]: the line is still found."""
    text = replace_once(demo_text(), "places_back = 3", 'places_back = "three"')
    problem = only(problems_of(text), "rules.no_show.places_back")
    assert problem.line == line_of(text, 'places_back = "three"')
    text = replace_once(demo_text(), 'zh = "请{number}号到{window}号窗口办理"', 'zh = "请{number}号办理"')
    problem = only(problems_of(text), "rules.announce.templates.zh")
    assert "{number} and {window}" in problem.message
    assert problem.line == line_of(text, 'zh = "请{number}号办理"')


@pytest.mark.parametrize("value", ["[[1]]", "[1, 2]", '["zh", 3]', '"zh"', "{ zh = 1 }"])
def test_odd_languages_are_reported_not_crashed_on(value: str) -> None:
    text = replace_once(demo_text(), 'languages = ["zh", "en"]', f"languages = {value}")
    problems = problems_of(text)
    assert any(p.path.startswith("hall.languages") for p in problems)
    assert all(p.line == line_of(text, "languages = ") for p in problems if p.path.startswith("hall.languages"))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('[[services]]\nid = "register"', "[[services]]\nid = 7"),
        ("expected_minutes = 6", 'expected_minutes = "six"'),
        ('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tiers = [["photo"], "register"]'),
        ('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tiers = [["photo"], [1]]'),
        ("rating_timeout_s = 60", "rating_timeout_s = true"),
        ('mon = ["00:00-24:00"]', 'mon = "00:00-24:00"'),
        ('role = "desk"', 'role = "boss"'),
        ("[hall.hours]", "[hall.hourz]"),
    ],
)
def test_wrong_types_are_problems_with_places(old: str, new: str) -> None:
    text = replace_once(demo_text(), old, new)
    problems = problems_of(text)
    assert all(p.line is not None for p in problems), problems


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("[hall.hours]", "[hall.hourz]", "hall.hourz"),
        ("places_back = 3", "placesback = 3", "rules.no_show.placesback"),
        (
            'kind = "promised"\nexpected_minutes = 12',
            'kind = "promised"\nexpected_minuets = 12',
            "services[2].expected_minuets",
        ),
        ('tiers = [["photo"], ["register", "transfer", "pension"]]', 'tier = [["photo"]]', "windows[4].tier"),
        ('role = "desk"', 'role = "desk"\npin_hsh = "x"', "staff[5].pin_hsh"),
        ("[rules.announce]", "[rules.anounce]", "rules.anounce"),
    ],
)
def test_a_misspelt_key_is_reported_not_ignored(old: str, new: str, path: str) -> None:
    """A typo must not silently fall back to a default (a hall open around the clock...)."""
    text = replace_once(demo_text(), old, new)
    problem = only(problems_of(text), path)
    assert "unknown key" in problem.message
    first_new_line = new.splitlines()[-1] if "\n" in new else new
    assert problem.line == line_of(text, first_new_line)


def test_a_service_no_window_serves() -> None:
    five = 'tiers = [["photo"], ["register", "transfer", "pension"]]'
    text = replace_once(demo_text(), five, 'tiers = [["register"]]')
    for n in "1234":
        text = replace_once(
            text,
            f'id = "{n}"\nname = {{ zh = "{n}号窗口", en = "Window {n}" }}\n'
            'tiers = [["register", "transfer", "pension", "photo"]]',
            f'id = "{n}"\nname = {{ zh = "{n}号窗口", en = "Window {n}" }}\n'
            'tiers = [["register", "transfer", "pension"]]',
        )
    problem = only(problems_of(text), "services[3].id")
    assert "served by no window" in problem.message
    assert problem.line == line_of(text, 'id = "photo"')
