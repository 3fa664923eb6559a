"""The store factory: every ``REDIS_URL`` form hallq accepts, and the clients that serve it.

``redis://``, ``rediss://`` and ``unix://`` are one Redis (redis-py's own URL parsing).
``redis+sentinel://[:password@]host:port[,host:port…]/SERVICE[/DB]`` asks the sentinels
for SERVICE's master and follows it through failovers (redis-py's ``Sentinel.master_for``:
a connection that meets READONLY or loses its node asks the sentinels again).
``redis+cluster://[:password@]host:port[,host:port…]`` is a Redis Cluster (redis-py's
``RedisCluster``); each hall's keys share one slot through their ``{hall}`` hash tag.

Every module that opens Redis goes through here (the server, backup/restore,
``check-config --against``), so a URL that works for one works for all.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import unquote, urlsplit

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

Kind = Literal["plain", "sentinel", "cluster"]


class StoreURLError(ValueError):
    """A ``REDIS_URL`` hallq cannot use; the message says what is wrong."""


@dataclass(frozen=True)
class StoreSpec:
    """A parsed ``REDIS_URL``."""

    kind: Kind
    url: str
    hosts: tuple[tuple[str, int], ...] = ()
    password: str | None = field(default=None, repr=False)
    service: str | None = None
    db: int = 0

    @property
    def replicated(self) -> bool:
        """Whether the store is expected to have replicas (Sentinel or Cluster)."""
        return self.kind != "plain"


def _hosts(netloc: str, url: str) -> tuple[str | None, tuple[tuple[str, int], ...]]:
    password: str | None = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[1] if ":" in auth else auth) or None
    hosts: list[tuple[str, int]] = []
    for part in netloc.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise StoreURLError(f"{url!r}: each node must be host:port, not {part!r}")
        hosts.append((host.strip("[]"), int(port)))
    return password, tuple(hosts)


def parse(url: str) -> StoreSpec:
    """The :class:`StoreSpec` of ``url``; :class:`StoreURLError` for a form hallq does not know."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        return StoreSpec("plain", url)
    if scheme not in ("redis+sentinel", "redis+cluster"):
        raise StoreURLError(
            f"{url!r}: REDIS_URL must start with redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://"
        )
    parts = urlsplit(url)
    password, hosts = _hosts(parts.netloc, url)
    path = [p for p in parts.path.split("/") if p]
    if scheme == "redis+cluster":
        if path:
            raise StoreURLError(f"{url!r}: a cluster URL has no path (a cluster has database 0 only)")
        return StoreSpec("cluster", url, hosts, password)
    if not path or len(path) > 2:
        raise StoreURLError(f"{url!r}: a sentinel URL ends with /SERVICE or /SERVICE/DB")
    if len(path) == 2 and not path[1].isdigit():
        raise StoreURLError(f"{url!r}: the database must be a number, not {path[1]!r}")
    return StoreSpec("sentinel", url, hosts, password, unquote(path[0]), int(path[1]) if len(path) == 2 else 0)


def _sentinel_kwargs(timeout: float) -> dict[str, Any]:
    # Sentinels often run without a password while the data nodes have one.
    extra: dict[str, Any] = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
    if os.environ.get("HALLQ_SENTINEL_PASSWORD"):
        extra["password"] = os.environ["HALLQ_SENTINEL_PASSWORD"]
    return extra


def async_client(
    spec: StoreSpec,
    *,
    max_connections: int,
    socket_timeout: float,
    blocking: bool = True,
    decode_responses: bool = True,
) -> Redis:
    """An asyncio client of the store.

    Plain: a blocking pool (requests queue for a connection when a thousand screens
    reconnect at once instead of failing with "Too many connections"). Sentinel: the
    current master, found and followed through failovers. Cluster: a ``RedisCluster``,
    typed as ``Redis`` since hallq uses only commands both serve with the same meaning.
    """
    options: dict[str, Any] = {
        "decode_responses": decode_responses,
        "socket_connect_timeout": 2.0,
        "socket_timeout": socket_timeout,
    }
    if spec.kind == "plain":
        if not blocking:
            return Redis.from_url(spec.url, health_check_interval=10, **options)
        pool = BlockingConnectionPool.from_url(
            spec.url, max_connections=max_connections, timeout=10, health_check_interval=10, **options
        )
        return Redis.from_pool(pool)
    if spec.kind == "sentinel":
        assert spec.service is not None
        sentinel = Sentinel(list(spec.hosts), sentinel_kwargs=_sentinel_kwargs(2.0))  # type: ignore[no-untyped-call]
        client = cast(
            Redis,
            sentinel.master_for(
                spec.service,
                password=spec.password,
                db=spec.db,
                max_connections=max_connections,
                health_check_interval=10,
                **options,
            ),
        )
        client._hallq_sentinel = sentinel  # type: ignore[attr-defined]  # closed by aclose()
        return client
    nodes = [ClusterNode(host, port) for host, port in spec.hosts]
    return cast(
        Redis,
        QueuedCluster(
            startup_nodes=nodes,
            password=spec.password,
            max_connections=max_connections,
            health_check_interval=10,
            **options,
        ),
    )


#: Set while a task holds one of a :class:`QueuedCluster`'s places (a command redis-py issues
#: from inside another must not wait for a second place, or a full client would deadlock).
_in_command: contextvars.ContextVar[bool] = contextvars.ContextVar("hallq_cluster_command", default=False)


class QueuedCluster(RedisCluster):
    """A ``RedisCluster`` whose commands wait for a free connection instead of failing.

    redis-py's cluster pool raises ``MaxConnectionsError`` as soon as ``max_connections`` are
    busy on a node, where the plain store's blocking pool makes the request wait. With many
    halls that is an everyday moment (1,000 screens reconnecting, ``/healthz`` writing a key
    per hall): seen as screens told the store was down and ``/healthz`` naming hundreds of
    halls while every node was well. Here at most ``max_connections`` commands of this client
    run at once, so no node's pool is ever exhausted; the others queue, as on a plain store.
    """

    def __init__(self, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._places = asyncio.Semaphore(max_connections)

    @contextlib.asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold one of the client's places (at once when this task holds one already)."""
        if _in_command.get():
            yield
            return
        async with self._places:
            token = _in_command.set(True)
            try:
                yield
            finally:
                _in_command.reset(token)

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self.place():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        """A pipeline that waits for a place too: it takes at most one connection per node."""
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # redis-py's refusal
        # redis-py's typing marks _event_dispatcher abstract on its command mixins; the pipeline
        # gets it from its client at run time, as redis-py's own pipeline() does
        return QueuedPipeline(self, transaction)  # type: ignore[abstract]


class QueuedPipeline(ClusterPipeline):
    """A :class:`QueuedCluster`'s pipeline: its execution holds one of the client's places
    (redis-py's own took connections past them; seen as 503s while clerks logged in)."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        client = self.cluster_client
        assert isinstance(client, QueuedCluster)
        async with client.place():
            return await super().execute(raise_on_error, allow_redirections)


async def drop_idle_connections(client: Redis) -> None:
    """Close the pool's idle connections once a store is reachable again: those opened before
    the outage point at a server that is gone, and the next action would fail on one (the
    pool's own health check only looks at a connection idle for 10 s). A cluster client keeps
    a pool per node and checks its own."""
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        with contextlib.suppress(RedisError, OSError):
            await pool.disconnect(inuse_connections=False)


async def aclose(client: Redis) -> None:
    """Close a client of :func:`async_client`, with its connections to the sentinels."""
    await client.aclose()
    sentinel: Sentinel | None = getattr(client, "_hallq_sentinel", None)
    for each in sentinel.sentinels if sentinel is not None else []:
        await each.aclose()


def node_client(host: str, port: int, spec: StoreSpec, *, decode_responses: bool = True) -> Redis:
    """A plain client of one cluster node (the hub's reader and WAIT talk to a node itself).

    No retries: a node that is gone is reported at once, and the slot map is read again."""
    return Redis(
        host=host,
        port=port,
        password=spec.password,
        decode_responses=decode_responses,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=10.0,
        health_check_interval=10,
    )


def sync_client(spec: StoreSpec, *, socket_timeout: float = 60.0, connect_timeout: float = 5.0) -> redis.Redis:
    """A blocking client with raw bytes in and out (backup, restore, ``check-config --against``)."""
    if spec.kind == "plain":
        return redis.Redis.from_url(spec.url, socket_connect_timeout=connect_timeout, socket_timeout=socket_timeout)
    if spec.kind == "sentinel":
        from redis.sentinel import Sentinel as SyncSentinel

        assert spec.service is not None
        sentinel = SyncSentinel(list(spec.hosts), sentinel_kwargs=_sentinel_kwargs(connect_timeout))  # type: ignore[no-untyped-call]
        # A one-shot tool (backup, restore) talks to the master of the moment: ask once,
        # close the sentinel connections, and fail (rather than follow) should it move.
        try:
            host, port = sentinel.discover_master(spec.service)  # type: ignore[no-untyped-call]
        finally:
            for client in sentinel.sentinels:
                client.close()
        return redis.Redis(
            host=host,
            port=port,
            password=spec.password,
            db=spec.db,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
        )
    from redis.cluster import ClusterNode as SyncNode
    from redis.cluster import RedisCluster as SyncCluster

    return cast(
        redis.Redis,
        SyncCluster(
            startup_nodes=[SyncNode(host, port) for host, port in spec.hosts],  # type: ignore[no-untyped-call]
            password=spec.password,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
        ),
    )


def wait_setting(spec: StoreSpec) -> tuple[int, int]:
    """(replicas, timeout ms) of the ``WAIT`` after each action: ``HALLQ_WAIT_REPLICAS``
    (default 1 with Sentinel or Cluster, 0 — no WAIT — with one Redis) and
    ``HALLQ_WAIT_TIMEOUT_MS`` (default 100)."""
    replicas = int(os.environ.get("HALLQ_WAIT_REPLICAS", "1" if spec.replicated else "0"))
    timeout = int(os.environ.get("HALLQ_WAIT_TIMEOUT_MS", "100"))
    return max(replicas, 0), max(timeout, 1)


class ClusterAcks:
    """``WAIT`` for Redis Cluster, where redis-py routes a key-less WAIT to any node.

    WAIT counts the replicas that acknowledged the *connection's* last write. So after an
    action's script, one connection to the master owning the hall's slot writes a small
    key of that hall and WAITs: the master's replication stream is ordered, so a replica
    that has this write has the action's too. A node that no longer owns the slot answers
    MOVED (or READONLY) and nothing is acknowledged.
    """

    def __init__(self, cluster: Redis, spec: StoreSpec) -> None:
        self.cluster = cluster
        self.spec = spec
        self._nodes: dict[tuple[str, int], Redis] = {}

    async def wait(self, key: str, replicas: int, timeout_ms: int) -> int:
        """Write ``key`` on its slot's master, then WAIT: how many replicas have it."""
        cluster = self.cluster
        assert isinstance(cluster, RedisCluster)
        node = cluster.get_node_from_key(key)
        assert node is not None
        address = (node.host, node.port)
        client = self._nodes.get(address)
        if client is None:
            client = self._nodes[address] = node_client(*address, self.spec)
        # one of the cluster client's places, so a burst of actions opens no more connections
        # to a master for their WAITs than for the actions themselves
        places = cluster.place() if isinstance(cluster, QueuedCluster) else contextlib.nullcontext()
        async with places, client.pipeline(transaction=False) as pipe:
            pipe.set(key, "1", px=60_000)
            pipe.execute_command("WAIT", replicas, timeout_ms)
            _ok, acked = await pipe.execute()
        return int(acked)

    async def aclose(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
