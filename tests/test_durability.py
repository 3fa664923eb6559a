"""Kill -9 the embedded Redis after issuing tickets; started again on the same data folder,
every acknowledged ticket is still there, and the event numbering carries on."""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

from server.embedded import EmbeddedRedis
from server.hall_model import Hall
from server.queue.engine import Engine
from tests.conftest import HallClock


async def test_acknowledged_tickets_survive_sigkill(tmp_path: Path, hall: Hall, clock: HallClock) -> None:
    data = tmp_path / "redis"
    first = EmbeddedRedis(data, durable=True)
    first.start()
    acknowledged: dict[str, dict[str, object]] = {}
    client = Redis.from_url(first.url, decode_responses=True)
    try:
        # a SIGKILL loses nothing written; fsync on every write also covers a power cut
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
        assert await client.config_get("appendfsync") == {"appendfsync": "always"}
        engine = Engine(client, hall, secret=b"k", clock=clock)
        s01 = hall.staff_member("s01")
        assert s01 is not None
        for index in range(60):
            services = [("register", "transfer", "pension", "photo")[index % 4]]
            answer = await engine.issue(services, priority=index % 7 == 0)
            acknowledged[answer["ticket"]["token"]] = answer["ticket"]
        called = await engine.act("1", "call_next", s01)
        acknowledged[called["ticket"]["token"]] = called["ticket"]
        last_seq = called["seq"]
    finally:
        await client.aclose()
    first.kill()  # SIGKILL: no chance to flush anything more
    assert first.process is not None and first.process.returncode == -9
    assert (data / "hallq.aof").exists() or any(data.rglob("hallq.aof*"))

    second = EmbeddedRedis(data, durable=True)
    second.start()
    client = Redis.from_url(second.url, decode_responses=True)
    try:
        engine = Engine(client, hall, secret=b"k", clock=clock)
        found = await engine.tickets(list(acknowledged))
        assert len(found) == len(acknowledged)
        for item in found:
            before = acknowledged[item["ticket"]["token"]]
            assert item["ticket"]["number"] == before["number"]
            assert item["ticket"]["status"] == before["status"]
        replay = await engine.events_after(0)
        assert replay is not None and [e["seq"] for e in replay] == list(range(1, last_seq + 1))
        # the hall carries on: numbering and seq continue where they were
        more = await engine.issue(["register"])
        assert more["seq"] == last_seq + 1
        assert more["ticket"]["number"] == "A016"
        state = await engine.window_state("1")
        assert state["window"]["ticket"]["number"] == called["ticket"]["number"]
    finally:
        await client.aclose()
        second.stop()
