"""server/tasks.py: a background task asked to stop ends, even one that swallowed the request."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from server import tasks


async def test_a_task_that_swallows_a_cancellation_is_stopped_all_the_same() -> None:
    async def stubborn() -> None:
        with contextlib.suppress(asyncio.CancelledError):  # as redis-py 8.1's cluster client was seen to
            await asyncio.sleep(30)
        await asyncio.sleep(30)  # ...and the loop around it went on

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    started = time.monotonic()
    await tasks.stop(task)
    assert task.cancelled()
    assert time.monotonic() - started < 5


async def test_stop_raises_what_the_task_ended_with_and_takes_none() -> None:
    async def failing() -> None:
        raise ValueError("broken")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="broken"):
        await tasks.stop(task)
    await tasks.stop(None)
