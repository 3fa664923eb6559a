"""The phone numbers visitors leave for text messages: encrypted, per hall, gone at reset.

- A number is kept in Redis only encrypted (Fernet: AES-128-CBC with HMAC-SHA256), in the
  hash ``hallq:{hall}:phones`` (ticket token → ciphertext). What was sent to it is in
  ``hallq:{hall}:sms:sent`` (``token|message key`` → 1). Both are per-hall keys that the
  day's reset deletes (``rollover.lua``), and a ticket's entries go as soon as it is closed.
- The key: ``HALLQ_SMS_KEY`` (a Fernet key, for several servers sharing one Redis), else the
  file ``sms.key`` in the data folder, made on first use (mode 0600). A backup of Redis
  alone therefore holds no readable number. Without the key the numbers are unreadable:
  they are not sent to, and are forgotten at the next reset.
- A number is shown and logged only masked (:func:`server.sms_rules.mask`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken
from redis.asyncio import Redis

from server.queue.constants import keys_prefix

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.sms")

KEY_ENV = "HALLQ_SMS_KEY"
KEY_FILE = "sms.key"
_keys: dict[Path, bytes] = {}


def phones_key(hall_id: str) -> str:
    """The hash of a hall's numbers (token → ciphertext)."""
    return keys_prefix(hall_id) + "phones"


def sent_key(hall_id: str) -> str:
    """The hash of the messages sent (``token|key`` → 1)."""
    return keys_prefix(hall_id) + "sms:sent"


def load_key(data_dir: Path) -> bytes:
    """The encryption key: ``HALLQ_SMS_KEY``, else ``<data>/sms.key`` (made once, 0600).

    Workers of one server race to make the file: the first one's ``O_EXCL`` create wins and
    every worker reads what it wrote.
    """
    configured = os.environ.get(KEY_ENV)
    if configured:
        return configured.encode()
    path = data_dir / KEY_FILE
    if path in _keys:
        return _keys[path]
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(Fernet.generate_key())
            log.info("made the key of stored phone numbers: %s (keep it with the data folder)", path)
    key = b""
    for _ in range(50):  # another worker may be writing it this instant
        key = path.read_bytes().strip()
        if key:
            break
        time.sleep(0.01)
    _keys[path] = key
    return key


class PhoneBook:
    """One hall's numbers, encrypted with ``key``."""

    def __init__(self, redis: Redis, hall_id: str, key: bytes) -> None:
        self.redis = redis
        self.hall_id = hall_id
        self.fernet = Fernet(key)
        self.phones = phones_key(hall_id)
        self.sent = sent_key(hall_id)

    async def put(self, token: str, phone: str) -> None:
        """Keep ``phone`` for the ticket ``token`` (replacing any number it had)."""
        await self.redis.hset(self.phones, token, self.fernet.encrypt(phone.encode()).decode())

    async def remove(self, token: str) -> bool:
        """Forget the ticket's number and what was sent to it; whether it had one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self.phones, token)
            pipe.hkeys(self.sent)
            removed, sent = await pipe.execute()
        mine = [k for k in sent if str(k).startswith(token + "|")]
        if mine:
            await self.redis.hdel(self.sent, *mine)
        return bool(removed)

    async def number(self, token: str) -> str | None:
        """The ticket's number, or None (none left, or unreadable with this key)."""
        cipher = await self.redis.hget(self.phones, token)
        if cipher is None:
            return None
        try:
            return self.fernet.decrypt(str(cipher).encode()).decode()
        except InvalidToken:
            return None

    async def numbers(self) -> dict[str, str]:
        """Every ticket's number, decrypted (unreadable ones are left out and logged)."""
        stored: dict[Any, Any] = await self.redis.hgetall(self.phones)
        result: dict[str, str] = {}
        for token, cipher in stored.items():
            try:
                result[str(token)] = self.fernet.decrypt(str(cipher).encode()).decode()
            except InvalidToken:
                log.warning(
                    "hall %s: a stored phone number cannot be read with this key (%s changed?)", self.hall_id, KEY_ENV
                )
        return result

    async def sent_to(self) -> dict[str, set[str]]:
        """The message keys already sent, per ticket token."""
        result: dict[str, set[str]] = {}
        for field in await self.redis.hkeys(self.sent):
            token, _, key = str(field).partition("|")
            result.setdefault(token, set()).add(key)
        return result

    async def mark(self, token: str, key: str) -> bool:
        """Mark a message sent; False when it already was (by this process or another)."""
        return bool(await self.redis.hsetnx(self.sent, f"{token}|{key}", 1))


def of(runtime: Runtime, hall_id: str) -> PhoneBook:
    """The phone book of a hall of ``runtime``."""
    return PhoneBook(runtime.redis, hall_id, load_key(runtime.data_dir))
