"""``hallq serve``: the hall server (uvicorn workers, the embedded Redis, the metrics folder).

Every ``serve`` option may also come from the environment (for Procfiles, units and
containers); a flag on the command line wins over its variable:

=====================  ==========================  ===========================
flag                   variable                    default
=====================  ==========================  ===========================
``--config FILE``      ``HALLQ_CONFIG``            the bundled demo hall
                       (files, ``os.pathsep``)
``--data DIR``         ``HALLQ_DATA``              ``var``
``--workers N``        ``HALLQ_WORKERS``           1
``--port P``           ``PORT``                    8000
``--public-url URL``   ``HALLQ_PUBLIC_URL``        the request's own address
``--forwarded-allow-   ``FORWARDED_ALLOW_IPS``     ``127.0.0.1``
ips``
=====================  ==========================  ===========================

The demo hall's PINs are published, so it is served on a loopback address only,
unless ``--demo`` asks for it on purpose.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from server.hall_model import Hall
    from server.speech_host import SpeechHost

PAGES = (
    ("lobby screen", "/display/{hall}"),
    ("window screen", "/display/{hall}/windows/{window}"),
    ("kiosk", "/kiosk/{hall}"),
    ("consultation desk", "/desk/{hall}"),
    ("clerk pad", "/pad/{hall}"),
    ("rating pad", "/rate/{hall}/{window}"),
    ("manager", "/admin/{hall}"),
)


def load_halls(files: list[str], data: str | None = None) -> list[Hall]:
    from server.config import load_demo, load_hall

    halls = [load_hall(f) for f in files] if files else [load_demo(data)]
    ids = [h.id for h in halls]
    if len(set(ids)) != len(ids):
        raise SystemExit("two hall files use the same hall id")
    return halls


def env_default(name: str, default: str) -> str:
    """The value of environment variable ``name`` when set and not empty, else ``default``."""
    return os.environ.get(name) or default


def add_serve_options(run: argparse.ArgumentParser) -> None:
    """``serve``'s flags; those left unset are filled from the environment by :func:`resolve_serve_environment`."""
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", help="TCP port (env PORT; default 8000)")
    run.add_argument(
        "--config",
        action="append",
        default=[],
        help="hall file (TOML); repeat for several halls (env HALLQ_CONFIG, os.pathsep-separated)",
    )
    run.add_argument("--data", help="data folder: embedded Redis, audio cache (env HALLQ_DATA; default ./var)")
    run.add_argument("--workers", help="worker processes (env HALLQ_WORKERS; default 1)")
    run.add_argument(
        "--public-url",
        help="the address visitors' phones use, e.g. https://queue.example.org; "
        "every link and QR code is built on it (env HALLQ_PUBLIC_URL; default: the request's own)",
    )
    run.add_argument(
        "--forwarded-allow-ips",
        help="addresses of trusted proxies whose X-Forwarded-For/-Proto are believed, comma-separated "
        "or '*' (env FORWARDED_ALLOW_IPS; default 127.0.0.1)",
    )
    run.add_argument(
        "--demo", action="store_true", help="serve the demo hall (public PINs) even on a non-loopback address"
    )
    run.add_argument("--log-level", default="info")
    run.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    run.add_argument(
        "--log-format",
        choices=("plain", "json"),
        help="plain text or one JSON object a line (env HALLQ_LOG_FORMAT; default plain)",
    )


def resolve_serve_environment(args: argparse.Namespace) -> str | None:
    """Fill unset ``serve`` options from the environment and check them; a problem's text, or None."""
    if not args.config:
        args.config = [c for c in os.environ.get("HALLQ_CONFIG", "").split(os.pathsep) if c]
    if args.demo and args.config:
        return "--demo serves the bundled demo hall; it does not go with --config/HALLQ_CONFIG"
    args.data = args.data or env_default("HALLQ_DATA", "var")
    args.log_format = args.log_format or env_default("HALLQ_LOG_FORMAT", "plain")
    if args.log_format not in ("plain", "json"):
        return f"HALLQ_LOG_FORMAT={args.log_format!r}: plain or json"
    args.forwarded_allow_ips = args.forwarded_allow_ips or env_default("FORWARDED_ALLOW_IPS", "127.0.0.1")
    for attribute, variable, default, low in (("port", "PORT", "8000", 0), ("workers", "HALLQ_WORKERS", "1", 1)):
        given = getattr(args, attribute)
        text = given if given is not None else env_default(variable, default)
        source = f"--{attribute}" if given is not None else variable
        if not text.isdigit() or not low <= int(text) <= 65535:
            return f"{source}={text!r}: a whole number from {low} is needed"
        setattr(args, attribute, int(text))
    public = args.public_url if args.public_url is not None else os.environ.get("HALLQ_PUBLIC_URL", "")
    source = "--public-url" if args.public_url is not None else "HALLQ_PUBLIC_URL"
    args.public_url = None
    if public:
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            return f"{source}={public!r}: give an address such as https://queue.example.org (a path is allowed)"
        args.public_url = public.rstrip("/")
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.embedded import EmbeddedRedis
    from server.lifeline import SUPERVISOR_PID, FolderInUse
    from server.limits import GuardedHttp, raise_descriptor_limit
    from server.logs import log_config
    from server.toml_locator import ConfigError

    public_host = urlsplit(args.public_url).hostname if args.public_url else None
    exposed = (
        args.host
        if not is_loopback(args.host)
        else public_host
        if public_host and not is_loopback(public_host)
        else None
    )
    if not args.config and not args.demo and exposed:
        print(
            f"hallq: refusing to serve the demo hall on {exposed}: its PINs are public. "
            "Give your hall file (--config FILE or HALLQ_CONFIG), or add --demo to serve the demo on purpose.",
            file=sys.stderr,
        )
        return 2
    try:
        halls = load_halls(args.config, args.data)
    except ConfigError as exc:
        print(f"the hall file has problems:\n{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"hallq: cannot read the hall file {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    data = Path(args.data)
    embedded = None
    url = os.environ.get("REDIS_URL")
    if url:
        from server.store import StoreURLError, parse

        try:
            parse(url)
        except StoreURLError as exc:
            print(f"hallq: {exc}", file=sys.stderr)
            return 2
    else:
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
        REDIS_URL=url,
        HALLQ_CONFIG=os.pathsep.join(str(Path(c).resolve()) for c in args.config),
        HALLQ_DATA=str(data.resolve()),
        HALLQ_PUBLIC_URL=args.public_url or "",
    )
    if args.public_url:
        print(f"hallq: links and QR codes for visitors point at {args.public_url}", flush=True)
    prepare_process_tree(data)
    speech = start_speech_host(data)
    base = args.public_url or f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    for hall in halls:
        print(f"hallq: {hall.name.get('zh', hall.id)} / {hall.name.get('en', hall.id)}", flush=True)
        for label, path in PAGES:
            print(f"  {label:18} {base}{path.format(hall=hall.id, window=hall.windows[0].id)}", flush=True)
    print(
        f"hallq: uvicorn {uvicorn.__version__} with websockets-sansio; the fan-out writes frames directly "
        "(each process logs 'fan-out outlet: …' at its first socket)",
        flush=True,
    )
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
            log_config=log_config(args.log_level.upper(), args.log_format),
            access_log=args.access_log,
            timeout_graceful_shutdown=3,
            # X-Forwarded-For/-Proto are believed from these addresses only (the proxy):
            # client addresses (rate limits) and https (Secure cookies) right behind nginx.
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    finally:
        speech.stop()
        if embedded is not None:
            embedded.stop()
    return 0


def start_speech_host(data: Path) -> SpeechHost:
    """One pyttsx3 worker for every uvicorn worker of this server (each would take ~97 MB):
    it runs under a thread of this process, and the workers reach it over a Unix socket."""
    from server.speech_host import SPEECH_SOCKET, SpeechHost, socket_path_for

    host = SpeechHost(data / "audio-cache", socket_path_for(data))
    if os.environ.get("HALLQ_SPEECH_PER_WORKER") == "1":  # the old way, kept for the benchmark's baseline
        return host
    if host.start():
        os.environ[SPEECH_SOCKET] = str(host.socket_path)
    else:  # each worker then runs a speech worker of its own, as before
        print("hallq: the shared speech worker could not start; each worker runs its own", file=sys.stderr)
    return host


def prepare_process_tree(data: Path) -> None:
    """Metrics shared by every worker, and SIGHUP reaching every worker (see server.reload)."""
    from server import reload

    # Before anything imports prometheus_client (it picks its mode at import): one folder
    # per `serve` process, so two servers sharing --data never mix or wipe each other's. In
    # memory (/dev/shm) where there is one, never on the data disk: when that disk fills up,
    # metrics files that cannot grow must not take the server down with Redis.
    shm = Path("/dev/shm")
    root = (shm if shm.is_dir() and os.access(shm, os.W_OK) else data) / f"hallq-metrics-{_data_tag(data)}"
    for old in root.glob("*"):
        if old.name.isdigit() and not _alive(int(old.name)):
            shutil.rmtree(old, ignore_errors=True)
    own = root / str(os.getpid())
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir(parents=True)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(own.resolve()))
    reload.forward_sighup_to_workers()


def _data_tag(data: Path) -> str:
    """A short name for a data folder, so servers of different folders keep apart."""
    import hashlib

    return hashlib.sha256(str(data.resolve()).encode()).hexdigest()[:12]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
