"""A full data folder: the embedded Redis exits, hallq says why, and heals when space returns.

The test mounts a small tmpfs of its own as the data folder (it needs root; elsewhere it
is skipped with the reason), fills it, and frees it again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import EmbeddedServer, health, wait_for

pytestmark = pytest.mark.long


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system to the last byte; the filler's path."""
    filler = folder / "filler"
    for size in (65536, 512, 1):
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as out:
            while True:
                out.write(b"\0" * size)
    return filler


def test_a_full_disk_is_named_and_healed_when_space_returns(small_disk: Path) -> None:
    server = EmbeddedServer(small_disk / "data")
    server.start()
    try:
        acknowledged = [server.issue(["register"])["ticket"] for _ in range(5)]
        filler = fill(small_disk)
        # the next write cannot reach the append-only file: Redis exits rather than lose it
        outcomes = []
        for _ in range(20):
            status, body = server.request("POST", "/api/halls/demo/tickets", {"services": ["register"]})
            outcomes.append(status)
            if status == 201:
                acknowledged.append(body["ticket"])
            elif status == 503:
                break
        assert outcomes[-1] == 503, outcomes
        wait_for(lambda: health(server) == 503, 10, "/healthz 503")
        status, body = server.request("GET", "/healthz")
        assert body == {"status": "redis_unavailable", "cause": "disk_full"}
        status, body = server.request("POST", "/api/halls/demo/tickets", {"services": ["register"]})
        assert status == 503 and body["error"]["cause"] == "disk_full"
        time.sleep(2)  # it stays down, and says why, while the disk is full
        assert health(server) == 503
        assert f"data folder {small_disk / 'data' / 'redis'} is full" in server.log_text()

        filler.unlink()  # a person frees space: nothing else to do
        wait_for(lambda: health(server) == 200, 30, "/healthz 200 once space returned")
        for ticket in acknowledged:
            status, found = server.request("GET", f"/api/tickets/{ticket['token']}")
            assert status == 200 and found["ticket"]["number"] == ticket["number"], ticket
        numbers = [t["number"] for t in acknowledged]
        assert len(set(numbers)) == len(numbers)
        after = server.issue(["register"])["ticket"]["number"]
        assert after not in numbers
    finally:
        server.stop()
