"""Prometheus metrics (prometheus-client), right across ``--workers N``.

Each worker has its own memory, so ``hallq serve`` runs prometheus-client in its
multiprocess mode: every process writes its values to files in one directory
(``PROMETHEUS_MULTIPROC_DIR``, by default ``DATA/metrics``, emptied at start) and
``GET /metrics``, answered by whichever worker gets it, sums them. Gauges of live
things (sockets, the speech queue) use the ``livesum`` mode: a worker that exits
takes its share with it (its files are removed on shutdown, or at the next scrape
when it died without one).

Values that are the same for every worker (the hall's event count, Redis being up)
are read from Redis when scraped, so they are never counted once per worker.

Socket counts are sampled from the hubs every :data:`SAMPLE_S` seconds and right
before a scrape, instead of counting at every connect and disconnect: the hot path
stays untouched and a count can never drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds between two samples of this process's socket counts.
SAMPLE_S = 2.0
#: Socket kinds of ``hallq_sockets``: lobby/window screens (and the manager's live board),
#: clerks' pads, visitors' phones.
SOCKET_KINDS = ("display", "pad", "visitor")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SOCKETS = Gauge(
    "hallq_sockets",
    "Connected WebSockets by hall and kind (display, pad, visitor)",
    ["hall", "kind"],
    multiprocess_mode="livesum",
)
WORKER_SOCKETS = Gauge(
    "hallq_worker_sockets",
    "Connected WebSockets per server process",
    multiprocess_mode="liveall",
)
SPEECH_QUEUE = Gauge(
    "hallq_speech_queue_depth",
    "Phrases waiting for or in synthesis (prewarm queue and requests in flight)",
    multiprocess_mode="livesum",
)
ACTION_SECONDS = Histogram(
    "hallq_action_seconds",
    "Time to perform a window action (HTTP or pad socket), by hall and action",
    ["hall", "action"],
    buckets=_LATENCY_BUCKETS,
)
HTTP_SECONDS = Histogram(
    "hallq_http_request_seconds",
    "HTTP request latency by method, route template and status",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)

#: Webhooks (server/webhooks.py): ``receiver`` is the receiver's id (a hash of its URL, as
#: ``GET /api/halls/{hall}/webhooks`` lists it), never the URL, which may hold credentials.
WEBHOOK_DELIVERIES = Counter(
    "hallq_webhook_deliveries",
    "Webhook attempts by outcome: ok (2xx), http_error, network_error (refused, timeout), "
    "trimmed (events gone from the stream before they could be delivered)",
    ["hall", "receiver", "outcome"],
)
WEBHOOK_BACKLOG = Gauge(
    "hallq_webhook_backlog",
    "Events after a webhook receiver's cursor, as seen by the process delivering to it",
    ["hall", "receiver"],
    multiprocess_mode="livemax",
)

#: Text messages (server/sms.py) by ``kind`` (ahead, called) and ``outcome``: ok (2xx),
#: http_error, network_error (refused, timeout), no_secret (nothing to sign with). Never a number.
SMS_MESSAGES = Counter(
    "hallq_sms_messages",
    "Text messages handed to the hall's SMS gateway, by kind and outcome",
    ["hall", "kind", "outcome"],
)
#: Web Push (server/push_sender.py): notices by kind (ahead, call) and outcome: ok, gone (404/410 from
#: the push service: the subscription is removed), http_error, network_error (refused, timeout), error.
PUSH_NOTIFICATIONS = Counter(
    "hallq_push_notifications",
    "Web Push notices sent by kind (ahead, call) and outcome (ok, gone, http_error, network_error, error)",
    ["hall", "kind", "outcome"],
)
PUSH_SUBSCRIPTIONS = Counter(
    "hallq_push_subscriptions",
    "Web Push subscriptions stored for tickets",
    ["hall"],
)


def multiprocess_dir() -> Path | None:
    """The directory of the multiprocess values, or None in a single plain process."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


# --- what the process samples ------------------------------------------------------


def sample(runtime: Runtime) -> None:
    """Set this process's gauges from its hubs and speech service."""
    total = 0
    for hall_id, hall in runtime.halls.items():
        counts = {kind: len(hall.hub.subscribers.get(kind, ())) for kind in ("display", "pad")}
        counts["visitor"] = sum(len(s) for s in hall.visitors.by_token.values()) + len(
            hall.hub.subscribers.get("phone", ())
        )
        for kind in SOCKET_KINDS:
            SOCKETS.labels(hall_id, kind).set(counts[kind])
        total += sum(counts.values())
    WORKER_SOCKETS.set(total)
    speech = getattr(runtime, "speech", None)
    depth = len(getattr(speech, "_prewarm", ())) + len(getattr(speech, "_inflight", {}))
    SPEECH_QUEUE.set(depth)


async def sample_forever(runtime: Runtime) -> None:
    """Keep sampling until cancelled (a task of the process's lifespan)."""
    while True:
        try:
            sample(runtime)
        except Exception:  # metrics must never stop the hall
            log.exception("metrics sample failed")
        await asyncio.sleep(SAMPLE_S)


#: Seconds between two checks that the store has not gone back in time.
STORE_CHECK_S = float(os.environ.get("HALLQ_STORE_CHECK_S", "10"))


async def watch_store(runtime: Runtime) -> None:
    """Log when a hall's seq in Redis falls below what this process has already seen: the
    store went back in time (FLUSHALL, a non-persistent Redis restarted empty, a restore of
    an older copy). Logged once per fall, and again only after it recovered."""
    fallen: set[str] = set()
    while True:
        await asyncio.sleep(STORE_CHECK_S)
        for hall_id, hall in runtime.halls.items():
            try:
                stored = int(await runtime.redis.get(hall.engine.prefix + "seq") or 0)
            except Exception:  # noqa: BLE001 — an unreachable store, however it fails: the hub and /healthz say so
                continue
            seen = hall.hub.last_seq
            if stored < seen and hall_id not in fallen:
                fallen.add(hall_id)
                log.error(
                    "hall %s: the store went back in time: its seq is %d, this process had seen %d "
                    "(FLUSHALL, a Redis restarted without its data, or a restore of an older copy?)",
                    hall_id,
                    stored,
                    seen,
                )
            elif stored >= seen:
                fallen.discard(hall_id)


def process_exiting() -> None:
    """Drop this process's live gauges (a worker shutting down)."""
    path = multiprocess_dir()
    if path is not None:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(os.getpid(), str(path))  # type: ignore[no-untyped-call]


def _forget_dead_processes(path: Path) -> None:
    """Remove the live-gauge files of workers that died without shutting down (kill -9)."""
    for file in path.glob("gauge_live*_*.db"):
        match = re.search(r"_(\d+)\.db$", file.name)
        if match is None:
            continue
        pid = int(match.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                multiprocess.mark_process_dead(pid, str(path))  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


# --- the scrape -----------------------------------------------------------------------


class _StoreFigures(Collector):
    """Figures read from Redis once per scrape (the same for every worker)."""

    def __init__(self, seqs: dict[str, int], redis_up: bool) -> None:
        self.seqs = seqs
        self.redis_up = redis_up

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily("hallq_events", "Events each hall has produced (its seq)", labels=["hall"])
        for hall_id, seq in self.seqs.items():
            events.add_metric([hall_id], seq)
        yield events
        up = GaugeMetricFamily("hallq_redis_up", "1 when the queue store answers, else 0")
        up.add_metric([], 1.0 if self.redis_up else 0.0)
        yield up


async def render(runtime: Runtime) -> tuple[bytes, str]:
    """The Prometheus text of every worker's metrics, and its content type."""
    sample(runtime)
    seqs: dict[str, int] = {}
    redis_up = True
    try:
        async with runtime.redis.pipeline(transaction=False) as pipe:
            for hall in runtime.halls.values():
                pipe.get(hall.engine.prefix + "seq")
            async with asyncio.timeout(2.0):
                values = await pipe.execute()
        seqs = {hall_id: int(v or 0) for hall_id, v in zip(runtime.halls, values, strict=True)}
    except Exception:  # noqa: BLE001 — an unreachable store, however it fails: say so, keep the rest of the scrape
        redis_up = False
    store = CollectorRegistry()
    store.register(_StoreFigures(seqs, redis_up))
    path = multiprocess_dir()
    if path is None:  # one plain process (tests, embedding): its own registry
        return generate_latest(REGISTRY) + generate_latest(store), CONTENT_TYPE_LATEST
    _forget_dead_processes(path)
    workers = CollectorRegistry()
    multiprocess.MultiProcessCollector(workers, str(path))  # type: ignore[no-untyped-call]
    return generate_latest(workers) + generate_latest(store), CONTENT_TYPE_LATEST


def _local_unproxied(request: Request) -> bool:
    """A client on this machine that did not come through a proxy (which would make every
    outside visitor look local): no X-Forwarded-For or Forwarded header."""
    if "x-forwarded-for" in request.headers or "forwarded" in request.headers:
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def metrics_route(request: Request) -> Response:
    """``GET /metrics``: Prometheus text, for a client on loopback or an admin token (any hall)."""
    from server.asking import session_of
    from server.auth import AuthError
    from server.runtime import runtime_of

    if not _local_unproxied(request):
        session = await session_of(request)
        if session is None:
            raise AuthError("not_logged_in", "metrics need an admin token (Authorization: Bearer) or loopback")
        if session.role != "admin":
            raise AuthError("forbidden", "metrics need an admin login")
    body, content_type = await render(runtime_of(request))
    return Response(body, media_type=content_type)


routes = [Route("/metrics", metrics_route)]


# --- HTTP latency ---------------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """The route a request matched, as written in the route table (never the raw path)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class HttpMetrics:
    """ASGI middleware timing every HTTP request into ``hallq_http_request_seconds``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine for other scopes: a websocket is handed on without a frame of ours
        # kept suspended for its whole life (~300 B per idle socket).
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            HTTP_SECONDS.labels(scope.get("method", ""), route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )
