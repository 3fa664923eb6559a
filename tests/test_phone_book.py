"""The phone book: numbers only encrypted in Redis, read back with the key, forgotten per
ticket, and deleted with the day at the reset (rollover.lua)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis.asyncio import Redis

from server import phone_book
from server.phone_book import PhoneBook, load_key, phones_key, sent_key
from server.queue.engine import Engine
from tests.conftest import HallClock

PHONE = "13812345678"


async def test_numbers_are_stored_encrypted_and_read_back(redis: Redis) -> None:
    book = PhoneBook(redis, "demo", Fernet.generate_key())
    await book.put("tok-1", PHONE)
    stored = await redis.hgetall(phones_key("demo"))
    assert list(stored) == ["tok-1"] and PHONE not in str(stored)
    assert await book.numbers() == {"tok-1": PHONE}
    assert await book.number("tok-1") == PHONE and await book.number("tok-2") is None
    # another key cannot read them: they are left out, not crashed on
    assert await PhoneBook(redis, "demo", Fernet.generate_key()).numbers() == {}


async def test_sent_marks_are_once_only_and_go_with_the_ticket(redis: Redis) -> None:
    book = PhoneBook(redis, "demo", Fernet.generate_key())
    await book.put("tok-1", PHONE)
    await book.put("tok-2", PHONE)
    assert await book.mark("tok-1", "ahead") is True
    assert await book.mark("tok-1", "ahead") is False
    assert await book.mark("tok-2", "called:5") is True
    assert await book.sent_to() == {"tok-1": {"ahead"}, "tok-2": {"called:5"}}
    assert await book.remove("tok-1") is True
    assert await book.remove("tok-1") is False
    assert await book.sent_to() == {"tok-2": {"called:5"}}
    assert set(await book.numbers()) == {"tok-2"}


async def test_numbers_are_deleted_at_the_days_reset(redis: Redis, engine: Engine, clock: HallClock) -> None:
    ticket = await engine.issue(["register"])
    book = PhoneBook(redis, "demo", Fernet.generate_key())
    await book.put(ticket["ticket"]["token"], PHONE)
    await book.mark(ticket["ticket"]["token"], "ahead")
    assert (await engine.rollover())["rolled"] is False
    assert await redis.exists(phones_key("demo"), sent_key("demo")) == 2
    clock.advance(24 * 3600)
    assert (await engine.rollover())["rolled"] is True
    assert await redis.exists(phones_key("demo"), sent_key("demo")) == 0


def test_the_key_is_made_once_in_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(phone_book.KEY_ENV, raising=False)
    key = load_key(tmp_path)
    assert (tmp_path / "sms.key").stat().st_mode & 0o777 == 0o600
    phone_book._keys.clear()
    assert load_key(tmp_path) == key
    Fernet(key)  # a valid key
    monkeypatch.setenv(phone_book.KEY_ENV, "from-the-environment")
    assert load_key(tmp_path) == b"from-the-environment"
