"""Staff PINs: salted scrypt hashes as stored in hall files, and their checking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

#: A staff PIN's length, in characters (its strength: server/staff_api.py's pin_problem).
PIN_MIN, PIN_MAX = 4, 32


def hash_pin(pin: str, *, n: int = 2**14) -> str:
    """A salted scrypt hash of ``pin`` in the form stored in hall files."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}$8$1${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches ``stored`` (a :func:`hash_pin` string)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def valid_pin_hash(stored: str) -> bool:
    """Whether ``stored`` has the form :func:`hash_pin` writes (a hall file's ``pin_hash``)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        base64.b64decode(parts[4], validate=True)
        base64.b64decode(parts[5], validate=True)
        return int(parts[1]) >= 2**10 and int(parts[2]) > 0 and int(parts[3]) > 0
    except ValueError:
        return False
