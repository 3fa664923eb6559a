"""Web Push rules: which ticket state gets which notification, in which words.

Pure functions, no I/O. :mod:`server.push_sender` reads the subscribed tickets after each hall
event, asks :func:`decide` what (if anything) to send for each, and stores the state it
returns, so a visitor is told once that few are ahead and once per call (a recall, or a
call at another window after a transfer, is a new call):

- waiting, with at most :data:`AHEAD_THRESHOLD` visitors ahead → "3 ahead of you"
  ("you are next" at 0), once; told again only after being called and waiting again
  (requeued after a no-show, transferred);
- called to a window → "your turn at window 3", once per call (window and call time);
- done, cancelled, expired (or no longer known) → the subscription ends.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: "N ahead of you" is sent when at most this many visitors are ahead (HALLQ_PUSH_AHEAD overrides it).
AHEAD_THRESHOLD = 3
#: Ticket statuses after which nothing more is sent: the subscription is deleted.
ENDED = frozenset({"done", "cancelled", "expired"})
#: Longest accepted endpoint URL (browsers' are well under 1,000 characters).
MAX_ENDPOINT = 1000


@dataclass(frozen=True)
class State:
    """What a subscription has been told: the "ahead" notice, and the last call (``window:called_at``)."""

    ahead_sent: bool = False
    call: str = ""

    def dump(self) -> str:
        return json.dumps({"ahead": self.ahead_sent, "call": self.call}, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | bytes | None) -> State:
        if not text:
            return cls()
        try:
            raw = json.loads(text)
            return cls(ahead_sent=bool(raw.get("ahead")), call=str(raw.get("call") or ""))
        except (ValueError, AttributeError):
            return cls()


@dataclass(frozen=True)
class Notice:
    """One notification: ``kind`` is ``ahead`` or ``call``; ``payload`` is what the service worker shows."""

    kind: str
    payload: dict[str, Any] = field(default_factory=dict)

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Decision:
    notices: tuple[Notice, ...]
    state: State
    ended: bool = False


def _pick(texts: Mapping[str, str], lang: str, languages: tuple[str, ...]) -> str:
    for candidate in (lang, *languages, "en"):
        if candidate in texts:
            return texts[candidate]
    return next(iter(texts.values()), "")


def ahead_text(ahead: int, lang: str) -> str:
    if lang == "zh":
        return "下一位就是您" if ahead == 0 else f"您前面还有 {ahead} 人"
    return "You are next" if ahead == 0 else f"{ahead} ahead of you"


def call_text(window_name: str, lang: str) -> str:
    if lang == "zh":
        return f"轮到您了，请到{window_name}办理"
    return f"Your turn at {window_name}"


def decide(
    info: Mapping[str, Any] | None,
    state: State,
    *,
    token: str,
    hall_name: Mapping[str, str],
    window_names: Mapping[str, Mapping[str, str]],
    languages: tuple[str, ...],
    threshold: int = AHEAD_THRESHOLD,
) -> Decision:
    """What to send for one subscribed ticket, given its present ``info`` (``{"ticket", "ahead"}``
    as the engine answers; None when the ticket is gone) and what was already sent."""
    if info is None:
        return Decision((), state, ended=True)
    ticket = info.get("ticket") or {}
    status = str(ticket.get("status") or "")
    if status in ENDED:
        return Decision((), state, ended=True)
    lang = str(ticket.get("lang") or (languages[0] if languages else "en"))
    text_lang = "zh" if lang == "zh" else "en"
    number = str(ticket.get("number") or "")
    base = {
        "title": f"{number} · {_pick(hall_name, lang, languages)}" if number else _pick(hall_name, lang, languages),
        "tag": f"hallq-{number}",
        "url": f"/t/{token}",
        "number": number,
        "lang": lang,
    }
    window = ticket.get("window")
    if status == "called" and window:
        marker = f"{window}:{ticket.get('called_at') or ''}"
        if marker == state.call:
            return Decision((), state)
        names = window_names.get(str(window)) or {}
        name = _pick(names, text_lang, languages) if names else str(window)
        if not names:
            name = ("窗口 " if text_lang == "zh" else "window ") + str(window)
        notice = Notice("call", {**base, "kind": "call", "window": str(window), "body": call_text(name, text_lang)})
        return Decision((notice,), State(ahead_sent=True, call=marker))
    if status == "waiting":
        if state.call:  # called before and waiting again (requeued, transferred): a fresh start
            state = State()
        ahead = info.get("ahead")
        if isinstance(ahead, int) and 0 <= ahead <= threshold and not state.ahead_sent:
            notice = Notice("ahead", {**base, "kind": "ahead", "ahead": ahead, "body": ahead_text(ahead, text_lang)})
            return Decision((notice,), State(ahead_sent=True, call=""))
    return Decision((), state)


# --- subscriptions ----------------------------------------------------------------------


class BadSubscription(ValueError):
    """A PushSubscription that cannot be used; the message says why."""


def _b64url(value: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def check_subscription(endpoint: str, p256dh: str, auth: str, allow_http: bool = False) -> None:
    """Refuse (:class:`BadSubscription`) an endpoint that is not an absolute https URL (http
    only when ``allow_http``: a local stand-in), a p256dh that is not an uncompressed P-256 point
    and an auth secret that is not 16 bytes, all base64url as ``PushSubscription.toJSON()`` gives."""
    if len(endpoint) > MAX_ENDPOINT:
        raise BadSubscription(f"endpoint is too long (at most {MAX_ENDPOINT})")
    parts = urlsplit(endpoint)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise BadSubscription("endpoint must be an https:// URL of a push service")
    try:
        point = _b64url(p256dh)
    except (ValueError, binascii.Error) as exc:
        raise BadSubscription("keys.p256dh must be base64url") from exc
    if len(point) != 65 or point[0] != 4:
        raise BadSubscription("keys.p256dh must be an uncompressed P-256 public key (65 bytes)")
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise BadSubscription("keys.p256dh is not a point of P-256") from exc
    try:
        secret = _b64url(auth)
    except (ValueError, binascii.Error) as exc:
        raise BadSubscription("keys.auth must be base64url") from exc
    if len(secret) != 16:
        raise BadSubscription("keys.auth must be 16 bytes")
