"""The audit log: who did what to the hall, when, at which window, from which address.

Recorded: every window action a clerk or manager performed (call, recall, no-show,
transfer, pause …, from the pad socket or HTTP), tickets cancelled by staff, notice
changes, hall-file reloads, logins, failed logins and logouts.

Where the records come from: the edge, not the event stream. The request handler is
the one place that knows the session (who) and the client address (from where);
the public event stream carries neither reliably (staff ids are being taken out of
public events, and it never had addresses), and it is trimmed to a bounded length.
Each action's record carries the ``seq`` of the event the action produced, so an
auditor can line the two up, and an action retried with the same ``request_id``
(one action, one answer) is recorded once. A record is written right after the action's script succeeded;
if the process died between the two, that one action would be missing here but
not in the stream.

Kept in Redis as one stream per hall, ``hallq:{hall}:audit`` (the hall's hash tag),
trimmed to about :data:`KEEP` records. ``GET /api/halls/{hall}/audit`` (admin)
answers JSON, newest first, or CSV with ``format=csv``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import zoneinfo
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.queue.constants import keys_prefix
from server.queue.errors import Refusal

log = logging.getLogger("hallq.audit")

#: Records kept per hall (about: the stream is trimmed approximately). A busy hall makes
#: a few thousand a day, so this is weeks of history.
KEEP = 50_000
COLUMNS = ("time", "action", "staff", "role", "window", "ticket", "client", "seq", "detail")

# Append unless this retry key (caller and request_id) was already recorded: a retried
# request is one action. Records without a key (no request_id) are always appended.
_APPEND = """
if ARGV[2] ~= '' then
  if not redis.call('SET', KEYS[1] .. ':seen:' .. ARGV[2], '1', 'NX', 'EX', 86400) then return 0 end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
return 1
"""


def audit_key(hall_id: str) -> str:
    return keys_prefix(hall_id) + "audit"


def entry(
    action: str,
    *,
    staff: str | None = None,
    role: str | None = None,
    window: str | None = None,
    ticket: str | None = None,
    client: str | None = None,
    seq: int | None = None,
    detail: str | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """One audit record (``at`` in epoch ms, now by default)."""
    moment = at if at is not None else int(datetime.now().timestamp() * 1000)
    return {
        "at": moment,
        "action": action,
        "staff": staff,
        "role": role,
        "window": window,
        "ticket": ticket,
        "client": client,
        "seq": seq,
        "detail": detail,
    }


async def record(redis: Redis, hall_id: str, item: dict[str, Any], once: str | None = None) -> None:
    """Append ``item`` to the hall's audit log, only once per ``once`` key (a retried request);
    a failure is logged, never raised (the action it describes has already happened)."""
    try:
        script = redis.register_script(_APPEND)
        await script(
            keys=[audit_key(hall_id)],
            args=[json.dumps(item, ensure_ascii=False), once or "", KEEP],
        )
    except RedisError as exc:
        log.warning("audit record of %s in hall %s not written: %s", item.get("action"), hall_id, exc)


async def entries(redis: Redis, hall_id: str, limit: int = KEEP) -> list[dict[str, Any]]:
    """The hall's audit records, newest first."""
    raw: list[Any] = await redis.xrevrange(audit_key(hall_id), count=limit)  # type: ignore[assignment]
    return [json.loads(fields["e"]) for _id, fields in raw]


def to_csv(items: list[dict[str, Any]], tz: zoneinfo.ZoneInfo) -> str:
    """The records as CSV (header first), times in the hall's zone with their offset."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for item in items:
        when = datetime.fromtimestamp(int(item["at"]) / 1000, tz).isoformat(timespec="seconds")
        writer.writerow([when, *("" if item.get(c) is None else _safe(str(item[c])) for c in COLUMNS[1:])])
    return out.getvalue()


def _safe(cell: str) -> str:
    """A cell that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


async def audit_log(request: Request) -> Response:
    """``GET /api/halls/{hall}/audit[?format=csv][&limit=N]`` (admin)."""
    from server.asking import session_of
    from server.auth import ADMIN, require
    from server.runtime import runtime_of

    runtime = runtime_of(request)
    hall = runtime.hall(request.path_params["hall"])
    require(await session_of(request), hall.hall.id, ADMIN)
    limit_text = request.query_params.get("limit", str(KEEP))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= KEEP:
        raise Refusal("bad_field", f"limit must be a number from 1 to {KEEP}")
    items = await entries(runtime.redis, hall.hall.id, int(limit_text))
    fmt = request.query_params.get("format", "json")
    if fmt == "csv":
        headers = {"Content-Disposition": f'attachment; filename="{hall.hall.id}-audit.csv"'}
        text = to_csv(items, zoneinfo.ZoneInfo(hall.hall.timezone))
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    if fmt != "json":
        raise Refusal("invalid_format", "format must be json or csv")
    return JSONResponse({"entries": items})


routes = [Route("/api/halls/{hall}/audit", audit_log)]
