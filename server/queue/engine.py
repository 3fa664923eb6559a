"""The queue engine: every change to a hall's queue as one atomic Redis script.

The engine validates what it can from the hall file (known services, windows,
formats), then runs exactly one Lua script per action: the script checks the
live state, changes it, appends the event with the next ``seq`` and records the
``request_id`` answer, or refuses and changes nothing. Python never reads,
modifies and writes back; it holds no lock across an await.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from typing import Any

from server.hall_model import Staff
from server.hours import closed_for, holiday_at, issuing_open
from server.queue.action_args import action_args, all_windows, rate_args, window_of
from server.queue.answers import as_list, with_eta
from server.queue.constants import STATS_BATCH
from server.queue.errors import Refusal
from server.queue.ids import check_request_id, scoped_request_id
from server.queue.reads import QueueReads
from server.queue.rules import group_of
from server.queue.scripts import ACTIONS
from server.remote import remote_refusal

log = logging.getLogger("hallq.engine")


class Engine(QueueReads):
    """One hall's queue on Redis. Methods answer plain dicts or raise :class:`Refusal`.

    Its fields and the running of scripts are :class:`~server.queue.runner.ScriptRunner`'s,
    its readings (tickets, a window, the snapshot, missed events)
    :class:`~server.queue.reads.QueueReads`'; here are the changes.
    """

    async def count_stats(self, batch: int = STATS_BATCH) -> int:
        """Count the statistics of every event not yet counted; answers how many were counted.

        The actions write no counters: their events carry the facts and this step counts them
        (``lua/stats.lua``), ``batch`` events per script, advancing ``stats_seq`` in the same
        script, so any number of processes may run it at once and each event counts once.
        Run before reading counters, a read sees every action acknowledged before it.
        """
        counted = 0
        while True:
            answer = await self._run("count_stats", {"limit": batch}, dated=False)
            counted += int(answer["counted"])
            if answer["lost"]:  # only a stream cut behind the counting (e.g. a partial restore)
                log.error("hall %s: %d event(s) gone before they were counted", self.hall.id, answer["lost"])
            if not answer["left"]:
                return counted

    def person_hash(self, id_number: str) -> str:
        """A keyed hash of an ID number: equal numbers match, the number itself is never kept."""
        normal = re.sub(r"\s+", "", id_number).upper()
        return hmac.new(self.secret, f"{self.hall.id}:{normal}".encode(), hashlib.sha256).hexdigest()[:32]

    # --- visitors -------------------------------------------------------

    async def issue(  # noqa: C901 — argument checks before the one script call, each its own refusal
        self,
        services: Sequence[str],
        *,
        priority: bool = False,
        lang: str | None = None,
        id_number: str | None = None,
        request_id: str | None = None,
        caller: str = "anonymous",
        channel: str = "kiosk",
    ) -> dict[str, Any]:
        """Issue a ticket covering ``services``: ``{"ticket", "ahead", "eta_s", "seq"}``.

        The same ``request_id`` from the same ``caller`` issues once and answers the same.
        ``channel="remote"`` is a phone before arriving: the hall file's ``[remote]`` rules
        (:func:`server.remote.remote_refusal`) instead of the kiosk's hours, and its daily
        remote quota counted in the same script; the ticket is marked ``remote``.
        """
        services = list(services)
        if not services:
            raise Refusal("no_services", "choose at least one service")
        if len(set(services)) != len(services):
            raise Refusal("duplicate_service", "a service is listed twice")
        for service_id in services:
            if self.hall.service(service_id) is None:
                raise Refusal("unknown_service", f"there is no service {service_id!r} in this hall")
        if not self.hall.windows_serving(services):
            raise Refusal("no_window_serves", "no window serves these services together; take separate tickets")
        lang = lang or self.hall.languages[0]
        if lang not in self.hall.languages:
            raise Refusal("unknown_language", f"language {lang!r} is not offered here")
        check_request_id(request_id)
        remote = channel == "remote"
        why = remote_refusal(self.clock(), self.hall) if remote else None
        if why is not None and why[0] == "remote_off":
            raise Refusal(*why)
        holiday = holiday_at(self.clock(), self.hall)
        if holiday is not None:  # the calendar closes the hall: say which holiday
            raise closed_for(holiday)
        if why is not None:
            raise Refusal(*why)
        if not remote and not issuing_open(self.clock(), self.hall):
            raise Refusal("hall_closed", "ticket issuing has closed for today / 今日已停止取号")
        first = self.hall.service(services[0])
        assert first is not None
        quotas = {s.id: s.daily_quota for s in self.hall.services if s.daily_quota and s.id in services}
        args = {
            "token": f"{self.hall.id}.{secrets.token_urlsafe(18)}",
            "services": services,
            "group": group_of(services),
            "priority": bool(priority),
            "lang": lang,
            "prefix": first.prefix,
            "quotas": quotas or {"": 0},
            "windows": self._window_ids,
            "all_windows": all_windows(self.hall),
            "rid": scoped_request_id("issue", caller, request_id) if request_id else None,
        }
        if remote:
            args["channel"] = "remote"
            assert self.hall.remote is not None  # remote_refusal let it through
            if self.hall.remote.daily_quota:
                args["remote_quota"] = self.hall.remote.daily_quota
        if id_number:
            args["person"] = self.person_hash(id_number)
        answer = await self._run("issue", args)
        return with_eta(self.hall, answer)

    async def cancel(self, token: str) -> dict[str, Any]:
        """Cancel a waiting or suspended ticket."""
        return await self._run("cancel", {"token": token})

    async def rate(
        self,
        score: int,
        reasons: Sequence[str] = (),
        *,
        token: str | None = None,
        window: str | None = None,
        number: str | None = None,
    ) -> dict[str, Any]:
        """Record the one rating of a done visit, by token or at a window's rating pad."""
        args = rate_args(self.hall, score, reasons, token=token, window=window, number=number)
        return await self._run("rate", args)

    # --- windows --------------------------------------------------------

    async def act(
        self,
        window_id: str,
        action: str,
        staff: Staff,
        *,
        ticket: str | None = None,
        service: str | None = None,
        to_window: str | None = None,
        request_id: str | None = None,
        caller: str | None = None,
    ) -> dict[str, Any]:
        """Perform a window action for ``staff``: ``{"window", "ticket", "seq"}``.

        The same ``request_id`` from the same ``caller`` (default: the staff member) for the
        same action at the same window performs it once and answers the same.
        """
        window = window_of(self.hall, window_id)
        if action not in ACTIONS:
            raise Refusal("unknown_action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        check_request_id(request_id)
        rid = None
        if request_id:
            rid = scoped_request_id(f"{action}@{window.id}", caller or f"staff:{staff.id}", request_id)
        args = action_args(
            self.hall,
            window,
            action,
            staff,
            rid=rid,
            ticket=ticket,
            service=service,
            to_window=to_window,
            min_call_ms=int(self.call_interval_s * 1000),
            window_ids=self._window_ids,
        )
        try:
            answer = await self._run(action, args)
        except Refusal as refusal:
            if "open_windows" in refusal.details:  # none open: Lua's empty table reads as {}
                refusal.details["open_windows"] = as_list(refusal.details["open_windows"])
            raise
        return {"window": answer["window"], "ticket": answer["ticket"], "seq": answer["seq"]}

    async def orphans(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Settle open tickets this hall file can no longer serve (after an edit of the file).

        ``{"expired": [...], "returned": [...], "seq"}``, each item ``{"number", "status",
        "services", "window", "reason"}``: tickets with a service the hall no longer has,
        that no window serves, or in hand at a window that is gone, expire
        (``ticket.expired`` with ``reason``); tickets transferred to a window that is gone,
        closed or paused go back to their services' line (``ticket.transferred``). One
        atomic script; ``dry_run`` only lists and writes nothing.
        """
        args = {"services": [s.id for s in self.hall.services], "all_windows": all_windows(self.hall)}
        if dry_run:
            args["dry"] = True
        answer = await self._run("orphans", args, dated=not dry_run)
        return {"expired": as_list(answer["expired"]), "returned": as_list(answer["returned"]), "seq": answer["seq"]}

    # --- the hall -------------------------------------------------------

    async def set_notice(self, text: str) -> dict[str, Any]:
        """Set the notice line shown on every display (``hall.notice``)."""
        if not isinstance(text, str) or len(text) > 200:
            raise Refusal("bad_notice", "the notice must be text of at most 200 characters")
        return await self._run("notice", {"text": text.strip()})

    async def announce_config(self, config_hash: str, version: str, *, quiet: bool = False) -> dict[str, Any]:
        """Record the hall file's hash; emit ``hall.config`` once when it changed (unless ``quiet``)."""
        return await self._run("config", {"hash": config_hash, "version": version, "quiet": quiet or None}, dated=False)
