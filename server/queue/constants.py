"""The hall's fixed numbers and patterns, written once for Python, Lua and the pages.

``constants.json`` beside this module is the one place they are spelled. Python reads it
here; every queue script gets them as Lua locals from :func:`lua_prelude` (the engine puts
that before ``lib.lua``); pages get :func:`for_pages` as ``HALL.constants`` (see
``Hall.public``), so the announcer, the screens and the rating pad check the same patterns
and thresholds as the server.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any, Final

_VALUES: Final[dict[str, Any]] = json.loads(
    resources.files("server.queue").joinpath("constants.json").read_text(encoding="utf-8")
)

#: A rating at or below this score is bad (差评) and opens a follow-up case.
BAD_MAX: Final[int] = int(_VALUES["bad_max"])
#: How many call/recall events a hall keeps for the screens' "recent calls".
RECENT_CALLS: Final[int] = int(_VALUES["recent_calls"])
#: A phone's "set out by" keeps this many seconds in hand before the expected call (远程取号).
SET_OUT_MARGIN_S: Final[int] = int(_VALUES["set_out_margin_s"])
#: A statistics counting step (``count_stats``) reads at most this many events per script.
STATS_BATCH: Final[int] = int(_VALUES["stats_batch"])
#: Every this many events an action checks that the counting is not behind by half the
#: stream's retention (else it counts a batch itself: no event is trimmed uncounted).
STATS_CHECK_EVERY: Final[int] = int(_VALUES["stats_check_every"])
#: A no-show sent behind the last ticket of its line goes this much after it (2**-20: exact in
#: binary, and below the next whole number, the next issued ticket's place, for 2**20 requeues).
REQUEUE_STEP: Final[float] = float(_VALUES["requeue_step"])
#: Every key hallq writes starts with this.
KEY_PREFIX: Final[str] = str(_VALUES["key_prefix"])
#: A ticket number: a prefix letter and three digits ("A012").
NUMBER_RE: Final[re.Pattern[str]] = re.compile(_VALUES["number_pattern"])
#: A window id as a hall file may spell it: no '/' or '.', so it can sit in an audio URL path
#: and a file name without escaping.
WINDOW_RE: Final[re.Pattern[str]] = re.compile(_VALUES["window_pattern"])


def keys_prefix(hall_id: str) -> str:
    """Every key of a hall starts with this; ``{hall}`` is its Redis Cluster hash tag."""
    return f"{KEY_PREFIX}{{{hall_id}}}:"


def lua_prelude() -> str:
    """Lua locals for the queue scripts: the constants their rules need (before ``lib.lua``)."""
    return (
        f"local RECENT_CALLS = {RECENT_CALLS}\nlocal BAD_MAX = {BAD_MAX}\n"
        f"local STATS_BATCH = {STATS_BATCH}\nlocal STATS_CHECK_EVERY = {STATS_CHECK_EVERY}\n"
        f"local REQUEUE_STEP = {REQUEUE_STEP!r}\n"
    )


def for_pages() -> dict[str, Any]:
    """The constants a page's script needs (JSON-safe; patterns as JavaScript-compatible text)."""
    return {
        "bad_max": BAD_MAX,
        "recent_calls": RECENT_CALLS,
        "set_out_margin_s": SET_OUT_MARGIN_S,
        "number_pattern": NUMBER_RE.pattern,
        "window_pattern": WINDOW_RE.pattern,
    }
