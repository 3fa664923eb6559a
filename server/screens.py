"""The screen registry: which lobby and window screens are connected, and which went dark.

A screen page opens its display socket with ``?kind=lobby|window`` (``&window=ID``
for a window screen) and ``&screen=NAME``, the name taken from its own URL
(``/display/demo?screen=entrance``) and remembered by the browser. Other display
sockets (the manager's live board, an integration) are not screens and are not listed.

Every worker writes its own screens into one Redis hash per hall
(``hallq:{hall}:screens``, so the hall's hash tag keeps it in the hall's slot): at
connect, at every app-level ping of the hub (``HEARTBEAT_S``) and at disconnect.
``GET /api/halls/{hall}/screens`` reads that hash, so it sees every worker's screens.
A record is keyed by the screen's name (by kind, window and address when it has
none), so a screen that reconnects keeps its one line; a screen gone for
:data:`KEEP_S` is forgotten. Writes are compare-and-set on the connection id, so
the late close of an old connection never marks a screen that already came back
on another worker as gone.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.hall_model import Hall
from server.queue.constants import keys_prefix

#: Seconds a screen that went away stays listed (so the manager sees which one went dark).
KEEP_S = 24 * 3600
#: The manager page warns when a lobby screen has not been seen for this long.
GONE_AFTER_S = 60
KINDS = ("lobby", "window")
_NAME_RE = re.compile(r"[^\w .:@#()\-\u00a0-\uffff]")

# Write the record unless another connection of the same screen has taken it over
# (ARGV[4] == '1' forces: a new connection always takes over).
_PUT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and ARGV[4] ~= '1' and cjson.decode(current).conn ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return 1
"""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Screen:
    """One connected screen socket, as listed by the API."""

    kind: str
    window: str | None
    name: str
    address: str
    connected_at: int
    last_seen: int
    conn: str
    connected: bool = True

    @property
    def key(self) -> str:
        return self.name or f"{self.kind}:{self.window or ''}@{self.address}"

    def record(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def clean_name(raw: str | None) -> str:
    """A screen name as given, without control or markup characters, at most 64 long."""
    return _NAME_RE.sub("", (raw or "").strip())[:64]


def screen_of(params: Mapping[str, str], address: str, hall: Hall, now: int) -> Screen | None:
    """The screen a display socket's query names, or None when the socket is not a screen."""
    kind = params.get("kind")
    name = clean_name(params.get("screen"))
    if kind not in KINDS and not name:
        return None
    window = params.get("window")
    if window is not None and hall.window(window) is None:
        window = None
    if kind not in KINDS:
        kind = "window" if window else "lobby"
    if kind == "lobby":
        window = None
    return Screen(kind, window, name, address, now, now, secrets.token_hex(8))


def listing(records: Mapping[str, str], now: int, heartbeat_s: float) -> tuple[list[dict[str, Any]], list[str]]:
    """The API's list from the stored records (lobby first, then by window and name), and
    the keys of records old enough to forget.

    A record still marked connected whose worker stopped refreshing it (killed) counts
    as gone once it is older than two pings and a margin.
    """
    stale_after = (2 * heartbeat_s + 5) * 1000
    screens: list[dict[str, Any]] = []
    forget: list[str] = []
    for key, raw in records.items():
        try:
            item = json.loads(raw)
        except ValueError:
            forget.append(key)
            continue
        age = now - int(item.get("last_seen", 0))
        if age > KEEP_S * 1000:
            forget.append(key)
            continue
        item.pop("conn", None)
        item["connected"] = bool(item.get("connected")) and age <= stale_after
        screens.append(item)
    screens.sort(key=lambda s: (s["kind"] != "lobby", str(s.get("window") or ""), s.get("name") or "", s["address"]))
    return screens, forget


class ScreenRegistry:
    """This process's screens of one hall, mirrored into the hall's Redis hash."""

    def __init__(self, redis: Redis, hall_id: str) -> None:
        self.redis = redis
        self.key = keys_prefix(hall_id) + "screens"
        self.local: dict[str, Screen] = {}
        self._put = redis.register_script(_PUT)

    async def _write(self, screen: Screen, force: bool = False) -> None:
        await self._put(keys=[self.key], args=[screen.key, screen.conn, screen.record(), "1" if force else "0", KEEP_S])

    async def connect(self, screen: Screen) -> None:
        self.local[screen.conn] = screen
        await self._write(screen, force=True)

    async def disconnect(self, screen: Screen) -> None:
        self.local.pop(screen.conn, None)
        screen.connected = False
        screen.last_seen = now_ms()
        await self._write(screen)

    async def refresh(self) -> None:
        """Mark every screen of this process as seen now (called at each app-level ping)."""
        now = now_ms()
        for screen in list(self.local.values()):
            screen.last_seen = now
            await self._write(screen)

    async def list(self, heartbeat_s: float) -> list[dict[str, Any]]:
        records: Any = await self.redis.hgetall(self.key)
        screens, forget = listing(records, now_ms(), heartbeat_s)
        if forget:
            await self.redis.hdel(self.key, *forget)
        return screens


async def list_screens(request: Request) -> Response:
    """``GET /api/halls/{hall}/screens`` (admin): every worker's screens of the hall."""
    from server.api import ADMIN, runtime_of, session_of
    from server.auth import require
    from server.events import HEARTBEAT_S

    hall = runtime_of(request).hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    return JSONResponse(await hall.screens.list(HEARTBEAT_S))


routes = [Route("/api/halls/{hall}/screens", list_screens)]
