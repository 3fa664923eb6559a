"""Webhook rules with no I/O: which events a receiver wants, the body and its signature,
the back-off between attempts, and what of a receiver may be shown.

:mod:`server.webhooks` does the delivering; everything it decides is decided here, so it
is tested without a network or a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: Event types a receiver may ask for (CONTRACT.md, plus the ones the engine adds).
EVENT_TYPES = frozenset(
    {
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.started",
        "ticket.completed",
        "ticket.no_show",
        "ticket.requeued",
        "ticket.transferred",
        "ticket.suspended",
        "ticket.resumed",
        "ticket.cancelled",
        "ticket.expired",
        "ticket.rated",
        "window.opened",
        "window.paused",
        "window.unpaused",
        "window.closed",
        "hall.notice",
        "hall.reset",
        "hall.config",
        "appointment.booked",
        "appointment.cancelled",
        "appointment.checked_in",
        "appointment.missed",
    }
)
ALL = "*"
#: Keys never sent to a receiver, wherever they sit in an event: a ticket's ``token`` is the
#: visitor's key to their ticket, the others are personal data or credentials.
SECRET_KEYS = frozenset({"token", "id_number", "id_hash", "phone", "pin", "pin_hash", "secret"})
SIGNATURE_HEADER = "X-Hallq-Signature"
SEQ_HEADER = "X-Hallq-Seq"


def wants(events: Iterable[str], event_type: str) -> bool:
    """Whether a receiver listing ``events`` (``["*"]`` for all) gets an event of ``event_type``."""
    listed = set(events)
    return ALL in listed or event_type in listed


def scrub(value: Any) -> Any:
    """A copy of ``value`` without any :data:`SECRET_KEYS` at any depth."""
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def body(event: Mapping[str, Any]) -> bytes:
    """The bytes POSTed for ``event``: its JSON, secrets left out, UTF-8, compact.

    The signature is over exactly these bytes, so a receiver must verify the raw body
    before parsing it.
    """
    return json.dumps(scrub(event), ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: str, payload: bytes) -> str:
    """The ``X-Hallq-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``payload``."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify(secret: str, payload: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``payload`` with ``secret`` (constant-time)."""
    return hmac.compare_digest(sign(secret, payload), header.strip())


def backoff(attempt: int, low: float, high: float, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    Exponential from ``low`` doubling to ``high``, with "equal jitter": half of the step
    is fixed and half random, so many receivers that failed together do not retry in step,
    yet a retry never comes sooner than half its step.
    """
    step = min(high, low * 2 ** max(0, min(attempt - 1, 60)))
    return float(step / 2 + rand() * step / 2)


def receiver_id(url: str) -> str:
    """A receiver's id: a short hash of its URL, so its cursor survives restarts and reloads
    of the hall file; changing the URL makes a new receiver, which starts at the present."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def shown_url(url: str) -> str:
    """The URL as pages and logs may show it: no user or password, no query, no fragment
    (a query is where many services put their token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def valid_url(url: str) -> str | None:
    """Why ``url`` cannot be a receiver, or None when it can (http or https with a host)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    return None


_URL_LINE = re.compile(r'^(\s*url\s*=\s*)"([^"]*)"(.*)$')


def redact_line(line: str) -> str:
    """A hall-file line as the manager page shows it: a ``secret`` hidden, a ``url`` without
    credentials or query (the hall file is shown whole; the rest of the line is kept)."""
    stripped = line.strip()
    if stripped.startswith("secret") and "=" in stripped:
        return line[: len(line) - len(line.lstrip())] + 'secret = "(hidden)"'
    match = _URL_LINE.match(line)
    if match and valid_url(match.group(2)) is None:
        return f'{match.group(1)}"{shown_url(match.group(2))}"{match.group(3)}'
    return line
