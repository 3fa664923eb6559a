"""Whether each hall's store takes writes now: one small write per hall
(``hallq:{hall}:alive``, kept a minute), for ``/healthz``.

On one Redis (or Sentinel's master) the writes go in one pipeline. On a cluster they go in one
script per master, for every hall whose slot that master holds (a cluster refuses declared keys
of several slots, so the script declares none; Redis 7 refuses a key its node does not hold).
When a master's script is refused or fails (a slot moved, a replica, a node down), that
master's halls are written one by one, so each failing hall is named with its own error and no
other. Either way a probe costs O(masters) round trips, not one command in flight per hall
(1,000 halls used to fill the cluster client's pool for everything else while a probe ran).
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError

from server.queue.constants import keys_prefix
from server.store import StoreSpec

#: How long a hall's mark lasts (ms): it only proves the write went through.
ALIVE_MS = 60_000
#: ARGV: the keys, the value, then ALIVE_MS. Writes only keys of this node (see the docstring).
MARK_SCRIPT = """
local value, ttl = ARGV[#ARGV - 1], ARGV[#ARGV]
for i = 1, #ARGV - 2 do redis.call('SET', ARGV[i], value, 'PX', ttl) end
return #ARGV - 2
"""


def alive_key(hall_id: str) -> str:
    return keys_prefix(hall_id) + "alive"


async def write_checks(client: Redis, spec: StoreSpec, hall_ids: list[str], now_ms: int) -> list[BaseException | None]:
    """Per hall (in ``hall_ids``' order), None when its store took the write, else why not."""
    if spec.kind == "cluster":
        assert isinstance(client, RedisCluster)
        return await _on_cluster(client, hall_ids, str(now_ms))
    try:
        async with client.pipeline(transaction=False) as pipe:
            for hall_id in hall_ids:
                pipe.set(alive_key(hall_id), now_ms, px=ALIVE_MS)
            results: list[Any] = await pipe.execute(raise_on_error=False)
    except (RedisError, OSError) as exc:
        return [exc] * len(hall_ids)
    return [r if isinstance(r, BaseException) else None for r in results]


async def _on_cluster(cluster: RedisCluster, hall_ids: list[str], value: str) -> list[BaseException | None]:
    outcome: dict[str, BaseException | None] = {}
    by_node: dict[str, tuple[ClusterNode, list[str]]] = {}
    for hall_id in hall_ids:
        try:
            node = cluster.get_node_from_key(alive_key(hall_id))
        except RedisError as exc:  # the slot's master is lost and not yet replaced
            outcome[hall_id] = exc
            continue
        assert node is not None
        by_node.setdefault(node.name, (node, []))[1].append(hall_id)
    answers = await asyncio.gather(*(_on_node(cluster, node, halls, value) for node, halls in by_node.values()))
    for found in answers:
        outcome.update(found)
    return [outcome[hall_id] for hall_id in hall_ids]


async def _on_node(
    cluster: RedisCluster, node: ClusterNode, hall_ids: list[str], value: str
) -> dict[str, BaseException | None]:
    """One script for ``hall_ids`` on their master; one write each if it is refused."""
    try:
        args: list[str | int] = [*(alive_key(h) for h in hall_ids), value, ALIVE_MS]
        async with asyncio.timeout(5):
            await cluster.execute_command("EVAL", MARK_SCRIPT, 0, *args, target_nodes=node)
        return dict.fromkeys(hall_ids)
    except (RedisError, OSError, TimeoutError):
        pass  # which of them? each on its own, through the client (which follows a MOVED)

    async def mark(hall_id: str) -> None:
        async with asyncio.timeout(5):
            await cluster.set(alive_key(hall_id), value, px=ALIVE_MS)

    results = await asyncio.gather(*(mark(h) for h in hall_ids), return_exceptions=True)
    return {h: r if isinstance(r, BaseException) else None for h, r in zip(hall_ids, results, strict=True)}
