"""The pad's pure rules, the same as the pad page's (caller/static/padlogic.js): the key mapping
(``caller/static/keymap.json``, one file for both), ticket and transfer codes as typed on a numeric
keypad, and the terminal's words (labels and refusals, from the catalogue in server/words).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from server import words

KEYMAP_PATH = Path(__file__).parent / "static" / "keymap.json"


def both(key: str) -> str:
    """A catalogue label in zh then en, for a terminal (it has no language switch): "叫号 call next"."""
    return f"{words.text('zh', key)} {words.text('en', key).lower()}"


#: Labels for the terminal, from the word catalogue the pad page uses (server/words).
LABELS: dict[str, str] = {
    a: both(f"a_{a}")
    for a in (
        "call_next",
        "recall",
        "no_show",
        "start",
        "complete",
        "transfer",
        "call",
        "suspend",
        "resume",
        "pause",
        "unpause",
        "open",
        "close",
    )
}
LABELS["help"] = "帮助 help"
STATUS_LABELS = {s: both(f"ws_{s}") for s in ("idle", "calling", "serving", "paused", "closed")}
ACTIONS = tuple(k for k in LABELS if k != "help")
#: Actions that need a ticket number, or a transfer target, typed after the key.
TICKET_ACTIONS = ("call", "resume")


def load_keymap(path: Path = KEYMAP_PATH) -> dict[str, Any]:
    """The key mapping shared with the pad page."""
    keymap: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return keymap


def key_action(keymap: dict[str, Any], key: str) -> str | None:
    """The action bound to a key ("Enter", "+", "0" …), or None."""
    for binding in keymap["bindings"]:
        if key in binding["keys"]:
            return str(binding["action"])
    return None


def is_cancel_key(keymap: dict[str, Any], key: str) -> bool:
    """Whether a key abandons a prompt (the keypad's "-", or Escape)."""
    return key in keymap["cancel"]["keys"]


def parse_ticket_code(text: str, prefixes: Sequence[str]) -> str | None:
    """A ticket number from what was typed: "A12" → "A012"; digits only (a numeric keypad has no
    letters) are service position then number: "1012" → first prefix + "012". None if invalid."""
    s = text.strip().upper()
    if len(s) >= 2 and s[0].isalpha() and s[1:].isdigit() and len(s) <= 4:
        return s[0] + s[1:].zfill(3) if s[0] in prefixes else None
    if s.isdigit() and 2 <= len(s) <= 4:
        position = int(s[0])
        if 1 <= position <= len(prefixes):
            return prefixes[position - 1] + s[1:].zfill(3)
    return None


def parse_transfer_code(text: str, service_ids: Sequence[str], window_ids: Sequence[str]) -> dict[str, str] | None:
    """A transfer target: a service id or its position "1".."9" → {"service"}; "0" + a window id
    ("05") → {"to_window"}. None if it names neither."""
    s = text.strip()
    if s in service_ids:
        return {"service": s}
    if len(s) > 1 and s[0] == "0" and s[1:] in window_ids:
        return {"to_window": s[1:]}
    if len(s) == 1 and s.isdigit() and 1 <= int(s) <= len(service_ids):
        return {"service": service_ids[int(s) - 1]}
    return None


def error_message(answer: Any) -> str:
    """A refusal in words, by its code (the server's English message only for an unknown code)."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        err = answer["error"]
        code, message = str(err.get("code") or ""), str(err.get("message") or err.get("code"))
        if f"err_{code}" in words.catalogue("zh"):
            return f"{words.error_text('zh', code)} {words.error_text('en', code)}"
        return message
    return str(answer)
