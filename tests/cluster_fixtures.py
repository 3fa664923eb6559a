"""Real Redis topologies from Debian's ``/usr/bin/redis-server`` 7, for the store tests.

:class:`RedisNode` is one redis-server in a temp dir on a free port; :func:`start_cluster`
makes 3 masters with a replica each (``redis-cli --cluster create``); :func:`start_sentinels`
a master, a replica and 3 sentinels. Every process is killed at the end, whatever happens.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as sync_redis

from server.embedded import free_port

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def require_debian_redis() -> None:
    if not Path(REDIS_SERVER).exists() or shutil.which("redis-cli") is None:
        pytest.fail(f"{REDIS_SERVER} and redis-cli are needed (apt-get install redis-server)")


@dataclass
class RedisNode:
    """One real redis-server (or sentinel) process."""

    folder: Path
    port: int = field(default_factory=free_port)
    extra: list[str] = field(default_factory=list)
    sentinel: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisNode:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / ("sentinel.conf" if self.sentinel else "redis.conf")
        if not config.exists():  # a restart keeps its config (a sentinel rewrites its own)
            lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.folder}"]
            if not self.sentinel:
                lines += ['save ""', "appendonly no"]
            config.write_text("\n".join(lines + self.extra) + "\n")
        command = [REDIS_SERVER, str(config)] + (["--sentinel"] if self.sentinel else [])
        with (self.folder / "log.txt").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except (sync_redis.RedisError, OSError):
                time.sleep(0.05)
        raise RuntimeError(
            f"redis-server on {self.port} did not start: {(self.folder / 'log.txt').read_text()[-1000:]}"
        )

    def client(self) -> sync_redis.Redis:
        return sync_redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)

    def kill(self) -> None:
        """kill -9: no goodbye, like a machine that dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class Cluster:
    masters: list[RedisNode]
    replicas: list[RedisNode]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.masters)

    def nodes(self) -> list[RedisNode]:
        return self.masters + self.replicas

    def master_of(self, key: str) -> RedisNode:
        slot = int(self.masters[0].client().execute_command("CLUSTER", "KEYSLOT", key))
        for node in self.nodes():
            if node.process is None or node.process.poll() is not None:
                continue
            for start, end, *owners in node.client().execute_command("CLUSTER", "SLOTS"):
                if int(start) <= slot <= int(end):
                    port = int(owners[0][1])
                    return next(n for n in self.nodes() if n.port == port)
        raise LookupError(key)

    def stop(self) -> None:
        for node in self.nodes():
            node.kill()


def start_cluster(folder: Path) -> Cluster:
    """3 masters with a replica each, slots assigned, every node agreeing."""
    require_debian_redis()
    options = [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",
        "cluster-node-timeout 2000",
        # a master lost with its replica takes only its own slots (halls) down, not the city
        "cluster-require-full-coverage no",
    ]
    nodes = [RedisNode(folder / f"node{i}", extra=options) for i in range(6)]
    cluster = Cluster(nodes[:3], nodes[3:])
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{n.port}" for n in nodes),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [n.client().execute_command("CLUSTER", "INFO") for n in nodes]
            if all("cluster_state:ok" in str(i) for i in infos):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the cluster did not come up")
        # --cluster-replicas picks the pairs itself: read who is master now
        cluster.masters = [n for n in nodes if n.client().info("replication")["role"] == "master"]
        cluster.replicas = [n for n in nodes if n not in cluster.masters]
        deadline = time.monotonic() + 30
        while any(r.client().info("replication").get("master_link_status") != "up" for r in cluster.replicas):
            if time.monotonic() > deadline:
                raise RuntimeError("the replicas did not sync")
            time.sleep(0.1)
        return cluster
    except BaseException:
        cluster.stop()
        raise


@dataclass
class SentinelSet:
    master: RedisNode
    replica: RedisNode
    sentinels: list[RedisNode]
    service: str = "hallq"

    @property
    def url(self) -> str:
        return "redis+sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + f"/{self.service}/0"

    def current_master_port(self) -> int:
        for sentinel in self.sentinels:
            try:
                _host, port = sentinel.client().execute_command("SENTINEL", "get-master-addr-by-name", self.service)
                return int(port)
            except (sync_redis.RedisError, OSError):
                continue
        raise RuntimeError("no sentinel answers")

    def stop(self) -> None:
        for node in [*self.sentinels, self.master, self.replica]:
            node.kill()


def start_sentinels(folder: Path) -> SentinelSet:
    """A master, one replica and 3 sentinels (quorum 2, failover within ~1–3 s)."""
    require_debian_redis()
    master = RedisNode(folder / "master")
    replica = RedisNode(folder / "replica")
    replica.extra = [f"replicaof 127.0.0.1 {master.port}"]
    sentinels = [RedisNode(folder / f"sentinel{i}", sentinel=True) for i in range(3)]
    group = SentinelSet(master, replica, sentinels)
    for sentinel in sentinels:
        sentinel.extra = [
            f"sentinel monitor hallq 127.0.0.1 {master.port} 2",
            "sentinel down-after-milliseconds hallq 1000",
            "sentinel failover-timeout hallq 5000",
            "sentinel parallel-syncs hallq 1",
        ]
    try:
        master.start()
        replica.start()
        deadline = time.monotonic() + 20
        while replica.client().info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not sync")
            time.sleep(0.1)
        for sentinel in sentinels:
            sentinel.start()
        deadline = time.monotonic() + 20
        while True:  # every sentinel knows the replica and the other sentinels
            fields = [s.client().sentinel_master("hallq") for s in sentinels]
            if all(int(f["num-slaves"]) >= 1 and int(f["num-other-sentinels"]) >= 2 for f in fields):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinels did not settle: {fields}")
            time.sleep(0.2)
        return group
    except BaseException:
        group.stop()
        raise


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path / "cluster")
    yield cluster
    cluster.stop()


@pytest.fixture
def sentinel_set(tmp_path: Path) -> Iterator[SentinelSet]:
    group = start_sentinels(tmp_path / "sentinel")
    yield group
    group.stop()


@pytest.fixture
def debian_redis(tmp_path: Path) -> Iterator[RedisNode]:
    """One plain redis-server of our own (a test may turn it into a replica)."""
    require_debian_redis()
    node = RedisNode(tmp_path / "redis").start()
    yield node
    node.kill()
