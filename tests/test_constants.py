"""One rule, one place: the hall's constants are spelled once (server/queue/constants.json)
and Python, the Lua scripts and the pages read them from there; the Lua rules that have a
Python twin answer the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from server import sketch
from server.config import load_demo
from server.embedded import EmbeddedRedis
from server.queue import constants
from server.queue.scripts import prelude

ROOT = Path(__file__).parent.parent
SOURCES = [
    p
    for folder in ("server", "display", "kiosk", "caller", "admin")
    for p in (ROOT / folder).rglob("*")
    if p.suffix in {".py", ".lua", ".js"} and p.name != "constants.py"
]


@pytest.fixture(scope="module")
def lua(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


def run_in_prelude(client: redis.Redis, body: str, args: dict[str, object]) -> object:
    """Run ``body`` after the queue scripts' prelude (constants, lib.lua, stats.lua…), as the engine does."""
    script = prelude() + body
    return json.loads(client.eval(script, 1, constants.keys_prefix("const") + "seq", json.dumps(args)))


def test_the_scripts_see_the_constants(lua: redis.Redis) -> None:
    got = run_in_prelude(lua, "return cjson.encode({RECENT_CALLS, BAD_MAX})", {})
    assert got == [constants.RECENT_CALLS, constants.BAD_MAX]


@settings(max_examples=100, deadline=None)
@given(seconds=st.lists(st.integers(min_value=0, max_value=30 * 3600), min_size=1, max_size=40))
def test_the_scripts_count_durations_into_the_sketchs_buckets(lua: redis.Redis, seconds: list[int]) -> None:
    """sketch.py reads histograms the scripts wrote: their bucket edges must be the same."""
    body = "local out = {} for i, s in ipairs(A.seconds) do out[i] = bucket(s) end return cjson.encode(out)"
    assert run_in_prelude(lua, body, {"seconds": seconds}) == [sketch.bucket(s) for s in seconds]


def test_the_pages_get_the_constants() -> None:
    public = load_demo().public()
    assert public["constants"] == constants.for_pages()
    assert re.compile(public["constants"]["number_pattern"]).match("A012")
    assert not re.compile(public["constants"]["window_pattern"]).match("../x")


@pytest.mark.parametrize(
    "spelled",
    [
        constants.NUMBER_RE.pattern,
        constants.WINDOW_RE.pattern,
        r"[A-Z]\d{3}",
        "score <= 2",
        "'recent', 0, 15",
        '"hallq:{',
        'b"hallq:',
        "RECENT_CALLS = 16",
        "BAD_MAX = 2",
    ],
)
def test_no_constant_is_spelled_a_second_time(spelled: str) -> None:
    found = [str(p.relative_to(ROOT)) for p in SOURCES if spelled in p.read_text(encoding="utf-8")]
    assert found == [], f"{spelled!r} belongs in server/queue/constants.json only"
