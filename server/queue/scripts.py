"""The queue's Lua scripts: their names, which of them are window actions, and their text."""

from __future__ import annotations

from importlib import resources

ACTIONS = (
    "call_next",
    "recall",
    "start",
    "complete",
    "no_show",
    "transfer",
    "call",
    "suspend",
    "resume",
    "pause",
    "unpause",
    "open",
    "close",
)
SCRIPTS = (
    *ACTIONS,
    "issue",
    "cancel",
    "rate",
    "notice",
    "rollover",
    "snapshot",
    "window_state",
    "ticket_info",
    "orphans",
    "config",
    "book",
    "unbook",
    "check_in",
)
#: The actions that finish the window's ticket and call another: refused (``just_called``)
#: within the hall's ``rules.min_call_interval_s`` of the call of the ticket in hand.
CALLING_ACTIONS = ("call_next", "call")
#: Scripts that only read: never followed by a WAIT.
READING_SCRIPTS = frozenset({"snapshot", "window_state", "ticket_info"})


def load_lua(name: str) -> str:
    """The text of ``server/queue/lua/{name}.lua``."""
    return resources.files("server.queue").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
