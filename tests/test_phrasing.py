"""Phrasing: what a call shows and says, in zh and en (pure functions)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.config import load_demo
from server.phrasing import (
    PhraseError,
    announcement,
    audio_url,
    display_text,
    hall_spoken_text,
    spoken_number,
    spoken_text,
    spoken_window,
    voice_for,
    zh_numeral,
)

ZH = "请{number}号到{window}号窗口办理"
EN = "Number {number}, please go to window {window}"


@pytest.mark.parametrize(
    ("number", "zh", "en"),
    [
        ("A012", "A零一二", "A0 1 2"),
        ("B003", "B零零三", "B0 0 3"),
        ("D100", "D一零零", "D1 0 0"),
        ("Z999", "Z九九九", "Z9 9 9"),
    ],
)
def test_ticket_digits_are_read_one_by_one(number: str, zh: str, en: str) -> None:
    assert spoken_number(number, "zh") == zh
    # The letter is glued to the first digit so espeak says its name, not the article "a".
    assert spoken_number(number, "en") == en


@pytest.mark.parametrize(
    ("window", "zh", "en"),
    [
        ("1", "一", "1"),
        ("3", "三", "3"),
        ("10", "十", "10"),
        ("12", "十二", "12"),
        ("20", "二十", "20"),
        ("105", "一百零五", "105"),
        ("110", "一百一十", "110"),
        ("145", "一百四十五", "145"),
        ("03", "三", "3"),
        ("VIP", "VIP", "VIP"),
        ("A1", "A1", "A1"),
    ],
)
def test_windows_are_read_as_numbers_or_as_written(window: str, zh: str, en: str) -> None:
    assert spoken_window(window, "zh") == zh
    assert spoken_window(window, "en") == en


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "零"),
        (7, "七"),
        (10, "十"),
        (11, "十一"),
        (19, "十九"),
        (99, "九十九"),
        (100, "一百"),
        (101, "一百零一"),
        (1000, "一千"),
        (1010, "一千零一十"),
        (2005, "二千零五"),
        (10000, "一万"),
        (10010, "一万零一十"),
        (12345, "一万二千三百四十五"),
        (100005, "十万零五"),
    ],
)
def test_zh_numerals(n: int, text: str) -> None:
    assert zh_numeral(n) == text


def test_display_and_spoken_text_fill_the_same_template() -> None:
    assert display_text(ZH, "A012", "3") == "请A012号到3号窗口办理"
    assert spoken_text(ZH, "A012", "3", "zh") == "请A零一二号到三号窗口办理"
    assert spoken_text(ZH, "A012", "12", "zh") == "请A零一二号到十二号窗口办理"
    assert display_text(EN, "A012", "3") == "Number A012, please go to window 3"
    assert spoken_text(EN, "A012", "3", "en") == "Number A0 1 2, please go to window 3"
    assert spoken_text(ZH, "C001", "VIP", "zh") == "请C零零一号到VIP号窗口办理"


@pytest.mark.parametrize("number", ["a012", "A12", "A0123", "AB12", "012", "", "A01٣"])
def test_malformed_numbers_are_refused(number: str) -> None:
    with pytest.raises(PhraseError):
        spoken_number(number, "zh")
    with pytest.raises(PhraseError):
        display_text(ZH, number, "3")


@pytest.mark.parametrize("window", ["", "../x", "3.wav", "a/b", "x" * 17, "-3", "三"])
def test_malformed_windows_are_refused(window: str) -> None:
    with pytest.raises(PhraseError):
        spoken_window(window, "zh")
    with pytest.raises(PhraseError):
        audio_url("demo", "zh", "A012", window)


def test_announcement_of_the_demo_hall_in_language_order() -> None:
    hall = load_demo()
    said = announcement(hall, "A012", "3")
    assert list(said) == ["zh", "en"]
    assert said["zh"] == {"text": "请A012号到3号窗口办理", "audio": "/audio/demo/zh/A012/3.wav"}
    assert said["en"] == {
        "text": "Number A012, please go to window 3",
        "audio": "/audio/demo/en/A012/3.wav",
    }
    assert hall_spoken_text(hall, "zh", "A012", "3") == "请A零一二号到三号窗口办理"
    with pytest.raises(PhraseError):
        hall_spoken_text(hall, "fr", "A012", "3")


def test_announcement_follows_hall_language_order_and_templates() -> None:
    demo = load_demo()
    announce = dataclasses.replace(demo.rules.announce, templates={"zh": "{number}号请到{window}号窗口", "en": EN})
    hall = dataclasses.replace(demo, languages=("en", "zh"), rules=dataclasses.replace(demo.rules, announce=announce))
    said = announcement(hall, "B007", "12")
    assert list(said) == ["en", "zh"]
    assert said["zh"]["text"] == "B007号请到12号窗口"
    assert hall_spoken_text(hall, "zh", "B007", "12") == "B零零七号请到十二号窗口"


def test_voices() -> None:
    assert voice_for({}, "zh") == "cmn"
    assert voice_for({}, "en") == "en"
    assert voice_for({"zh": "yue"}, "zh") == "yue"
    assert voice_for({}, "fr") == "fr"


@given(st.integers(min_value=1, max_value=99_999_999))
def test_zh_numerals_never_start_with_zero_or_end_with_one(n: int) -> None:
    text = zh_numeral(n)
    assert not text.startswith("零")
    assert not text.endswith("零")
    assert "零零" not in text
    assert set(text) <= set("零一二三四五六七八九十百千万")


@given(st.from_regex(r"\A[A-Z][0-9]{3}\Z"), st.from_regex(r"\A[1-9][0-9]{0,2}\Z"))
def test_spoken_forms_keep_every_digit(number: str, window: str) -> None:
    zh = spoken_number(number, "zh")
    assert len(zh) == 4 and zh[0] == number[0]
    assert spoken_number(number, "en").replace(" ", "") == number
    assert spoken_window(window, "en") == window
