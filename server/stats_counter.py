"""Counting a hall's statistics in the background, after its events (debounced).

The queue actions write no counters: :meth:`Engine.count_stats` counts the events after the
hall's ``stats_seq`` from the stream. Each process's hub pokes its hall's
:class:`StatsCounter` when it reads new events; the counter waits :data:`COUNT_DELAY_S`
(events of a busy minute are counted in a few steps, not one each), then counts. Every
process may do so at once: the step is one atomic script, so each event counts once. Reads
of the counters count first themselves, so this only keeps the backlog short.
"""

from __future__ import annotations

import asyncio
import logging
import os

from redis.exceptions import RedisError

from server import tasks
from server.queue.engine import Engine

log = logging.getLogger("hallq.stats")

#: Seconds between news of events and counting them (HALLQ_STATS_DELAY_S overrides).
COUNT_DELAY_S = float(os.environ.get("HALLQ_STATS_DELAY_S", "0.25"))


class StatsCounter:
    """Runs one hall's counting step :data:`COUNT_DELAY_S` after new events; never two at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def poke(self) -> None:
        """New events were read: count them soon (once for all that arrive meanwhile)."""
        if self._task is not None and not self._task.done():
            self._again = True  # arrived while counting: one more step after this one
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"stats-{self.engine.hall.id}")

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await asyncio.sleep(COUNT_DELAY_S)
            try:
                await self.engine.count_stats()
            except (RedisError, OSError) as exc:  # Redis away: the next events, or any stats read, count them
                log.warning("hall %s: counting the statistics failed: %s", self.engine.hall.id, exc)

    async def stop(self) -> None:
        """Cancel a pending step (what it has not counted, the next process or read counts)."""
        await tasks.stop(self._task)
