"""Every webhook receiver of every hall of this process: one :class:`~server.webhooks.ReceiverTask` each.

Events handed over by each hall's hub wake its receivers; hall-file reloads start new
receivers' tasks and stop those no longer listed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from server import tasks
from server.webhook_rules import receiver_id
from server.webhook_state import Settings
from server.webhooks import ReceiverTask

if TYPE_CHECKING:
    from server.runtime import Runtime


class Deliveries:
    """Every receiver of every hall of this process; follows hall-file reloads."""

    def __init__(self, runtime: Runtime, settings: Settings | None = None) -> None:
        self.runtime = runtime
        self.settings = settings or Settings.from_env()
        self.receivers: dict[tuple[str, str], ReceiverTask] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Follow every receiver; each new one's cursor is fixed before this returns (so before
        the process answers a request: nothing acknowledged from then on is skipped)."""
        for hall_id, hall in self.runtime.halls.items():

            def wake(event: dict[str, Any], hall_id: str = hall_id) -> None:
                if "seq" in event:
                    for (hid, _rid), receiver in self.receivers.items():
                        if hid == hall_id:
                            receiver.handed.append((int(event["seq"]), event))
                            receiver.wake.set()

            hall.hub.listeners.append(wake)
        await self.reconcile()
        self._task = asyncio.create_task(self._follow(), name="webhooks")

    async def reconcile(self) -> list[ReceiverTask]:
        """Start tasks for receivers new in the hall files (their cursors fixed first); return
        those no longer listed."""
        wanted = {
            (hall_id, receiver_id(w.url)) for hall_id, hall in self.runtime.halls.items() for w in hall.hall.webhooks
        }
        for key in wanted - set(self.receivers):
            receiver = ReceiverTask(self.runtime, key[0], key[1], self.settings)
            self.receivers[key] = receiver
            await receiver.begin()
            receiver.start()
        return [self.receivers.pop(key) for key in set(self.receivers) - wanted]

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            for gone in await self.reconcile():
                await gone.stop()

    async def stop(self) -> None:
        await tasks.stop(self._task)
        await asyncio.gather(*(r.stop() for r in self.receivers.values()), return_exceptions=True)
        self.receivers.clear()
