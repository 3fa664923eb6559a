"""The fan-out writes a big hall in slices, yielding between them, and keeps each socket's order."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from server import events
from server.events import HallHub, Subscriber


class Recorder:
    """An outlet that keeps what it was offered."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def offer(self, frame: bytes, text: str) -> bool:
        self.frames.append(frame)
        return True

    def offer_batch(self, frames: bytes, texts: list[str]) -> bool:
        self.frames.append(frames)
        return True

    async def drain(self, timeout: float = 10.0) -> bool:
        return True

    def drop(self) -> None:
        pass

    def close(self) -> None:
        pass


def hub_with(count: int, kind: str = "display") -> tuple[HallHub, list[Recorder]]:
    engine: Any = SimpleNamespace(hall=SimpleNamespace(id="demo"), prefix="hallq:{demo}:")
    hub = HallHub(engine, reader=None)  # type: ignore[arg-type]
    outlets = []
    for _ in range(count):
        outlet = Recorder()
        subscriber = Subscriber(kind, outlet)
        subscriber.pending = None
        hub.add(subscriber)
        outlets.append(outlet)
    return hub, outlets


def test_a_small_hall_is_written_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "FANOUT_SLICE", 10)

    async def main() -> None:
        hub, outlets = hub_with(5)
        hub.publish_batch([{"seq": 1, "type": "ticket.issued"}])
        assert all(len(o.frames) == 1 for o in outlets)

    asyncio.run(main())


def test_a_big_hall_yields_between_slices_and_keeps_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "FANOUT_SLICE", 3)

    async def main() -> None:
        hub, outlets = hub_with(10)
        seen: list[int] = []

        async def other() -> None:  # e.g. a clerk's HTTP answer
            seen.append(sum(len(o.frames) for o in outlets))

        hub.publish_batch([{"seq": 1, "type": "ticket.issued"}])
        hub.publish_batch([{"seq": 2, "type": "ticket.called"}])
        hub.broadcast({"type": "ping"})
        task = asyncio.create_task(other())
        await task
        # the other task ran while the first event was still being written
        assert seen and seen[0] < 10
        while hub._jobs:
            await asyncio.sleep(0)
        for outlet in outlets:
            assert len(outlet.frames) == 3
            assert b'"seq":1' in outlet.frames[0] and b'"seq":2' in outlet.frames[1]
            assert b"ping" in outlet.frames[2]
        await hub.stop()

    asyncio.run(main())
