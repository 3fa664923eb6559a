"""One stream reader per process per Redis node, for every hall the process serves.

With one Redis (or Sentinel's master) the reader is one ``XREAD BLOCK`` over all the
halls' streams, each from its hub's last seq, on one connection of its own: a process
holds O(nodes) reader connections, not one per hall (150 halls used to need 150, past
redis-py's pool of 100 the last halls' screens went dark).

A Redis Cluster refuses a multi-key XREAD across slots (each hall has its own slot), so
there the halls are grouped by the master that owns their slot, and each master gets
one connection on which all its halls are polled in one round trip (again at once after
news, else after ``HALLQ_CLUSTER_POLL_MS``, default 20 ms): one small script
(:data:`POLL_SCRIPT`) reads every hall's seq on that node and answers only for the halls
with news, so a quiet city costs one short reply per node per poll, not two replies per
hall. If the script is refused (a slot moved away, a replica), one pipelined round of
per-hall reads finds which halls: a MOVED, a READONLY or a lost node marks those halls
down and regroups them from a fresh slot map, so the reader follows slot moves and
failovers.

A hall the reader cannot read is told so (``{"type":"status","redis":"down"}`` on every
socket, /healthz names it) and told again when it reads again: never a silent dark screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from server import tasks
from server.events import HallHub
from server.store import StoreSpec, drop_idle_connections, node_client

log = logging.getLogger("hallq.events")

#: How long one XREAD blocks (ms); also how often a quiet reader checks for a store reset.
BLOCK_MS = 2_000
#: A store gone back in time (restarted empty, restored) is checked for when the reader was
#: quiet for a whole block (as each hall's own reader did), and at least this often (s).
REWIND_CHECK_S = 30.0
#: A hall's seq must stay below the last one seen this long (s) to count as a
#: store gone back in time (a flush followed at once by a restore is not one: the restore's
#: ``hall.reset`` is read as the next event).
REWIND_GRACE_S = 2.0
POLL_S = float(os.environ.get("HALLQ_CLUSTER_POLL_MS", "20")) / 1000
#: The poll of one cluster node. ARGV[1] holds a line per hall: its seq key, its stream key,
#: the last seq read (-1: not started) and 1 when it must be answered anyway (not started, or
#: marked down), separated by spaces (keys and hall ids have none). One argument, not four per
#: hall: redis-py encodes each argument in Python, and 1,000 halls' 4,000 arguments 50 times a
#: second were most of an idle server's CPU. Answers {n, seq, entries after the last seq (at
#: most 500)} for the n-th hall when it asked, has news, or its seq went back. No KEYS are
#: declared, because a cluster refuses declared keys of several slots; Redis 7 still refuses a
#: key this node does not hold ("non local key"), which sends the reader to its per-hall round
#: (:meth:`_poll_each`).
POLL_SCRIPT = """
local out = {}
local n = 0
for seq_key, stream, last_seq, force in string.gmatch(ARGV[1], '(%S+) (%S+) (%S+) (%S+)') do
  n = n + 1
  local seq = tonumber(redis.call('GET', seq_key) or '0')
  local last = tonumber(last_seq)
  if force == '1' or seq ~= last then
    local entries = {}
    if last >= 0 and seq > last then
      entries = redis.call('XRANGE', stream, '(' .. last_seq .. '-0', '+', 'COUNT', 500)
    end
    out[#out + 1] = {n, seq, entries}
  end
end
return out
"""


def poll_line(keys: str, last_seq: int, ask: bool) -> str:
    """One hall's line of :data:`POLL_SCRIPT`'s argument: ``keys`` is its seq key and stream
    key (:attr:`HallHub.poll_keys`), ``ask`` whether it must be answered anyway."""
    return f"{keys} {last_seq} {1 if ask else 0}"


class StreamReader:
    """Reads every registered hub's stream and hands each hub its entries."""

    def __init__(self, client: Redis, spec: StoreSpec) -> None:
        self.client = client
        self.spec = spec
        self.hubs: dict[str, HallHub] = {}
        self._task: asyncio.Task[None] | None = None
        self._nodes: dict[tuple[str, int], Redis] = {}
        self._scripts: dict[tuple[str, int], AsyncScript] = {}
        self._groups: dict[tuple[str, int], list[HallHub]] | None = None
        self._refresh: asyncio.Task[None] | None = None
        #: Since when each hall's seq has been below the last one seen (the rewind grace).
        self._below: dict[str, float] = {}

    def add(self, hub: HallHub) -> None:
        """Follow ``hub``'s hall from the next round on."""
        self.hubs[hub.key] = hub
        self._groups = None

    def start(self) -> None:
        loop = self._cluster_loop if self.spec.kind == "cluster" else self._single_loop
        self._task = asyncio.create_task(loop(), name="stream-reader")

    async def stop(self) -> None:
        await tasks.stop(self._task)
        for client in self._nodes.values():
            with contextlib.suppress(Exception):
                await client.aclose()

    def connections(self) -> int:
        """Reader connections this process holds at most (one per node)."""
        return max(len(self._nodes), 1)

    # --- one Redis, or Sentinel's master --------------------------------

    async def _seqs(self, hubs: list[HallHub]) -> list[int]:
        async with self.client.pipeline(transaction=False) as pipe:
            for hub in hubs:
                pipe.get(hub.engine.prefix + "seq")
            values: list[Any] = await pipe.execute()
        return [int(v or 0) for v in values]

    async def _single_loop(self) -> None:  # noqa: C901 — the read loop and its failure modes (outage, reset, failover), each handled where it happens
        backoff = 0.1
        loop = asyncio.get_running_loop()
        checked = loop.time()
        quiet = False
        while True:
            hubs = list(self.hubs.values())
            try:
                if not hubs:
                    await asyncio.sleep(0.5)
                    continue
                due = quiet or loop.time() - checked >= REWIND_CHECK_S
                if due or any(not h.started.is_set() or not h.redis_up for h in hubs):
                    seqs = await self._seqs(hubs)
                    if any(h.started.is_set() and not h.redis_up for h in hubs):
                        # Back after an outage: once for the store, not once per hall.
                        await drop_idle_connections(hubs[0].engine.redis)
                    for hub, seq in zip(hubs, seqs, strict=True):
                        if not hub.started.is_set():
                            hub.prime(seq)
                        elif not hub.redis_up:
                            await hub.mark_up(seq)
                        elif due:
                            await self._check_rewind(hub, seq)
                    if due:
                        checked = loop.time()
                streams = {hub.key: f"{hub.last_seq}-0" for hub in hubs}
                answer: Any = await self.client.xread(streams, block=BLOCK_MS, count=500)  # type: ignore[arg-type]
                quiet = not answer
                backoff = 0.1
                for key, entries in answer or []:
                    found = self.hubs.get(key)
                    if found is not None:
                        await found.take(entries)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                for hub in hubs:
                    hub.mark_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            except Exception:  # never die silently: log and keep following
                log.exception("the stream reader failed; restarting it")
                await asyncio.sleep(1.0)

    # --- Redis Cluster --------------------------------------------------

    async def _regroup(self) -> tuple[dict[tuple[str, int], list[HallHub]], bool]:
        """The halls by the master owning their slot; False when some slot has no master now."""
        cluster = self.client
        assert isinstance(cluster, RedisCluster)
        await cluster.initialize()  # the slot map (redis-py reads it on first use only)
        groups: dict[tuple[str, int], list[HallHub]] = {}
        complete = True
        for hub in self.hubs.values():
            try:
                node = cluster.get_node_from_key(hub.key)
            except RedisError as exc:  # the slot's master is lost and not yet replaced
                hub.mark_down(exc)
                complete = False
                continue
            assert node is not None
            groups.setdefault((node.host, node.port), []).append(hub)
        return groups, complete

    async def _refresh_slots(self) -> None:
        cluster = self.client
        assert isinstance(cluster, RedisCluster)
        with contextlib.suppress(RedisError, OSError):
            # redis-py's own slot-map refresh (what it does after a MOVED)
            await cluster.nodes_manager.initialize()

    def _node(self, address: tuple[str, int]) -> Redis:
        client = self._nodes.get(address)
        if client is None:
            client = self._nodes[address] = node_client(*address, self.spec)
            self._scripts[address] = client.register_script(POLL_SCRIPT)
        return client

    async def _poll_node(self, address: tuple[str, int], hubs: list[HallHub]) -> tuple[bool, bool]:
        """One round trip for ``hubs`` on the node at ``address``: (news read, regroup needed)."""
        client = self._node(address)
        lines = [
            poll_line(hub.poll_keys, hub.last_seq, not hub.redis_up)
            if hub.started.is_set()
            else poll_line(hub.poll_keys, -1, True)
            for hub in hubs
        ]
        try:
            reports: list[Any] = await self._scripts[address](keys=[], args=["\n".join(lines)], client=client)
        except ResponseError:  # a hall's slot is not here now (moved, failed over): which one?
            return await self._poll_each(client, hubs)
        except (RedisError, OSError) as exc:
            for hub in hubs:
                hub.mark_down(exc)
            return False, True
        news = False
        answered: set[str] = set()
        for number, seq, entries in reports:
            hub = hubs[int(number) - 1]
            answered.add(hub.key)
            fields = [(entry_id, dict(zip(pairs[::2], pairs[1::2], strict=True))) for entry_id, pairs in entries]
            news = await self._follow(hub, int(seq), fields) or news
        for hub in hubs:
            if hub.key not in answered:  # its seq is the last one read: not below it any more
                self._below.pop(hub.key, None)
        return news, False

    async def _poll_each(self, client: Redis, hubs: list[HallHub]) -> tuple[bool, bool]:
        """Each hall's seq and news in one pipelined round trip, each answer on its own: a MOVED
        or READONLY marks only its hall down (and asks for a regroup)."""
        try:
            async with client.pipeline(transaction=False) as pipe:
                for hub in hubs:
                    pipe.get(hub.engine.prefix + "seq")
                    if hub.started.is_set():
                        pipe.xread({hub.key: f"{hub.last_seq}-0"}, count=500)
                results: list[Any] = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            for hub in hubs:
                hub.mark_down(exc)
            return False, True
        news = regroup = False
        position = 0
        for hub in hubs:
            seq = results[position]
            position += 1
            answer: Any = None
            if hub.started.is_set():
                answer = results[position]
                position += 1
            failure = next((r for r in (seq, answer) if isinstance(r, BaseException)), None)
            if failure is not None:
                hub.mark_down(failure)  # MOVED, READONLY, CLUSTERDOWN: the slot lives elsewhere now
                regroup = True
                continue
            entries = [entry for _key, found in answer or [] for entry in found]
            news = await self._follow(hub, int(seq or 0), entries) or news
        return news, regroup

    async def _follow(self, hub: HallHub, current: int, entries: list[tuple[str, dict[str, str]]]) -> bool:
        """Hand ``hub`` what was read of it (its seq is ``current``); True when there was news."""
        if not hub.started.is_set():
            hub.prime(current)
            return False
        if not hub.redis_up:
            await hub.mark_up(current)
        if entries:
            await hub.take(entries)
        await self._check_rewind(hub, current)
        return bool(entries)

    async def _check_rewind(self, hub: HallHub, current: int) -> None:
        """The store counts as gone back in time once the hall's seq stayed below the last one
        seen for :data:`REWIND_GRACE_S`: a flush followed at once by a restore is not one (the
        restore's ``hall.reset`` is read as the next event, and screens replay nothing)."""
        if current >= hub.last_seq:
            self._below.pop(hub.key, None)
        elif time.monotonic() - self._below.setdefault(hub.key, time.monotonic()) >= REWIND_GRACE_S:
            self._below.pop(hub.key, None)
            await hub.check_rewind(current)

    async def _refresh_then_regroup(self, delay: float = 0.2) -> None:
        await asyncio.sleep(delay)  # a failover takes seconds: do not hammer the survivors
        await self._refresh_slots()
        self._groups = None

    def _want_refresh(self, delay: float = 0.2) -> None:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._refresh_then_regroup(delay))

    async def _node_loop(self, address: tuple[str, int]) -> None:
        """Poll one master's halls; each master has its own loop, so a dead one delays no other."""
        while True:
            hubs = (self._groups or {}).get(address)
            if not hubs:
                await asyncio.sleep(0.1)
                continue
            news, regroup = await self._poll_node(address, hubs)
            if regroup:
                self._want_refresh()
                await asyncio.sleep(0.5)
            elif not news:
                await asyncio.sleep(POLL_S)

    async def _cluster_loop(self) -> None:  # noqa: C901 — the read loop and its failure modes (outage, reset, failover), each handled where it happens
        loops: dict[tuple[str, int], asyncio.Task[None]] = {}
        try:
            while True:
                try:
                    if self._groups is None:
                        self._groups, complete = await self._regroup()
                        if not complete:
                            self._want_refresh(1.0)
                    for address in list(loops):
                        if address not in self._groups:
                            loops.pop(address).cancel()
                            client = self._nodes.pop(address, None)
                            self._scripts.pop(address, None)
                            if client is not None:
                                with contextlib.suppress(Exception):
                                    await client.aclose()
                    for address in self._groups:
                        if address not in loops or loops[address].done():
                            loops[address] = asyncio.create_task(self._node_loop(address), name=f"reader-{address}")
                    await asyncio.sleep(0.1)
                except asyncio.CancelledError:
                    raise
                except Exception:  # never die silently: log and keep following
                    log.exception("the cluster stream reader failed; restarting it")
                    self._groups = None
                    await asyncio.sleep(1.0)
        finally:
            for task in loops.values():
                task.cancel()
            if self._refresh is not None:
                self._refresh.cancel()
