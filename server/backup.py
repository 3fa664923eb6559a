"""``hallq backup`` and ``hallq restore``: a consistent copy of every hall's data in a file.

What is copied: every ``hallq:*`` key, as Redis ``DUMP`` payloads with their expiry.
A hall's keys share the hash tag ``{hall}`` and every action changes them in one
script, so one script per hall (:data:`SNAPSHOT_LUA`) reads all of a hall's keys
at one instant: a backup taken while clerks are calling holds each hall exactly as
it was between two actions, never half an action. (Halls are independent of each
other, so their instants may differ by milliseconds.) Keys outside any hall
(``hallq:secret``, the key of ID-number hashes) never change once made.

The file is JSON lines: a header, then one line per key
``{"k": key, "v": base64 DUMP payload, "x": absolute expiry in epoch ms or 0}``.
A ``DUMP`` payload carries its Redis's RDB version: a backup loads into the same or
a newer Redis (the embedded 6.2 into an external 7 works; 7 into 6.2 does not).

Restoring (:data:`RESTORE_LUA`, again one script per hall) replaces a hall's keys
at once, keeps ``seq`` from going back (it continues from the backup's, or from the
store's own when that is higher, so screens never drop new events as seen ones),
and appends a ``hall.reset`` event with ``"reason": "restored"``: hubs following
the stream pass it on and every screen resyncs with a snapshot.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from server.queue.constants import KEY_PREFIX, keys_prefix

FORMAT = "hallq-backup"
VERSION = 1

#: All keys of one hall, DUMPed with their remaining life, in one atomic step.
#: KEYS[1] is the hall's seq key, so a cluster runs the script on the hall's node.
SNAPSHOT_LUA = """
local out = {}
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do
  local ttl = redis.call('PTTL', key)
  if ttl ~= -2 then
    out[#out + 1] = key
    out[#out + 1] = redis.call('DUMP', key)
    out[#out + 1] = ttl
  end
end
local now = redis.call('TIME')
return {now[1] * 1000 + math.floor(now[2] / 1000), tonumber(redis.call('GET', KEYS[1]) or '0'), out}
"""

#: Replace one hall's keys by the backup's, all at once, then say so with a hall.reset event.
#: ARGV: pattern, prefix, (unused), event json (without seq), then key, expiry, payload triples.
#: The stream is not trimmed here: the hall's next action trims it to its own retention.
RESTORE_LUA = """
local P = ARGV[2]
local before = tonumber(redis.call('GET', P .. 'seq') or '0')
for _, key in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', key) end
for i = 5, #ARGV, 3 do
  local expiry = tonumber(ARGV[i + 1])
  if expiry == 0 then
    redis.call('RESTORE', ARGV[i], 0, ARGV[i + 2], 'REPLACE')
  else
    redis.call('RESTORE', ARGV[i], expiry, ARGV[i + 2], 'REPLACE', 'ABSTTL')
  end
end
local restored = tonumber(redis.call('GET', P .. 'seq') or '0')
if before > restored then redis.call('SET', P .. 'seq', before) end
local seq = redis.call('INCR', P .. 'seq')
local ev = cjson.decode(ARGV[4])
ev.seq = seq
local t = redis.call('TIME')
ev.at = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('XADD', P .. 'events', seq .. '-0', 'e', cjson.encode(ev))
return {restored, seq}
"""


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Entry:
    """One key of a backup: its name, DUMP payload and absolute expiry (epoch ms, 0 for none)."""

    key: bytes
    payload: bytes
    expires_at: int


def hall_of(key: bytes) -> str | None:
    """The hall id of a ``hallq:{hall}:…`` key; None for keys outside any hall (including
    ``hallq:{_hallq}:secret``: a tag starting with ``_`` is no hall's, hall ids cannot)."""
    tag = f"{KEY_PREFIX}{{".encode()
    if not key.startswith(tag) or key.startswith(tag + b"_"):
        return None
    end = key.find(b"}:", len(tag))
    return key[len(tag) : end].decode() if end > len(tag) else None


def glob_escape(text: str) -> str:
    """``text`` with Redis glob's special characters escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def hall_pattern(hall: str) -> str:
    return f"{glob_escape(keys_prefix(hall))}*"


def connect(url: str) -> redis.Redis:
    """A client of the store at ``url`` (any ``REDIS_URL`` form), raw bytes in and out."""
    from server import store

    try:
        spec = store.parse(url)
    except store.StoreURLError as exc:
        raise BackupError(str(exc)) from exc
    return store.sync_client(spec)


def scan_groups(client: redis.Redis) -> tuple[set[str], list[bytes]]:
    """The halls that have keys, and the hallq keys that belong to no hall."""
    halls: set[str] = set()
    loose: list[bytes] = []
    for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=1000):
        hall = hall_of(key)
        if hall is None:
            loose.append(key)
        else:
            halls.add(hall)
    return halls, loose


def snapshot(client: redis.Redis) -> tuple[dict[str, Any], list[Entry]]:
    """Every hallq key of the store: a header and the entries, each hall read atomically."""
    halls, loose = scan_groups(client)
    entries: list[Entry] = []
    seqs: dict[str, int] = {}
    script = client.register_script(SNAPSHOT_LUA)
    for hall in sorted(halls):
        now_ms, seq, flat = script(keys=[keys_prefix(hall) + "seq"], args=[hall_pattern(hall)])
        seqs[hall] = int(seq)
        for i in range(0, len(flat), 3):
            key, payload, ttl = flat[i], flat[i + 1], int(flat[i + 2])
            entries.append(Entry(key, payload, int(now_ms) + ttl if ttl >= 0 else 0))
    for key in loose:
        with client.pipeline(transaction=True) as pipe:
            pipe.dump(key)
            pipe.pttl(key)
            payload, ttl = pipe.execute()
        if payload is not None:
            entries.append(Entry(key, payload, int(time.time() * 1000) + ttl if ttl >= 0 else 0))
    info: Any = client.info("server")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": int(time.time() * 1000),
        "redis_version": info.get("redis_version"),
        "halls": {hall: {"seq": seqs.get(hall, 0)} for hall in sorted(halls)},
        "keys": len(entries),
    }
    return header, entries


def write_backup(url: str, out: str) -> str:
    """Write a backup of the store at ``url`` to the file ``out`` (``-``: stdout); a summary line."""
    client = connect(url)
    try:
        header, entries = snapshot(client)
    except redis.RedisError as exc:
        raise BackupError(f"cannot read the store at {_safe(url)}: {exc}") from exc
    finally:
        client.close()
    lines = [json.dumps(header)] + [
        json.dumps({"k": e.key.decode(), "v": base64.b64encode(e.payload).decode(), "x": e.expires_at}) for e in entries
    ]
    text = "\n".join(lines) + "\n"
    if out == "-":
        sys.stdout.write(text)
    else:
        path = Path(out)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)  # a crash mid-write never leaves a truncated backup under the real name
    halls = ", ".join(f"{h} (seq {v['seq']})" for h, v in header["halls"].items()) or "no halls"
    return f"{len(entries)} keys of {halls} written to {out}"


def read_backup(path: str) -> tuple[dict[str, Any], list[Entry]]:
    """The header and entries of a backup file; :class:`BackupError` when it is not one."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror}") from exc
    lines = _lines(text.splitlines())
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError) as exc:
        raise BackupError(f"{path} is not a hallq backup (no header)") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{path} is not a hallq backup")
    if header.get("version") != VERSION:
        raise BackupError(f"{path} is backup format {header.get('version')}; this hallq reads {VERSION}")
    entries = []
    for number, line in enumerate(lines, start=2):
        try:
            item = json.loads(line)
            entries.append(Entry(item["k"].encode(), base64.b64decode(item["v"]), int(item["x"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{path}:{number}: a damaged line ({exc})") from exc
    if len(entries) != header.get("keys"):
        raise BackupError(f"{path} holds {len(entries)} keys, its header says {header.get('keys')}: it is cut short")
    return header, entries


def _lines(source: list[str]) -> Iterator[str]:
    for line in source:
        if line.strip():
            yield line


def restore_backup(url: str, path: str, *, force: bool = False) -> str:
    """Load the backup at ``path`` into the store at ``url``; a summary line.

    Refused when the store already holds hall data (keys under a hall's prefix), unless
    ``force``: then each hall of the backup is replaced at once, in one script.
    """
    header, entries = read_backup(path)
    client = connect(url)
    try:
        halls, _loose = scan_groups(client)
        if halls and not force:
            raise BackupError(
                f"the store at {_safe(url)} already holds data of hall(s) {', '.join(sorted(halls))}; "
                "restore into an empty store, or add --force to replace it"
            )
        now_ms = int(time.time() * 1000)
        by_hall: dict[str | None, list[Entry]] = {}
        for entry in entries:
            if entry.expires_at and entry.expires_at <= now_ms:
                continue  # expired since the backup (a rate-limit window, an old session)
            by_hall.setdefault(hall_of(entry.key), []).append(entry)
        for entry in by_hall.pop(None, []):
            client.restore(entry.key, entry.expires_at, entry.payload, replace=True, absttl=bool(entry.expires_at))
        script = client.register_script(RESTORE_LUA)
        summary = []
        for hall in sorted(set(header["halls"]) | {h for h in by_hall if h}):
            args: list[Any] = [
                hall_pattern(hall),
                keys_prefix(hall),
                "",
                json.dumps({"type": "hall.reset", "hall": hall, "reason": "restored"}),
            ]
            for entry in by_hall.get(hall, []):
                args += [entry.key, entry.expires_at, entry.payload]
            restored, seq = script(keys=[keys_prefix(hall) + "seq"], args=args)
            summary.append(f"{hall} (seq {restored}, hall.reset at {seq})")
    except redis.ResponseError as exc:
        if "payload version" in str(exc).lower():
            raise BackupError(
                f"this backup was made by Redis {header.get('redis_version')}, newer than the store at {_safe(url)}; "
                "restore it into a Redis of that version or newer"
            ) from exc
        raise BackupError(f"the store at {_safe(url)} refused the restore: {exc}") from exc
    except redis.RedisError as exc:
        raise BackupError(f"cannot write to the store at {_safe(url)}: {exc}") from exc
    finally:
        client.close()
    return f"{len(entries)} keys restored: {', '.join(summary) or 'no halls'}"


def _safe(url: str) -> str:
    """``url`` without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
