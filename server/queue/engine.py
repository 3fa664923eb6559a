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
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from server.hall_model import Hall, Staff
from server.hours import HallTime, closed_for, hall_time, holiday_at, issuing_open
from server.queue.action_args import action_args, all_windows, rate_args, window_of
from server.queue.answers import as_list, place_of, snapshot_of, window_state_of, with_eta
from server.queue.constants import NUMBER_RE, STATS_BATCH, keys_prefix
from server.queue.errors import Refusal
from server.queue.ids import check_request_id, scoped_request_id
from server.queue.rules import group_of
from server.queue.scripts import ACTIONS, READING_SCRIPTS, SCRIPTS, load_lua, prelude
from server.remote import remote_refusal
from server.store import ClusterAcks

log = logging.getLogger("hallq.engine")


@dataclass
class Engine:
    """One hall's queue on Redis. Methods answer plain dicts or raise :class:`Refusal`."""

    redis: Redis
    hall: Hall
    secret: bytes
    clock: Callable[[], float] = time.time
    #: Overrides the hall's ``rules.min_call_interval_s`` (None: the hall's; 0: no guard,
    #: for benchmarks and scripted tests that call at machine speed).
    min_call_interval_s: float | None = None
    #: ``WAIT`` this many replicas after each write (0: no WAIT, one Redis); see docs/operations.md.
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    #: With Redis Cluster, who runs the WAIT on the slot's master (see :class:`ClusterAcks`).
    acks: ClusterAcks | None = None
    _scripts: dict[str, AsyncScript] = field(default_factory=dict, init=False, repr=False)
    _moment_cache: tuple[int, HallTime] | None = field(default=None, init=False, repr=False)

    @property
    def call_interval_s(self) -> float:
        """The pause a window must leave between two calls (the override, else the hall's rule)."""
        if self.min_call_interval_s is not None:
            return self.min_call_interval_s
        return float(self.hall.rules.min_call_interval_s)

    def __post_init__(self) -> None:
        text = prelude()
        for name in SCRIPTS:
            # Each action is its own script (prelude + body): one EVALSHA round trip per action.
            self._scripts[name] = self.redis.register_script(text + load_lua(name))
        self.prefix = keys_prefix(self.hall.id)
        self._window_ids = [w.id for w in self.hall.windows]

    # --- plumbing -------------------------------------------------------

    async def _run(self, name: str, args: dict[str, Any], *, dated: bool = True) -> dict[str, Any]:
        """Run script ``name``; roll the business day over first if it has changed."""
        for _attempt in range(2):
            now = self.clock()
            moment = self._moment(now)
            payload = {
                # absent, never null: Lua's cjson turns null into a truthy userdata
                **{k: v for k, v in args.items() if v is not None},
                "now": int(now * 1000),
                "hour": moment.hour,
                "hall": self.hall.id,
                "retention": self.hall.event_retention,
                "today": moment.day,
            }
            if dated:
                payload["day"] = moment.day
            raw, acked = await self._script(name, json.dumps(payload))
            answer: dict[str, Any] = json.loads(raw)
            if answer.get("ok"):
                if acked < self.wait_replicas:
                    # Done on the master but not (yet) on a replica: a failover now would lose
                    # it, so it is not acknowledged. A retry with the same request_id answers
                    # the same once replicated (or does it, if the master was lost meanwhile).
                    raise Refusal(
                        "redis_unavailable",
                        f"the change was not confirmed by {self.wait_replicas} replica(s) within "
                        f"{self.wait_timeout_ms} ms; try again",
                    )
                return answer
            if answer.get("code") == "day_changed":
                await self.rollover()
                continue
            extra = {k: v for k, v in answer.items() if k not in ("ok", "code", "message")}
            raise Refusal(answer["code"], answer["message"], extra)
        raise Refusal("day_changed", "the business day changed during the request; try again")

    async def _script(self, name: str, payload: str) -> tuple[str, int]:
        """Run script ``name``: (its answer, replicas that have its writes).

        Without ``wait_replicas`` (one Redis) this is the one EVALSHA. With it, writing
        scripts are followed by ``WAIT`` on the same connection (a pipeline: WAIT counts the
        connection's own writes and cannot run inside a script); with a cluster, by
        :class:`ClusterAcks`. Replicas count as ``wait_replicas`` for reads.
        """
        script = self._scripts[name]
        keys = [self.prefix + "seq"]
        if not self.wait_replicas or name in READING_SCRIPTS:
            return await script(keys=keys, args=[payload]), self.wait_replicas
        if self.acks is not None:
            raw = await script(keys=keys, args=[payload])
            return raw, await self.acks.wait(self.prefix + "ack", self.wait_replicas, self.wait_timeout_ms)
        async with self.redis.pipeline(transaction=False) as pipe:
            await script(keys=keys, args=[payload], client=pipe)
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
            raw, acked = await pipe.execute()
        return raw, int(acked)

    def _moment(self, now: float) -> HallTime:
        """``hall_time`` of ``now``, computed once per second (it is on every action's path)."""
        second = int(now)
        if self._moment_cache is None or self._moment_cache[0] != second:
            self._moment_cache = (second, hall_time(now, self.hall))
        return self._moment_cache[1]

    async def rollover(self) -> dict[str, Any]:
        """Start a new business day if it has begun: leftovers expire, numbering restarts."""
        answer = await self._run("rollover", {"rollover": True, "windows": self._window_ids})
        if answer.get("rolled"):  # exactly one process sees rolled=true: logged once per hall and day
            log.info(
                "hall %s: new business day, %d open ticket(s) expired (seq %s)",
                self.hall.id,
                answer.get("expired", 0),
                answer.get("seq"),
            )
        return answer

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

    async def set_notice(self, text: str) -> dict[str, Any]:
        """Set the notice line shown on every display (``hall.notice``)."""
        if not isinstance(text, str) or len(text) > 200:
            raise Refusal("bad_notice", "the notice must be text of at most 200 characters")
        return await self._run("notice", {"text": text.strip()})

    async def announce_config(self, config_hash: str, version: str, *, quiet: bool = False) -> dict[str, Any]:
        """Record the hall file's hash; emit ``hall.config`` once when it changed (unless ``quiet``)."""
        return await self._run("config", {"hash": config_hash, "version": version, "quiet": quiet or None}, dated=False)

    async def events_after(self, seq: int, limit: int = 10_000) -> list[dict[str, Any]] | None:
        """Events with seq > ``seq`` in order, or None when some were already trimmed."""
        key = self.prefix + "events"
        entries: list[Any] = await self.redis.xrange(key, f"{seq + 1}-0", "+", count=limit)  # type: ignore[assignment]
        if entries:
            first = int(entries[0][0].split("-")[0])
            return [json.loads(fields["e"]) for _id, fields in entries] if first == seq + 1 else None
        current = int(await self.redis.get(self.prefix + "seq") or 0)
        # A client ahead of us remembers another Redis (e.g. data lost): it needs a snapshot.
        return [] if current == seq else None
