"""The ASGI application: routes, error handlers and the lifespan that starts a process's parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

from redis.exceptions import BusyLoadingError, ReadOnlyError, RedisError, ResponseError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import (
    api,
    audio,
    audit,
    booking_api,
    calendar_api,
    case_api,
    edge,
    hall_api,
    metrics,
    openapi,
    pages,
    push,
    push_sender,
    quiet_loop,
    reload,
    remote_api,
    screens,
    sms,
    sockets,
    staff_api,
    stats_api,
    webhook_deliveries,
    webhook_report,
)
from server.browser import BrowserGuard
from server.config import load_demo, load_hall
from server.fanout import KeepRawSend
from server.hall_model import Hall
from server.lifeline import worker_dies_with_supervisor
from server.queue.errors import Refusal
from server.runtime import Runtime

log = logging.getLogger("hallq")

#: How long a starting worker waits for Redis before it serves (503 while Redis is away).
READY_WAIT_S = 2.0


async def refusal_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return JSONResponse(exc.body(), status_code=edge.http_status(exc.code))


async def redis_down_response(request: Request, exc: Exception) -> Response:
    if is_script_error(exc):
        # Redis answered, and refused what a script was given (e.g. a value cjson cannot
        # take): a request problem that nothing changed for, not an outage.
        log.error("a queue script refused its input: %s", exc)
        message = "the request has a value the queue cannot take"
        return JSONResponse({"error": {"code": "bad_input", "message": message}}, status_code=422)
    log.warning("redis unavailable: %s", exc)
    error = {"code": "redis_unavailable", "message": "the queue store is unreachable; try again shortly"}
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    cause = runtime.outage_cause() if runtime is not None else None
    if cause == "disk_full":
        error.update(cause=cause, message="the queue store's disk is full; a person must free space on the server")
    body = {"error": error}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


def is_script_error(exc: Exception) -> bool:
    """A Lua script's own error (Redis is up and answered), not an unreachable Redis."""
    if not isinstance(exc, ResponseError) or isinstance(exc, BusyLoadingError | ReadOnlyError):
        return False
    text = str(exc)
    return "script" in text.lower() or "cjson" in text.lower()


async def http_error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse({"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code)


def create_app(halls: list[Hall], redis_url: str, data_dir: Path, public_url: str | None = None) -> Starlette:
    """An app serving ``halls`` from the Redis at ``redis_url``.

    ``public_url`` is where visitors reach us (links and QR codes); None: each request's own base.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = Runtime(redis_url, halls, data_dir)
        await runtime.start()
        app.state.runtime = runtime
        operations = await start_operations(runtime)
        deliveries = webhook_deliveries.Deliveries(runtime)
        await deliveries.start()
        # The visitors' notices: text messages ([sms]) and Web Push, one leased sender each per hall.
        senders = app.state.sms = sms.Senders(runtime)
        pushers = push_sender.Pushers(runtime)
        senders.start()
        pushers.start()
        # A worker takes connections once this returns. With Redis answering it is ready by
        # then (its hall file followed, orphans settled, its file announced: a few round
        # trips), so a started or restarted worker gives no clerk a 503; with Redis away it
        # serves 503 after READY_WAIT_S, for as long as the outage lasts.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(READY_WAIT_S):
                await runtime.ready.wait()
        try:
            yield
        finally:
            await pushers.stop()
            await senders.stop()
            await deliveries.stop()
            await stop_operations(operations)
            await runtime.stop()

    app = Starlette(
        routes=[
            *api.routes,
            *stats_api.routes,
            *booking_api.routes,
            *remote_api.routes,
            *case_api.routes,
            *staff_api.routes,
            *calendar_api.routes,
            *hall_api.routes,
            *metrics.routes,
            *screens.routes,
            *audit.routes,
            *webhook_report.routes,
            *sms.routes,
            *push.routes,
            *reload.routes,
            *openapi.routes,
            *sockets.routes,
            *audio.routes,
            *pages.routes,
        ],
        lifespan=lifespan,
        # outermost of ours: it sees uvicorn's own send, so fan-out can write frames directly
        middleware=[Middleware(KeepRawSend), Middleware(metrics.HttpMetrics), Middleware(BrowserGuard)],
        exception_handlers={
            Refusal: refusal_response,
            RedisError: redis_down_response,
            HTTPException: http_error_response,
        },
    )
    app.state.public_url = public_url.rstrip("/") if public_url else None
    return app


async def start_operations(runtime: Runtime) -> list[asyncio.Task[None]]:
    """What operators rely on in each process: metrics sampling, the screen registry's
    refresh at every app-level ping, hall-file reloads (SIGHUP, other workers' events)."""
    for hall in runtime.halls.values():
        registry = hall.screens

        def on_ping(message: dict[str, object], registry: screens.ScreenRegistry = registry) -> None:
            if message.get("type") == "ping" and registry.local:
                tasks.append(asyncio.create_task(_quietly(registry.refresh())))
                tasks[:] = [t for t in tasks if not t.done()]

        hall.hub.listeners += [on_ping, reload.config_listener(runtime, hall.hall.id)]
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(metrics.sample_forever(runtime), name="metrics"),
        asyncio.create_task(metrics.watch_store(runtime), name="store-watch"),
    ]
    # a staff request on this worker is judged by the hall file another worker just changed
    runtime.sessions.on_config = reload.config_follower(runtime)
    reload.install_sighup(runtime)
    return tasks


async def _quietly(job: Awaitable[None]) -> None:
    try:
        await job
    except (RedisError, OSError) as exc:
        log.debug("screen registry refresh skipped: %s", exc)


async def stop_operations(tasks: list[asyncio.Task[None]]) -> None:
    reload.uninstall_sighup()
    for task in tasks:
        task.cancel()
    metrics.process_exiting()


def create_app_from_env() -> Starlette:
    """The app as ``hallq serve`` configures it through the environment (for uvicorn workers)."""
    worker_dies_with_supervisor()
    quiet_loop.install()  # here: uvicorn's workers are fresh interpreters that only load the app
    trace_memory_on_signal(os.environ.get("HALLQ_TRACEMALLOC"))
    configs = [c for c in os.environ.get("HALLQ_CONFIG", "").split(os.pathsep) if c]
    halls = [load_hall(c) for c in configs] or [load_demo(os.environ.get("HALLQ_DATA", "var"))]
    redis_url = os.environ["REDIS_URL"]
    public_url = os.environ.get("HALLQ_PUBLIC_URL") or None
    return create_app(halls, redis_url, Path(os.environ.get("HALLQ_DATA", "var")), public_url)


def trace_memory_on_signal(folder: str | None) -> None:
    """For ``bench/bench_memory.py --trace``: with ``HALLQ_TRACEMALLOC=FOLDER``, trace Python
    allocations from the start and write a snapshot to ``FOLDER/PID-N.snap`` at each SIGUSR2.
    Costs time and memory: never in production."""
    if not folder:
        return
    import signal
    import tracemalloc

    tracemalloc.start(8)
    taken = [0]

    def dump(signum: int, frame: object) -> None:
        taken[0] += 1
        path = os.path.join(folder, f"{os.getpid()}-{taken[0]}.snap")
        tracemalloc.take_snapshot().dump(path + ".tmp")
        os.replace(path + ".tmp", path)  # whole when it appears

    signal.signal(signal.SIGUSR2, dump)
