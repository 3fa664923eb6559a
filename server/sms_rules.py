"""SMS rules with no I/O: which ticket gets which message when, the message's words, the
gateway request's body and signature, and how a phone number may be shown.

:mod:`server.sms` follows the hall's events and sends; everything it decides is decided
here, so it is tested without a network, a clock or Redis.

Two messages go to a visitor who left a phone number for their ticket:

- ``ahead``: once per ticket, when it is waiting with at most ``[sms] ahead`` tickets in
  front of it ("3 ahead of you");
- ``called``: each time it is called (a ticket requeued after a no-show and called again
  gets it again), with its window ("your turn at window 3").

A ticket that is closed (done, no-show, cancelled, expired) gets nothing more, and its
number is forgotten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from server.webhook_rules import sign as _sign

#: A mainland mobile number, once spaces, dashes and a ``+86``/``86`` country code are removed.
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
#: Anything that looks like a mobile number inside a text (masked before a line is logged).
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_SEPARATORS = re.compile(r"[\s\-()]")

#: Placeholders a gateway body template may use.
BODY_FIELDS = ("phone", "text", "number", "window", "ahead", "hall")
#: Placeholders a message text may use.
TEXT_FIELDS = ("number", "window", "ahead", "hall")
#: The two messages, and the words each has by default (a hall file may replace them).
KINDS = ("ahead", "called")
DEFAULT_TEXTS: Mapping[str, Mapping[str, str]] = {
    "ahead": {
        "zh": "【{hall}】您的{number}号前面还有{ahead}位，请回到大厅等候叫号。",
        "en": "{hall}: {ahead} ahead of number {number}. Please come back to the hall.",
    },
    "called": {
        "zh": "【{hall}】请{number}号到{window}号窗口办理。",
        "en": "{hall}: number {number}, your turn at window {window}.",
    },
}
#: States after which a ticket is never called again.
CLOSED = frozenset({"done", "no_show", "cancelled", "expired"})
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def normalize_phone(text: str) -> str | None:
    """The 11 digits of a mainland mobile number, or None when ``text`` is not one.

    Spaces, dashes and brackets are ignored, and so is a ``+86`` / ``86`` country code.
    """
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if PHONE_RE.fullmatch(digits) else None


def mask(phone: str) -> str:
    """A phone number as it may be shown or logged: ``138****5678`` (first 3 and last 4)."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_text(text: str) -> str:
    """``text`` with every mobile number in it masked (for a line about to be logged)."""
    return _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of a template, in order."""
    return _PLACEHOLDER.findall(template)


def fill(template: str, values: Mapping[str, str], escape: Any = None) -> str:
    """``template`` with each ``{name}`` of ``values`` replaced (escaped by ``escape``).

    Other braces stay as they are, so a JSON body template needs no doubled braces.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = str(values[name])
        return str(escape(value)) if escape else value

    return _PLACEHOLDER.sub(replace, template)


def _json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _form_escape(value: str) -> str:
    return quote(value, safe="")


def render_body(template: str, content_type: str, values: Mapping[str, str]) -> bytes:
    """The gateway request's body: the hall's template filled for one message.

    Values are escaped for the body's type, so a text with quotes or ``&`` cannot break it:
    JSON string escaping for ``application/json``, percent-encoding for
    ``application/x-www-form-urlencoded``, as they are otherwise.
    """
    kind = content_type.split(";")[0].strip().lower()
    escape: Any = None
    if kind == "application/json" or kind.endswith("+json"):
        escape = _json_escape
    elif kind == "application/x-www-form-urlencoded":
        escape = _form_escape
    return fill(template, values, escape).encode("utf-8")


def sign(secret: str, body: bytes) -> str:
    """The signing header's value: ``sha256=`` and the hex HMAC-SHA256 of the exact body."""
    return _sign(secret, body)


def text_for(texts: Mapping[str, Mapping[str, str]], kind: str, lang: str, values: Mapping[str, str]) -> str:
    """The message ``kind`` in ``lang`` (else the first language the texts have)."""
    words = texts.get(kind) or DEFAULT_TEXTS[kind]
    template = words.get(lang) or next(iter(words.values()))
    return fill(template, values)


@dataclass(frozen=True)
class Notice:
    """One message to send: its ``kind`` and the ``key`` that marks it sent (once only)."""

    kind: str
    key: str
    window: str | None = None
    ahead: int | None = None


def due(ticket: Mapping[str, Any], ahead: int | None, threshold: int, sent: Collection[str]) -> list[Notice]:
    """What a ticket with a phone number should be sent now, given what was ``sent`` already.

    ``ticket`` is the ticket as the engine answers it (``status``, ``window``, ``called_at``),
    ``ahead`` the tickets in front of it.
    """
    status = ticket.get("status")
    if status == "waiting" and ahead is not None and 0 <= ahead <= threshold and "ahead" not in sent:
        return [Notice("ahead", "ahead", ahead=ahead)]
    if status == "called" and ticket.get("window"):
        key = f"called:{ticket.get('called_at') or 0}"
        if key not in sent:
            return [Notice("called", key, window=str(ticket["window"]))]
    return []


def finished(ticket: Mapping[str, Any] | None) -> bool:
    """Whether a ticket will get no more messages (unknown, or closed): forget its number."""
    return ticket is None or ticket.get("status") in CLOSED
