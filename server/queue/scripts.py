"""The queue's Lua scripts: their names, which of them are window actions, and their text."""

from __future__ import annotations

import functools
from importlib import resources

from server.queue.constants import lua_prelude

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
    "count_stats",
)
#: The actions that finish the window's ticket and call another: refused (``just_called``)
#: within the hall's ``rules.min_call_interval_s`` of the call of the ticket in hand.
CALLING_ACTIONS = ("call_next", "call")
#: Scripts never followed by a WAIT: those that read (snapshot and window_state count the
#: statistics first) and the counting step, whose writes are derived from the stream (lost
#: in a failover together with its ``stats_seq``, they are counted again).
READING_SCRIPTS = frozenset({"snapshot", "window_state", "ticket_info", "count_stats"})


def load_lua(name: str) -> str:
    """The text of ``server/queue/lua/{name}.lua``."""
    return resources.files("server.queue").joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


def prelude() -> str:
    """What the engine puts before every script's body: the constants as Lua locals, then
    ``lib.lua`` (the shared helpers and checks), ``stats.lua`` (counting the statistics from
    the stream) and ``appointments.lua``."""
    return lua_prelude() + "\n".join(load_lua(name) for name in ("lib", "stats", "appointments")) + "\n"


@functools.cache
def script_text(name: str) -> str:
    """Script ``name`` as the engine registers it: the prelude, then its body.

    One string per script for the whole process: every hall's engine registers the same
    text, and a copy per hall (~70 KB × 28 scripts) was 2 MB of each hall's memory.
    """
    return prelude() + load_lua(name)
