"""``hallq``: serve, backup, restore, check-config, hash-pin, announce, pad.

``serve`` and its options (flags or the environment) are in :mod:`server.serve_cli`.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from server.serve_cli import add_serve_options, env_default, resolve_serve_environment, serve

if TYPE_CHECKING:
    from server.embedded import EmbeddedRedis
    from server.hall_model import Hall

# Commands import what they need when they run: this module is also imported again, as the
# main module, by every process multiprocessing spawns (the speech worker, uvicorn's workers),
# and the hall-file schema alone costs such a process ~0.1 s of CPU.


def check_config(args: argparse.Namespace) -> int:
    from server import calendar_overlay, staff_overlay
    from server.config import load_hall
    from server.toml_locator import ConfigError

    try:
        hall = load_hall(args.file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{args.file}:{problem}", file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {args.file}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    overlay = staff_overlay.beside(args.file)
    with_overlay = f", with the staff overlay {overlay}" if overlay.exists() else ""
    calendar = calendar_overlay.beside(args.file)
    with_overlay += f", with the calendar overlay {calendar}" if calendar.exists() else ""
    if hall.calendar.holidays or hall.calendar.workdays:
        with_overlay += f"; {len(hall.calendar.holidays)} holidays, {len(hall.calendar.workdays)} 调休 working days"
    print(
        f"{args.file}: ok — hall {hall.id!r}, {len(hall.services)} services, {len(hall.windows)} windows{with_overlay}"
    )
    if args.against:
        return check_against(hall, args.file, args.against)
    return 0


#: ``check-config --against`` found open tickets this hall file would orphan.
ORPHANS_FOUND = 3


def check_against(hall: Hall, file: str, against: str) -> int:
    """List the open tickets in the store ``against`` (a Redis URL, or the data folder of
    the embedded store) that ``serve`` with this hall file would expire or send back to
    their line; it changes nothing. Exit 0 when none, ``ORPHANS_FOUND`` when some."""
    import asyncio

    from redis.exceptions import RedisError

    from server import store
    from server.embedded import EmbeddedRedis
    from server.queue.engine import Engine

    embedded = None
    if "://" in against:
        url = against
    else:
        folder = Path(against) / "redis"
        if not folder.is_dir():
            print(f"{against}: no embedded store here (no {folder})", file=sys.stderr)
            return 1
        embedded = EmbeddedRedis(folder)
        if embedded._answers():  # a running `serve` holds it: ask that one
            url, embedded = embedded.url, None
        else:
            url = embedded.start()

    async def dry_run() -> dict[str, object]:
        client = store.async_client(store.parse(url), max_connections=4, socket_timeout=10.0, blocking=False)
        try:
            return await Engine(client, hall, secret=b"").orphans(dry_run=True)
        finally:
            await store.aclose(client)

    try:
        found = asyncio.run(dry_run())
    except (RedisError, OSError) as exc:
        print(f"{against}: cannot read the store: {exc}", file=sys.stderr)
        return 1
    finally:
        if embedded is not None:
            embedded.stop()
    expired, returned = found["expired"], found["returned"]
    assert isinstance(expired, list) and isinstance(returned, list)
    for item in expired:
        print(
            f"warning: ticket {item['number']} ({','.join(item['services'])}, {item['status']}) "
            f"would expire: {item['reason']}",
            file=sys.stderr,
        )
    for item in returned:
        print(
            f"warning: ticket {item['number']} reserved for window {item['window']} would go back "
            f"to its services' line: {item['reason']}",
            file=sys.stderr,
        )
    if expired or returned:
        print(f"{file}: {len(expired)} open ticket(s) would expire, {len(returned)} would go back to their line")
        return ORPHANS_FOUND
    print(f"{file}: no open ticket in {against} is orphaned by this file")
    return 0


def hash_pin_command(args: argparse.Namespace) -> int:
    from server.pins import hash_pin

    pin = args.pin if args.pin is not None else getpass.getpass("PIN: ")
    if len(pin) < 4:
        print("a PIN has at least 4 characters", file=sys.stderr)
        return 1
    print(hash_pin(pin))
    return 0


def store_url(data: str) -> tuple[str, EmbeddedRedis | None]:
    """The Redis ``serve`` would use: ``REDIS_URL``, or the embedded one under ``data``.

    Returns the URL and a handle to stop afterwards (None when nothing was started). When a
    ``serve`` already runs the embedded store, its socket answers and is used as it is.
    """
    from server.embedded import EmbeddedRedis

    url = os.environ.get("REDIS_URL")
    if url:
        return url, None
    embedded = EmbeddedRedis(Path(data) / "redis")
    if embedded.running():
        return embedded.url, None
    return embedded.start(), embedded


def backup_command(args: argparse.Namespace) -> int:
    from server.backup import BackupError, write_backup

    url, started = store_url(args.data)
    try:
        summary = write_backup(url, args.out)
    except BackupError as exc:
        print(f"hallq backup: {exc}", file=sys.stderr)
        return 1
    finally:
        if started is not None:
            started.stop()
    print(f"hallq backup: {summary}", file=sys.stderr)
    return 0


def restore_command(args: argparse.Namespace) -> int:
    from server.backup import BackupError, restore_backup

    url, started = store_url(args.data)
    try:
        summary = restore_backup(url, args.file, force=args.force)
    except BackupError as exc:
        print(f"hallq restore: {exc}", file=sys.stderr)
        return 1
    finally:
        if started is not None:
            started.stop()
    print(f"hallq restore: {summary}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "announce":
        from display.announcer import main as announce

        return int(announce(argv[1:]))
    if argv and argv[0] == "pad":
        from caller.keypad import main as pad

        return int(pad(argv[1:]))
    parser = argparse.ArgumentParser(prog="hallq", description="hall queue display and calling system")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve HTTP, WebSockets, pages and audio")
    add_serve_options(run)
    run.set_defaults(func=serve)
    for name, helptext in (
        ("backup", "write a consistent copy of every hall's data to a file"),
        ("restore", "load a backup into a store with no hallq data"),
    ):
        command = commands.add_parser(name, help=helptext)
        if name == "backup":
            command.add_argument("--out", required=True, help="the backup file to write ('-' for stdout)")
        else:
            command.add_argument("file", help="a file written by hallq backup")
            command.add_argument("--force", action="store_true", help="replace the hallq data already there")
        command.add_argument(
            "--data",
            default=env_default("HALLQ_DATA", "var"),
            help="data folder of the embedded store, when REDIS_URL is not set (env HALLQ_DATA)",
        )
        command.set_defaults(func=backup_command if name == "backup" else restore_command)
    check = commands.add_parser("check-config", help="validate a hall file and list every problem")
    check.add_argument("file")
    check.add_argument(
        "--against",
        metavar="DATA",
        help="also list the open tickets this file would orphan in a store: the data folder of "
        "the embedded Redis (serve --data) or a Redis URL; exit 3 when there are some",
    )
    check.set_defaults(func=check_config)
    pin = commands.add_parser("hash-pin", help="print the pin_hash of a PIN for a hall file")
    pin.add_argument("pin", nargs="?")
    pin.set_defaults(func=hash_pin_command)
    commands.add_parser("announce", help="speak the hall's calls on this PC (see hallq announce --help)")
    commands.add_parser("pad", help="a terminal calling pad for one window (see hallq pad --help)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        problem = resolve_serve_environment(args)
        if problem:
            run.error(problem)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
