"""Changing the hall without a restart: reload the hall files, keep the live queue.

The queue lives in Redis, so a reload only swaps the parsed hall file each part of
a process holds (engine, hub, sessions, pages read it per request). It is
all-or-nothing: every file is read and validated first; one broken file, or a file
that now names another hall, keeps every old config and answers why (and logs it).

Triggers, and how every worker learns of it:

- ``SIGHUP``. uvicorn's supervisor (``--workers N``) would restart its workers on
  SIGHUP, dropping every socket; ``hallq serve`` makes it forward the signal to each
  worker instead (:func:`forward_sighup_to_workers`), and each worker reloads in place.
- ``POST /api/halls/{hall}/reload`` (admin) reloads the worker that got the request.
- Either way, a reload that changed a hall runs its ``config`` script: the hash is
  stored in Redis and ``hall.config`` goes into the hall's event stream once (a
  second worker reloading the same file finds the hash known and emits nothing).
  Every worker's hub reads that event: a worker whose own hash differs reloads its
  files too (without announcing, so two workers with different files cannot ping-pong),
  and every open page reloads itself at a quiet moment (``display/static/reloader.js``).

``GET /api/version`` answers hallq's version and each hall file's content hash; a
page that sees either change after a reconnect reloads too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.config import load_demo, load_hall
from server.hall_model import Hall, config_hash
from server.queue.errors import Refusal
from server.toml_locator import ConfigError

if TYPE_CHECKING:
    from server.runtime import Runtime

log = logging.getLogger("hallq.reload")


def version() -> str:
    """hallq's installed version."""
    try:
        return metadata.version("hallq")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "0+unknown"


def hall_sources() -> list[str]:
    """The hall files this server was started with (``HALLQ_CONFIG``); empty for the demo hall."""
    return [c for c in os.environ.get("HALLQ_CONFIG", "").split(os.pathsep) if c]


@dataclass
class ReloadResult:
    """What a reload did: halls changed, or the problems that kept the old config."""

    changed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_halls(sources: list[str], running: set[str], data_dir: Path | None = None) -> tuple[list[Hall], list[str]]:
    """Every hall file read and validated (with its staff overlay), or the problems
    (file:line: message) found. ``data_dir`` holds the demo hall's staff overlay."""
    if not sources:
        try:
            return [load_demo(data_dir)], []
        except ConfigError as exc:
            return [], [f"demo hall:{problem}" for problem in exc.problems]
    halls: list[Hall] = []
    problems: list[str] = []
    for source in sources:
        try:
            halls.append(load_hall(source))
        except ConfigError as exc:
            problems += [f"{source}:{problem}" for problem in exc.problems]
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{source}: {exc}")
    ids = [h.id for h in halls]
    if not problems and set(ids) != running:
        problems.append(
            f"the hall files now name halls {sorted(ids)}, the server runs {sorted(running)}: "
            "adding, removing or renaming a hall needs a restart"
        )
    if not problems and len(set(ids)) != len(ids):
        problems.append("two hall files use the same hall id")
    return halls, problems


def changes_warnings(old: Hall, new: Hall, waiting: dict[str, int]) -> list[str]:
    """What the new file takes away that the live queue still uses (told, not refused)."""
    notes = []
    kept = {s.id for s in new.services}
    for service in old.services:
        if service.id not in kept and waiting.get(service.id):
            notes.append(f"service {service.id!r} was removed while {waiting[service.id]} ticket(s) wait for it")
    windows = {w.id for w in new.windows}
    notes += [f"window {w.id!r} was removed" for w in old.windows if w.id not in windows]
    return notes


def apply(runtime: Runtime, hall: Hall) -> None:
    """Make every part of this process use ``hall`` (same id) from now on."""
    hall_runtime = runtime.halls[hall.id]
    hall_runtime.hall = hall
    engine = hall_runtime.engine
    engine.hall = hall
    # __post_init__ derives everything the engine keeps from the hall (window ids,
    # scripts): re-running it keeps a reload right whatever is derived there later.
    engine.__post_init__()
    if hasattr(engine, "_moment_cache"):
        engine._moment_cache = None  # the time zone or reset hour may have changed
    hall_runtime.hub.hall = hall
    runtime.sessions.halls[hall.id] = hall
    runtime.halls_config = [hall if h.id == hall.id else h for h in runtime.halls_config]


_locks: dict[int, asyncio.Lock] = {}


async def reload_halls(runtime: Runtime, *, announce: bool = True, reason: str = "request") -> ReloadResult:
    """Reload every hall file; all-or-nothing. ``announce``: emit ``hall.config`` for the
    halls that changed (False when this reload follows another worker's event)."""
    async with _locks.setdefault(id(runtime), asyncio.Lock()):
        result = ReloadResult()
        halls, result.problems = read_halls(hall_sources(), set(runtime.halls), runtime.data_dir)
        if result.problems:
            log.error("hall files not reloaded (%s); keeping the old config: %s", reason, "; ".join(result.problems))
            return result
        for hall in halls:
            current = runtime.halls[hall.id].hall
            result.hashes[hall.id] = config_hash(hall)
            if config_hash(current) == result.hashes[hall.id]:
                continue
            try:
                waiting = (await runtime.halls[hall.id].engine.snapshot()).get("waiting", {})
            except Exception:  # noqa: BLE001 — warnings are a courtesy: never let them block a reload
                waiting = {}
            result.warnings += [f"{hall.id}: {note}" for note in changes_warnings(current, hall, waiting)]
            apply(runtime, hall)
            # tickets the new file can no longer serve expire (or go back to their line) now,
            # as at start-up: none waits for a service or window that is gone
            await runtime.settle_orphans(runtime.halls[hall.id].engine)
            result.changed.append(hall.id)
            log.warning("hall %s reloaded (%s): config %s", hall.id, reason, result.hashes[hall.id])
        for note in result.warnings:
            log.warning("reload: %s", note)
    if announce:
        for hall_id, config in result.hashes.items():
            await runtime.halls[hall_id].engine.announce_config(config, version())
    return result


async def remember_configs(runtime: Runtime) -> None:
    """At start-up: tell Redis which hall files this process serves; a file other than the one
    Redis knows is announced (``hall.config``) so the processes already running reload it too."""
    for hall_id, hall_runtime in runtime.halls.items():
        try:
            await hall_runtime.engine.announce_config(config_hash(hall_runtime.hall), version(), quiet=True)
        except Exception as exc:  # noqa: BLE001 — Redis not up yet, however it fails: the first reload records it
            log.debug("config hash of hall %s not recorded yet: %s", hall_id, exc)


def config_listener(runtime: Runtime, hall_id: str) -> Any:
    """A hub listener: another worker reloaded ``hall_id``; reload here too if our file differs."""
    tasks: set[asyncio.Task[ReloadResult]] = set()

    def listener(event: dict[str, Any]) -> None:
        if event.get("type") != "hall.config":
            return
        if event.get("hash") == config_hash(runtime.halls[hall_id].hall):
            return
        task = asyncio.get_running_loop().create_task(reload_halls(runtime, announce=False, reason="hall.config event"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return listener


def config_follower(runtime: Runtime) -> Callable[[str, str], Awaitable[None]]:
    """Follow the hall file whose hash Redis names, when this process runs another: for
    :attr:`server.auth.Sessions.on_config` (a staff request, while another worker's
    ``hall.config`` is still on its way here, is judged by the new file) and at start-up
    (:meth:`server.runtime.Runtime._connect`: nothing is settled or announced with a file
    read before another worker's change). Never raises (a failed reload keeps the old file
    and logs why)."""

    async def follow(hall_id: str, stored: str) -> None:
        hall = runtime.halls.get(hall_id)
        if hall is None or config_hash(hall.hall) == stored:
            return
        try:
            await reload_halls(runtime, announce=False, reason="Redis names a newer hall file")
        except Exception:  # the request goes on with the file this process has
            log.exception("hall %s: could not follow the hall file %s", hall_id, stored)

    return follow


def install_sighup(runtime: Runtime) -> None:
    """SIGHUP reloads this process's hall files (installed by each worker's lifespan)."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[ReloadResult]] = set()

    def on_hup() -> None:
        task = loop.create_task(reload_halls(runtime, reason="SIGHUP"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests), or no SIGHUP
        log.debug("SIGHUP reload not installed in this process")


def uninstall_sighup() -> None:
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)


def forward_sighup_to_workers() -> None:
    """Make uvicorn's worker supervisor pass SIGHUP on to its workers (which reload in
    place) instead of restarting them. Called by ``hallq serve`` before uvicorn starts."""
    from uvicorn.supervisors import multiprocess

    def handle_hup(self: Any) -> None:
        log.info("SIGHUP: asking every worker to reload its hall files")
        for process in list(self.processes):
            pid = getattr(process, "pid", None)
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)

    if hasattr(multiprocess.Multiprocess, "handle_hup"):
        multiprocess.Multiprocess.handle_hup = handle_hup  # type: ignore[method-assign]


# --- HTTP ------------------------------------------------------------------------------


async def reload_route(request: Request) -> Response:
    """``POST /api/halls/{hall}/reload`` (admin): reload the hall files now."""
    from server import audit
    from server.asking import client_of, session_of
    from server.auth import ADMIN, require
    from server.runtime import runtime_of

    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    session = require(await session_of(request), hall.hall.id, ADMIN)
    result = await reload_halls(runtime, reason=f"manager {session.staff.id}")
    await audit.record(
        runtime.redis,
        hall.hall.id,
        audit.entry(
            "reload" if result.ok else "reload_failed",
            staff=session.staff.id,
            role=session.role,
            client=client_of(request),
            detail="; ".join(result.problems or result.warnings or result.changed) or None,
        ),
    )
    if not result.ok:
        raise Refusal(
            "bad_hall_file",
            "the hall file has problems; the old one stays in use",
            {"problems": result.problems},
        )
    return JSONResponse(
        {
            "changed": hall.hall.id in result.changed,
            "halls_changed": result.changed,
            "hash": result.hashes.get(hall.hall.id),
            "warnings": result.warnings,
        }
    )


async def version_route(request: Request) -> Response:
    """``GET /api/version``: hallq's version and each hall file's content hash."""
    from server.runtime import runtime_of

    runtime = runtime_of(request)
    halls = {hall_id: config_hash(h.hall) for hall_id, h in runtime.halls.items()}
    return JSONResponse({"version": version(), "halls": halls}, headers={"Cache-Control": "no-store"})


routes = [
    Route("/api/version", version_route),
    Route("/api/halls/{hall}/reload", reload_route, methods=["POST"]),
]
