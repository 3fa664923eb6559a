"""``hallq``: serve, check-config, hash-pin, announce, pad."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sys
from pathlib import Path

from server.config import ConfigError, Hall, hash_pin, load_demo, load_hall

PAGES = (
    ("lobby screen", "/display/{hall}"),
    ("window screen", "/display/{hall}/windows/{window}"),
    ("kiosk", "/kiosk/{hall}"),
    ("consultation desk", "/desk/{hall}"),
    ("clerk pad", "/pad/{hall}"),
    ("rating pad", "/rate/{hall}/{window}"),
    ("manager", "/admin/{hall}"),
)


def check_config(args: argparse.Namespace) -> int:
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
    print(f"{args.file}: ok — hall {hall.id!r}, {len(hall.services)} services, {len(hall.windows)} windows")
    return 0


def hash_pin_command(args: argparse.Namespace) -> int:
    pin = args.pin if args.pin is not None else getpass.getpass("PIN: ")
    if len(pin) < 4:
        print("a PIN has at least 4 characters", file=sys.stderr)
        return 1
    print(hash_pin(pin))
    return 0


def load_halls(files: list[str]) -> list[Hall]:
    halls = [load_hall(f) for f in files] if files else [load_demo()]
    ids = [h.id for h in halls]
    if len(set(ids)) != len(ids):
        raise SystemExit("two hall files use the same hall id")
    return halls


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.embedded import EmbeddedRedis
    from server.lifeline import SUPERVISOR_PID, FolderInUse
    from server.limits import GuardedHttp, raise_descriptor_limit
    from server.logs import log_config

    try:
        halls = load_halls(args.config)
    except ConfigError as exc:
        print(f"the hall file has problems:\n{exc}", file=sys.stderr)
        return 2
    data = Path(args.data)
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis(data / "redis")
        try:
            url = embedded.start()
        except FolderInUse as exc:
            print(f"hallq: {exc}", file=sys.stderr)
            return 3
        embedded.supervise()  # reaped and started again whenever it exits
        print(f"hallq: embedded Redis (append-only, fsync always) in {data / 'redis'}", flush=True)
    raise_descriptor_limit()
    # workers die with this process (see create_app_from_env), never serving on as orphans
    os.environ[SUPERVISOR_PID] = str(os.getpid())
    os.environ.update(
        REDIS_URL=url, HALLQ_CONFIG=os.pathsep.join(str(Path(c).resolve()) for c in args.config),
        HALLQ_DATA=str(data.resolve()),
    )
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    for hall in halls:
        print(f"hallq: {hall.name.get('zh', hall.id)} / {hall.name.get('en', hall.id)}", flush=True)
        for label, path in PAGES:
            print(f"  {label:18} {base}{path.format(hall=hall.id, window=hall.windows[0].id)}", flush=True)
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; turn them into SystemExit
    # so the `finally` below still stops the embedded Redis instead of leaving it running.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_on_signal)
    try:
        uvicorn.run(
            "server.app:create_app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            ws_ping_interval=10.0,
            ws_ping_timeout=15.0,
            ws_max_size=64 * 1024,
            http=GuardedHttp,  # headers within HALLQ_HEADER_TIMEOUT_S, connections per address capped
            timeout_keep_alive=5,
            log_config=log_config(args.log_level.upper()),
            access_log=args.access_log,
            timeout_graceful_shutdown=3,
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


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
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--config", action="append", default=[], help="hall file (TOML); repeat for several halls")
    run.add_argument("--data", default="var", help="data folder (embedded Redis, audio cache)")
    run.add_argument("--workers", type=int, default=1)
    run.add_argument("--log-level", default="info")
    run.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    run.set_defaults(func=serve)
    check = commands.add_parser("check-config", help="validate a hall file and list every problem")
    check.add_argument("file")
    check.set_defaults(func=check_config)
    pin = commands.add_parser("hash-pin", help="print the pin_hash of a PIN for a hall file")
    pin.add_argument("pin", nargs="?")
    pin.set_defaults(func=hash_pin_command)
    commands.add_parser("announce", help="speak the hall's calls on this PC (see hallq announce --help)")
    commands.add_parser("pad", help="a terminal calling pad for one window (see hallq pad --help)")
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
