"""Running one hall's Lua scripts: the one way the engine touches its queue.

Each script is registered once (the shared prelude + its body) and run with one ``EVALSHA``:
its arguments as one JSON payload with the hall's clock (epoch ms, local hour, business
day), answered as a dict or a :class:`Refusal` carrying the script's code and data. A script
that finds the business day changed is run again after the rollover; with replicas, a write
counts only once ``WAIT`` says enough replicas have it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from server.hall_model import Hall
from server.hours import HallTime, hall_time
from server.queue.constants import keys_prefix
from server.queue.errors import Refusal
from server.queue.scripts import READING_SCRIPTS, SCRIPTS, script_text
from server.store import ClusterAcks

log = logging.getLogger("hallq.engine")


@dataclass
class ScriptRunner:
    """One hall's scripts on Redis, each run as one atomic call (the base of :class:`~server.queue.engine.Engine`)."""

    redis: Redis
    hall: Hall
    secret: bytes
    clock: Callable[[], float] = time.time
    #: Overrides the hall's ``rules.min_call_interval_s`` (None: the hall's; 0: no guard,
    #: for benchmarks and scripted tests that call at machine speed).
    min_call_interval_s: float | None = None
    #: ``WAIT`` this many replicas after each write (0: no WAIT, one Redis); see docs/operations.md.
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    #: With Redis Cluster, who runs the WAIT on the slot's master (see :class:`ClusterAcks`).
    acks: ClusterAcks | None = None
    _scripts: dict[str, AsyncScript] = field(default_factory=dict, init=False, repr=False)
    _moment_cache: tuple[int, HallTime] | None = field(default=None, init=False, repr=False)

    @property
    def call_interval_s(self) -> float:
        """The pause a window must leave between two calls (the override, else the hall's rule)."""
        if self.min_call_interval_s is not None:
            return self.min_call_interval_s
        return float(self.hall.rules.min_call_interval_s)

    def __post_init__(self) -> None:
        for name in SCRIPTS:
            # Each action is its own script (prelude + body): one EVALSHA round trip per action.
            self._scripts[name] = self.redis.register_script(script_text(name))
        self.prefix = keys_prefix(self.hall.id)
        self._window_ids = [w.id for w in self.hall.windows]

    async def _run(self, name: str, args: dict[str, Any], *, dated: bool = True) -> dict[str, Any]:
        """Run script ``name``; roll the business day over first if it has changed."""
        for _attempt in range(2):
            now = self.clock()
            moment = self._moment(now)
            payload = {
                # absent, never null: Lua's cjson turns null into a truthy userdata
                **{k: v for k, v in args.items() if v is not None},
                "now": int(now * 1000),
                "hour": moment.hour,
                "hall": self.hall.id,
                "retention": self.hall.event_retention,
                "today": moment.day,
            }
            if dated:
                payload["day"] = moment.day
            raw, acked = await self._script(name, json.dumps(payload))
            answer: dict[str, Any] = json.loads(raw)
            if answer.get("ok"):
                if acked < self.wait_replicas:
                    # Done on the master but not (yet) on a replica: a failover now would lose
                    # it, so it is not acknowledged. A retry with the same request_id answers
                    # the same once replicated (or does it, if the master was lost meanwhile).
                    raise Refusal(
                        "redis_unavailable",
                        f"the change was not confirmed by {self.wait_replicas} replica(s) within "
                        f"{self.wait_timeout_ms} ms; try again",
                    )
                return answer
            if answer.get("code") == "day_changed":
                await self.rollover()
                continue
            extra = {k: v for k, v in answer.items() if k not in ("ok", "code", "message")}
            raise Refusal(answer["code"], answer["message"], extra)
        raise Refusal("day_changed", "the business day changed during the request; try again")

    async def _script(self, name: str, payload: str) -> tuple[str, int]:
        """Run script ``name``: (its answer, replicas that have its writes).

        Without ``wait_replicas`` (one Redis) this is the one EVALSHA. With it, writing
        scripts are followed by ``WAIT`` on the same connection (a pipeline: WAIT counts the
        connection's own writes and cannot run inside a script); with a cluster, by
        :class:`ClusterAcks`. Replicas count as ``wait_replicas`` for reads.
        """
        script = self._scripts[name]
        keys = [self.prefix + "seq"]
        if not self.wait_replicas or name in READING_SCRIPTS:
            return await script(keys=keys, args=[payload]), self.wait_replicas
        if self.acks is not None:
            raw = await script(keys=keys, args=[payload])
            return raw, await self.acks.wait(self.prefix + "ack", self.wait_replicas, self.wait_timeout_ms)
        async with self.redis.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=[payload], client=pipe)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            raw, acked = await pipe.execute()
        return raw, int(acked)

    def _moment(self, now: float) -> HallTime:
        """``hall_time`` of ``now``, computed once per second (it is on every action's path)."""
        second = int(now)
        if self._moment_cache is None or self._moment_cache[0] != second:
            self._moment_cache = (second, hall_time(now, self.hall))
        return self._moment_cache[1]

    async def rollover(self) -> dict[str, Any]:
        """Start a new business day if it has begun: leftovers expire, numbering restarts."""
        answer = await self._run("rollover", {"rollover": True, "windows": self._window_ids})
        if answer.get("rolled"):  # exactly one process sees rolled=true: logged once per hall and day
            log.info(
                "hall %s: new business day, %d open ticket(s) expired (seq %s)",
                self.hall.id,
                answer.get("expired", 0),
                answer.get("seq"),
            )
        return answer
