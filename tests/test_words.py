"""The word catalogue (server/words) and the pad's view of its queue (Engine.window_state).

Every refusal code the server can send — collected by scanning the Lua scripts and the Python
source, not from a hand-kept list — has a text in every language, so a page never shows the
server's English message inside a Chinese screen.
"""

from __future__ import annotations

import re
from pathlib import Path

from server import words
from server.hall_model import Staff
from server.queue.engine import Engine
from tests.conftest import HallClock

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = [
    re.compile(r"fail\('([a-z_]+)'"),  # Lua: fail('code', ...)
    re.compile(r"(?:Refusal|AuthError|RateLimited|StatsQueryError|CaseError)\(\s*\"([a-z_]+)\""),  # Python refusals
    re.compile(r"refuse\(\s*websocket,\s*\"([a-z_]+)\""),  # socket refusals
    re.compile(r"\"code\":\s*\"([a-z_]+)\""),  # literal error bodies
    re.compile(r"\{\d{3}: \"([a-z_]+)\", \d{3}: \"([a-z_]+)\"\}"),  # HTTP status → code
]
EXTRA_CODES = {"http_error", "network", "bad_response", "just_called"}  # built in app.py / hq.js / pending


def server_codes() -> set[str]:
    codes: set[str] = set()
    for path in [*ROOT.joinpath("server").rglob("*.py"), *ROOT.joinpath("server").rglob("*.lua")]:
        text = path.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            for match in pattern.finditer(text):
                codes.update(g for g in match.groups() if g)
    return codes


def test_the_scan_finds_the_codes_we_know() -> None:
    codes = server_codes()
    # one of each source, so a broken pattern cannot pass by finding nothing
    assert {
        "too_early",
        "window_paused",
        "hall_closed",
        "bad_credentials",
        "invalid_by",
        "bad_origin",
        "redis_unavailable",
        "not_found",
    } <= codes
    assert len(codes) >= 50


def test_every_code_the_server_sends_has_words_in_every_language() -> None:
    codes = server_codes() | EXTRA_CODES
    for lang in words.languages():
        missing = sorted(c for c in codes if f"err_{c}" not in words.catalogue(lang))
        assert missing == [], f"{lang}.json lacks err_ for {missing}"


def test_every_language_has_every_key_and_the_same_placeholders() -> None:
    zh = words.catalogue("zh")
    assert words.languages() == ["en", "zh"]
    for lang in words.languages():
        catalogue = words.catalogue(lang)
        assert set(catalogue) == set(zh), lang
        for key, text in catalogue.items():
            assert sorted(re.findall(r"\{(\w+)\}", text)) == sorted(re.findall(r"\{(\w+)\}", zh[key])), (lang, key)


def test_statuses_and_ratings_are_one_word_each() -> None:
    en, zh = words.catalogue("en"), words.catalogue("zh")
    for status in ("idle", "calling", "serving", "paused", "closed"):
        assert f"ws_{status}" in en and f"ws_{status}" in zh
    assert zh["rating_3"] == "基本满意" and en["rating_3"] == "Fair"
    # no second translation of the rating levels hides anywhere in the catalogue
    assert [k for k, v in zh.items() if v == "基本满意"] == ["rating_3"]
    assert [k for k, v in en.items() if v in ("Acceptable", "Fair")] == ["rating_3"]


def test_python_reads_the_same_words() -> None:
    assert (
        words.error_text("zh", "too_early", "a no-show can be marked 15 s after the call")
        == (words.catalogue("zh")["err_too_early"])
    )
    assert words.error_text("en", "no_such_code_yet", "fallback text") == "fallback text"
    assert words.text("zh", "r_ok_call_next", number="A012") == "已叫 A012"
    assert words.text("en", "k_waiting", n=3) == "3 waiting"


def test_no_js_or_template_holds_its_own_translations() -> None:
    """The pages' words live in the catalogue: no {zh:…, en:…} tables left in page scripts."""
    for path in [*ROOT.glob("kiosk/static/*.js"), *ROOT.glob("caller/static/*.js"), ROOT / "admin/static/rate.js"]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\bzh:\s*['\"][\u4e00-\u9fff]", text), path


# --- the pad's queue ---------------------------------------------------------------------------


def clerk(engine: Engine, staff_id: str = "s01") -> Staff:
    found = engine.hall.staff_member(staff_id)
    assert found is not None
    return found


async def test_window_state_lists_the_callable_tickets_in_calling_order(engine: Engine, clock: HallClock) -> None:
    a1 = (await engine.issue(["register"]))["ticket"]["number"]
    d1 = (await engine.issue(["photo"]))["ticket"]["number"]
    combo = (await engine.issue(["register", "transfer"]))["ticket"]["number"]
    p1 = (await engine.issue(["pension"], priority=True))["ticket"]["number"]
    a2 = (await engine.issue(["register"]))["ticket"]["number"]
    state = await engine.window_state("1")
    numbers = [t["number"] for t in state["queue"]]
    assert numbers == [p1, a1, d1, combo, a2]  # priority first, then issue order
    # five tickets; the combined one counts once (the per-service counts add up to six)
    assert state["queue_total"] == 5 and sum(state["waiting"].values()) == 6
    assert state["queue"][3]["services"] == ["register", "transfer"]
    # window 5 serves photo first and the others as a fallback tier (priority still goes first)
    assert [t["number"] for t in (await engine.window_state("5"))["queue"]] == [p1, d1, a1, combo, a2]
    # the list is the order call_next follows
    staff = clerk(engine)
    for expected in numbers:
        answer = await engine.act("1", "call_next", staff)
        assert answer["ticket"]["number"] == expected
        clock.advance(30)  # past any pause between two calls


async def test_window_state_lists_suspended_tickets_and_is_bounded(engine: Engine) -> None:
    for _ in range(60):
        await engine.issue(["register"])
    staff = clerk(engine)
    called = (await engine.act("1", "call_next", staff))["ticket"]["number"]
    await engine.act("1", "suspend", staff)
    state = await engine.window_state("1", limit=50)
    assert len(state["queue"]) == 50 and state["queue_total"] == 59
    assert [t["number"] for t in state["suspended"]] == [called]
    assert state["window"]["ticket"] is None


def test_every_key_a_page_names_is_in_the_catalogue() -> None:
    """data-i18n="key" in the templates and HQ.t("key") / T('key') in the scripts all exist."""
    catalogue = words.catalogue("en")
    pages = [
        *ROOT.glob("kiosk/templates/*.html"),
        *ROOT.glob("caller/templates/*.html"),
        *ROOT.glob("admin/templates/*.html"),
        *ROOT.glob("kiosk/static/*.js"),
        *ROOT.glob("caller/static/*.js"),
        *ROOT.glob("admin/static/*.js"),
    ]
    named: dict[str, str] = {}
    for path in pages:
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"data-i18n(?:-aria|-placeholder|-title)?=\"([a-z_0-9]+)\"",
            r"\b(?:HQ\.t|T)\(\s*[\"']([a-z_0-9]+)[\"']",
            r"\bel\([^)]*,\s*\"([a-z]+_[a-z_0-9]+)\"\)",
            r"\blabel\([^)]*\"([a-z]+_[a-z_0-9]+)\"",
        ):
            for key in re.findall(pattern, text):
                named.setdefault(key, path.name)
    assert len(named) > 150
    # a prefix ("st_" + status) or a variable name is not a key
    missing = {k: w for k, w in named.items() if k not in catalogue and not k.endswith("_") and k != "key"}
    assert missing == {}
