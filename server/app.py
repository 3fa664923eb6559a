"""The ASGI application: routes, error handlers and the lifespan that starts a process's parts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server import api, audio, audit, metrics, pages, reload, screens, sockets
from server.config import Hall, load_demo, load_hall
from server.fanout import KeepRawSend
from server.queue.errors import Refusal
from server.runtime import Runtime

log = logging.getLogger("hallq")


async def refusal_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refusal)
    return JSONResponse(exc.body(), status_code=exc.status)


async def redis_down_response(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable: %s", exc)
    body = {"error": {"code": "redis_unavailable", "message": "the queue store is unreachable; try again shortly"}}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


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
        try:
            yield
        finally:
            await stop_operations(operations)
            await runtime.stop()

    app = Starlette(
        routes=[
            *api.routes,
            *metrics.routes,
            *screens.routes,
            *audit.routes,
            *reload.routes,
            *sockets.routes,
            *audio.routes,
            *pages.routes,
        ],
        lifespan=lifespan,
        # outermost of ours: it sees uvicorn's own send, so fan-out can write frames directly
        middleware=[Middleware(KeepRawSend), Middleware(metrics.HttpMetrics)],
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
    await reload.remember_configs(runtime)
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
    configs = [c for c in os.environ.get("HALLQ_CONFIG", "").split(os.pathsep) if c]
    halls = [load_hall(c) for c in configs] or [load_demo()]
    redis_url = os.environ["REDIS_URL"]
    public_url = os.environ.get("HALLQ_PUBLIC_URL") or None
    return create_app(halls, redis_url, Path(os.environ.get("HALLQ_DATA", "var")), public_url)
