"""The store factory's URL forms, and a store that stops taking writes (a replica)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server import backup
from server.runtime import SECRET_KEY, Runtime
from server.store import StoreURLError, parse, wait_setting
from tests.cluster_fixtures import RedisNode
from tests.live import LiveServer


def test_every_url_form_of_the_contract_parses() -> None:
    assert parse("redis://127.0.0.1:6379/2").kind == "plain"
    assert parse("rediss://h:6380").kind == "plain"
    assert parse("unix:///run/redis.sock?db=1").kind == "plain"
    spec = parse("redis+sentinel://:s%40cret@10.0.0.1:26379,10.0.0.2:26379/hallq/3")
    assert (spec.kind, spec.hosts, spec.password, spec.service, spec.db) == (
        "sentinel",
        (("10.0.0.1", 26379), ("10.0.0.2", 26379)),
        "s@cret",
        "hallq",
        3,
    )
    assert parse("redis+sentinel://s1:26379/mymaster").db == 0
    spec = parse("redis+cluster://:pw@a:7000,b:7001,c:7002")
    assert (spec.kind, spec.hosts, spec.password) == ("cluster", (("a", 7000), ("b", 7001), ("c", 7002)), "pw")


@pytest.mark.parametrize(
    "url",
    [
        "http://x:1",
        "localhost:6379",
        "redis+sentinel://s1:26379",
        "redis+sentinel://s1:26379/a/b",
        "redis+sentinel://s1/hallq",
        "redis+cluster://a:7000/0",
        "redis+cluster://a:x",
    ],
)
def test_a_url_hallq_cannot_use_is_refused_with_a_reason(url: str) -> None:
    with pytest.raises(StoreURLError):
        parse(url)


def test_wait_defaults_to_one_replica_only_with_replicated_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLQ_WAIT_REPLICAS", raising=False)
    monkeypatch.delenv("HALLQ_WAIT_TIMEOUT_MS", raising=False)
    assert wait_setting(parse("redis://h:1")) == (0, 100)
    assert wait_setting(parse("redis+cluster://h:1")) == (1, 100)
    monkeypatch.setenv("HALLQ_WAIT_REPLICAS", "0")
    assert wait_setting(parse("redis+sentinel://h:1/s")) == (0, 100)


def test_serve_refuses_a_url_it_cannot_use(live_data: Path) -> None:
    server = LiveServer("redis+sentinel://127.0.0.1:1", live_data)
    with pytest.raises(RuntimeError, match="sentinel URL ends with /SERVICE"):
        server.start(timeout=10)


def test_a_store_turned_replica_is_named_by_healthz_and_writes_get_503(
    debian_redis: RedisNode, live_data: Path, tmp_path: Path
) -> None:
    """What happens to a plain URL whose Redis was demoted: no write is acknowledged, and
    /healthz says which hall cannot work instead of "ok"."""
    server = LiveServer(debian_redis.url, live_data)
    server.start()
    other = RedisNode(tmp_path / "other").start()
    try:
        assert server.issue()["ticket"]["number"] == "A001"
        debian_redis.client().execute_command("REPLICAOF", "127.0.0.1", str(other.port))
        deadline = time.monotonic() + 10
        while debian_redis.client().info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, body = server.request("POST", "/api/halls/demo/tickets", {"services": ["register"]})
        assert status == 503 and body["error"]["code"] == "redis_unavailable", body
        status, body = server.request("GET", "/healthz")
        assert status == 503 and body["status"] == "degraded", body
        assert "not writable" in body["halls"]["demo"] and "ReadOnly" in body["halls"]["demo"]
        debian_redis.client().execute_command("REPLICAOF", "NO", "ONE")
        status, body = server.request("GET", "/healthz")
        assert (status, body) == (200, {"status": "ok"})
    finally:
        server.stop()
        other.kill()


async def test_the_secret_is_tagged_and_an_older_store_keeps_its_key(redis: Redis, tmp_path: Path) -> None:
    """A cluster needs every key tagged: the key of ID-number hashes is ``hallq:{_hallq}:secret``;
    a store from before keeps its ``hallq:secret`` value, so duplicate checks keep matching."""
    await redis.set("hallq:secret", "older-key")
    runtime = Runtime("redis://unused", [], tmp_path)
    runtime.redis = redis
    assert await runtime._secret() == b"older-key"
    assert await redis.get(SECRET_KEY) == "older-key"
    await redis.flushdb()
    made = await runtime._secret()
    assert len(made) == 64 and await runtime._secret() == made
    assert await redis.get("hallq:secret") is None
    assert backup.hall_of(SECRET_KEY.encode()) is None  # a backup keeps it as a loose key
