"""What pads, kiosks, screens and phones read of a hall's queue: tickets (by token or
number, with their place), a window as its pad sees it, the hall's snapshot, the events a
socket missed. Each is one reading script (or a stream read) and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from server.hours import holiday_at, issuing_open
from server.queue.action_args import all_windows, window_of
from server.queue.answers import as_list, place_of, snapshot_of, window_state_of, with_eta
from server.queue.constants import NUMBER_RE
from server.queue.errors import Refusal
from server.queue.runner import ScriptRunner


class QueueReads(ScriptRunner):
    """The readings of one hall's queue (the base of :class:`~server.queue.engine.Engine`)."""

    # --- tickets --------------------------------------------------------

    async def ticket(self, token: str) -> dict[str, Any] | None:
        """``{"ticket", "ahead", "eta_s", "place"}`` for a token, or None when unknown.

        ``place`` (None unless waiting) is where the ticket stands as of ``place["seq"]``, for a
        phone that follows the hall's shared events itself (:mod:`server.place`).
        """
        found = await self.tickets([token], place=True)
        return found[0] if found else None

    async def tickets(self, tokens: Sequence[str], *, place: bool = False) -> list[dict[str, Any]]:
        """Several tickets by token in one round trip (unknown ones left out)."""
        if not tokens:
            return []
        answer = await self._run(
            "ticket_info",
            {
                "tokens": list(tokens),
                "windows": self._window_ids,
                "all_windows": all_windows(self.hall),
                "place": place,
            },
            dated=False,
        )
        found = [with_eta(self.hall, {**item, "eta": answer["eta"]}) for item in as_list(answer["tickets"])]
        if place:
            for item, raw in zip(found, as_list(answer["tickets"]), strict=True):
                item["seq"] = int(answer["seq"])
                item["place"] = place_of(self.hall, raw, answer["eta"], int(answer["seq"]))
        return found

    async def ticket_by_number(self, number: str) -> dict[str, Any] | None:
        """Today's ticket ``number`` (e.g. "A012") with its token, or None."""
        if not NUMBER_RE.fullmatch(number):
            raise Refusal("bad_ticket_number", "a ticket number is a letter and three digits, e.g. A012")
        answer = await self._run(
            "ticket_info",
            {"number": number, "windows": self._window_ids, "all_windows": all_windows(self.hall)},
            dated=False,
        )
        items = as_list(answer["tickets"])
        return with_eta(self.hall, {**items[0], "eta": answer["eta"]}) if items else None

    # --- windows --------------------------------------------------------

    async def window_state(self, window_id: str, limit: int = 50) -> dict[str, Any]:
        """One window as its pad sees it: the window (ticket with token), waiting per service,
        served today, ``queue`` (the first ``limit`` tickets it can call, in calling order),
        ``queue_total`` (distinct tickets it can call: a combined ticket counts once),
        ``suspended`` (tickets on hold it could resume) and ``min_call_interval_s``."""
        window = window_of(self.hall, window_id)
        args = {"window": window.id, "tiers": [list(t) for t in window.tiers], "limit": limit}
        answer = await self._run("window_state", args, dated=False)
        return window_state_of(self.hall, window.services, answer)

    # --- the hall -------------------------------------------------------

    async def snapshot(self) -> dict[str, Any]:
        """The hall's state and the ``seq`` it reflects, as ``GET /state`` answers it.

        Besides windows, waiting counts and recent calls, what a lobby shows: ``no_shows``
        (the 过号 list: tickets marked no-show that wait to be called again, newest first,
        at most 12), and per service ``expected_wait_s`` (a ticket taken
        now: :func:`server.eta.estimate_wait_s` with the service's waiting count ahead) and
        ``visit_s`` (the mean visit and the open windows it divides by are what a screen
        needs to recompute the wait from the counts and window states on events).
        """
        ids = [s.id for s in self.hall.services]
        answer = await self._run(
            "snapshot",
            {"windows": self._window_ids, "services": ids, "no_shows_max": 12},
            dated=False,
        )
        state = snapshot_of(self.hall, answer, issuing=issuing_open(self.clock(), self.hall))
        holiday = holiday_at(self.clock(), self.hall)
        state["holiday"] = None if holiday is None else holiday.name  # the kiosk says why it is closed
        return state

    async def events_after(self, seq: int, limit: int = 10_000) -> list[dict[str, Any]] | None:
        """Events with seq > ``seq`` in order, or None when some were already trimmed or the
        client is ahead of this store (it saw seqs this Redis never made: replaced, or restored
        from an older copy; replaying "nothing" would leave its screen stale for good).

        The hall's seq is read before the stream: events are only ever appended after it, so
        one appended between the two reads is in the replay. Read the other way round, an
        event issued in between (a kiosk busy while a screen reconnects) made the seq look
        ahead of an empty replay, and the screen got a snapshot instead of the event (a call
        in it would not have been spoken).
        """
        current = int(await self.redis.get(self.prefix + "seq") or 0)
        key = self.prefix + "events"
        entries: list[Any] = await self.redis.xrange(key, f"{seq + 1}-0", "+", count=limit)  # type: ignore[assignment]
        if entries:
            first = int(entries[0][0].split("-")[0])
            return [json.loads(fields["e"]) for _id, fields in entries] if first == seq + 1 else None
        return [] if current == seq else None
