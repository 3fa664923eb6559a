"""``hallq check-config FILE``: every problem printed with its place; exit status says ok or not."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis as sync_redis
from redis.asyncio import Redis

from server.config import demo_text, load_demo
from server.embedded import EmbeddedRedis
from server.queue.constants import keys_prefix
from server.queue.engine import Engine
from tests.live import LiveServer
from tests.test_clerk_day import without_photo_text

ROOT = Path(__file__).resolve().parent.parent


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def line_of(text: str, needle: str, nth: int = 0) -> int:
    return [n for n, line in enumerate(text.splitlines(), start=1) if needle in line][nth]


def test_ok_file_exits_zero(tmp_path: Path) -> None:
    path = tmp_path / "demo.toml"
    path.write_text(demo_text(), encoding="utf-8")
    result = check_config(path)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "'demo'" in result.stdout
    assert "4 services" in result.stdout and "5 windows" in result.stdout


def test_every_problem_is_printed_with_its_place(tmp_path: Path) -> None:
    text = demo_text()
    text = text.replace('languages = ["zh", "en"]', "languages = []", 1)
    text = text.replace('daily_reset = "03:00"', 'daily_reset = "27:00"', 1)
    text = text.replace('prefix = "C"', 'prefix = "B"', 1)
    text = text.replace('id = "5"', 'id = "3"', 1)
    text = text.replace('["register", "transfer", "pension"]]', '["register", "transfer", "pensoin"]]', 1)
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    result = check_config(path)
    assert result.returncode != 0
    out = result.stderr + result.stdout
    expected = [
        (line_of(text, "languages = []"), "hall.languages"),
        (line_of(text, '"27:00"'), "hall.daily_reset"),
        (line_of(text, 'prefix = "B"', nth=1), "services[2].prefix"),
        (line_of(text, "pensoin"), "windows[4].tiers"),
    ]
    for line, path_text in expected:
        assert f"{path}:line {line}: {path_text}:" in out, (line, path_text, out)
    assert "windows[4].id: duplicate window id '3'" in out
    assert "pensoin" in out
    assert "problem(s)" in out
    assert "Traceback" not in out


def test_remote_section_problems_are_printed_with_their_lines(tmp_path: Path) -> None:
    text = demo_text()
    text = text.replace("within_hours = true", 'within_hours = "yes"', 1)
    text = text.replace("daily_quota = 200", "daily_quota = -5\nquota = 3", 1)
    path = tmp_path / "remote.toml"
    path.write_text(text, encoding="utf-8")
    result = check_config(path)
    assert result.returncode != 0
    out = result.stderr + result.stdout
    for needle, where, message in [
        ('within_hours = "yes"', "remote.within_hours", "must be true or false"),
        ("daily_quota = -5", "remote.daily_quota", "must be a whole number from 0 to 100000"),
        ("quota = 3", "remote.quota", "unknown key 'quota'"),
    ]:
        assert f"{path}:line {line_of(text, needle)}: {where}: {message}" in out, (where, out)
    assert "Traceback" not in out


def test_toml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    text = demo_text().replace("expected_minutes = 10", "expected_minutes = 10 minutes", 1)
    path = tmp_path / "syntax.toml"
    path.write_text(text, encoding="utf-8")
    result = check_config(path)
    assert result.returncode != 0
    assert f"line {line_of(text, '10 minutes')}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file_exits_non_zero(tmp_path: Path) -> None:
    result = check_config(tmp_path / "nowhere.toml")
    assert result.returncode != 0
    assert "nowhere.toml" in result.stderr
    assert "Traceback" not in result.stderr


# --- a hall file that drops a service (issue 9, point 9) ----------------------------------


def check_against(path: Path, against: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(path), "--against", against],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_check_config_against_a_store_lists_the_tickets_it_would_orphan(
    tmp_path: Path, live_server: LiveServer
) -> None:
    live_server.issue(["photo"])  # D001
    live_server.issue(["register"])  # A001
    live_server.issue(["photo", "register"])  # D002, combined
    smaller, same = tmp_path / "no-photo.toml", tmp_path / "demo.toml"
    smaller.write_text(without_photo_text(), encoding="utf-8")
    same.write_text(demo_text(), encoding="utf-8")
    seq = live_server.request("GET", "/api/halls/demo/state")[1]["seq"]
    result = check_against(smaller, live_server.redis_url)
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "ticket D001 (photo, waiting) would expire: service_removed" in result.stderr
    assert "ticket D002 (photo,register, waiting) would expire" in result.stderr
    assert "A001" not in result.stderr
    assert "2 open ticket(s) would expire" in result.stdout
    assert live_server.request("GET", "/api/halls/demo/state")[1]["seq"] == seq, "a check changes nothing"
    unchanged = check_against(same, live_server.redis_url)
    assert unchanged.returncode == 0 and "no open ticket" in unchanged.stdout, unchanged.stderr


def test_check_config_against_the_embedded_data_folder(tmp_path: Path) -> None:
    store = EmbeddedRedis(tmp_path / "data" / "redis")
    url = store.start()

    async def issue_photo() -> None:
        client = Redis.from_url(url, decode_responses=True)
        await Engine(client, load_demo(), secret=b"k").issue(["photo"])
        await client.aclose()

    try:
        asyncio.run(issue_photo())
    finally:
        store.stop()
    smaller = tmp_path / "no-photo.toml"
    smaller.write_text(without_photo_text(), encoding="utf-8")
    result = check_against(smaller, str(tmp_path / "data"))
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert "ticket D001 (photo, waiting) would expire" in result.stderr
    assert check_against(smaller, str(tmp_path / "nothing")).returncode == 1


def test_serve_on_a_hall_file_without_photo_expires_its_tickets(tmp_path: Path, live_server_factory: Any) -> None:
    first = live_server_factory()
    photo = first.issue(["photo"])  # D001
    register = first.issue(["register"])  # A001
    clerk = first.login("s05")
    assert first.act(clerk, "5", "call_next")[1]["ticket"]["number"] == "D001"
    assert first.act(clerk, "5", "suspend")[0] == 200  # a suspended photo ticket is open too
    first.issue(["photo"])  # D002, waiting
    first.stop()
    smaller = tmp_path / "no-photo.toml"
    smaller.write_text(without_photo_text(), encoding="utf-8")
    second = live_server_factory(redis_url=first.redis_url, config=str(smaller))
    log = second.log_path.read_text()
    assert "ticket D001 (photo, suspended) expired: service_removed" in log, log[-2000:]
    assert "ticket D002 (photo, waiting) expired: service_removed" in log
    status, mine = second.request("GET", f"/api/tickets/{photo['ticket']['token']}")
    assert status == 200 and mine["ticket"]["status"] == "expired"
    assert second.request("GET", f"/api/tickets/{register['ticket']['token']}")[1]["ticket"]["status"] == "waiting"
    client = sync_redis.Redis.from_url(first.redis_url, decode_responses=True)
    try:
        entries = client.xrange(keys_prefix("demo") + "events")
    finally:
        client.close()
    expired = [json.loads(fields["e"]) for _id, fields in entries]
    expired = [e for e in expired if e["type"] == "ticket.expired"]
    assert sorted((e["ticket"]["number"], e["reason"]) for e in expired) == [
        ("D001", "service_removed"),
        ("D002", "service_removed"),
    ]
    # a restart on the same file finds nothing more to settle
    third = live_server_factory(redis_url=first.redis_url, config=str(smaller))
    assert "expired:" not in third.log_path.read_text()
