"""The city's background sockets: every hall's lobby displays and visitors' phones, held by client processes.

Run as a process (``python bench/city_clients.py --background-for PORT --spec FILE``, started
by :class:`Background`), it connects each ``(hall, path)`` of the JSON spec with a lean socket
(``lean_clients.LeanSocket``), ``--connect-batch`` at once, each batch once the one before has
its first messages (a cluster's per-node pool does not queue: see bench_city.py). It prints
``ready N`` once every socket has had a message; then for each ``report`` line on its stdin it
prints one JSON line: per hall its sockets, the lowest last seq any of them saw (``min_seq``)
and how many were told ``{"redis":"down"}``, and the connections lost. It ends when its stdin
closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import raise_file_limit
from lean_clients import SEQ, LeanSocket

DOWN = b'"redis":"down"'


class Seen:
    """What one socket saw: its first message, its last seq, whether it was told Redis is down."""

    __slots__ = ("city", "down", "hall", "last", "ready")

    def __init__(self, hall: str, city: City) -> None:
        self.hall, self.city = hall, city
        self.last, self.down, self.ready = -1, False, False

    @property
    def lost(self) -> int:
        return self.city.lost

    @lost.setter
    def lost(self, value: int) -> None:
        self.city.lost = value

    def message(self, payload: bytes, now: float) -> None:
        if not self.ready:
            self.ready = True
            self.city.ready += 1
            if self.city.ready == self.city.sockets:
                self.city.all_ready.set()
        if DOWN in payload:
            self.down = True
        match = SEQ.search(payload)
        if match is not None:
            self.last = max(self.last, int(match.group(1)))


class City:
    def __init__(self, sockets: int) -> None:
        self.sockets = sockets
        self.ready = 0
        self.lost = 0
        self.all_ready = asyncio.Event()


async def run_background(port: int, spec_file: str, batch_size: int) -> None:
    """Connect every (hall, path) of the spec, ``batch_size`` at once, each batch once the one before
    has its first messages; print "ready"; on "report", print what each hall's sockets saw."""
    spec: list[list[str]] = json.loads(Path(spec_file).read_text())
    raise_file_limit(len(spec) + 256)
    city = City(len(spec))
    loop = asyncio.get_running_loop()
    seen: list[Seen] = []
    for start in range(0, len(spec), batch_size):
        batch = []
        for hall, path in spec[start : start + batch_size]:
            record = Seen(hall, city)
            seen.append(record)
            batch.append(
                loop.create_connection(partial(LeanSocket, record, "127.0.0.1", port, path), "127.0.0.1", port)
            )
        await asyncio.gather(*batch)
        deadline = loop.time() + 60
        while city.ready + city.lost < len(seen) and loop.time() < deadline:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(city.all_ready.wait(), 180)
    print(f"ready {len(seen)}", flush=True)
    while (line := await loop.run_in_executor(None, sys.stdin.readline)) and line.strip() == "report":
        halls: dict[str, dict[str, int]] = {}
        for record in seen:
            row = halls.setdefault(record.hall, {"sockets": 0, "min_seq": 1 << 60, "down": 0})
            row["sockets"] += 1
            row["min_seq"] = min(row["min_seq"], record.last)
            row["down"] += record.down
        print(json.dumps({"halls": halls, "lost": city.lost}), flush=True)


class Background:
    def __init__(self, port: int, spec: list[tuple[str, str]], folder: Path, index: int, batch: int) -> None:
        spec_file = folder / f"spec-{index}.json"
        spec_file.write_text(json.dumps(spec))
        command = [
            sys.executable,
            __file__,
            "--background-for",
            str(port),
            "--spec",
            str(spec_file),
            "--connect-batch",
            str(batch),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a background client process ended ({self.process.wait()})")
        return line.strip()

    def report(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        return dict(json.loads(self.line()))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background-for", type=int, required=True, help="the server's port on 127.0.0.1")
    parser.add_argument("--spec", required=True, help="a JSON list of [hall, socket path]")
    parser.add_argument("--connect-batch", type=int, default=50)
    args = parser.parse_args(argv)
    asyncio.run(run_background(args.background_for, args.spec, args.connect_batch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
