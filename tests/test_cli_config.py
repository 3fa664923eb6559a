"""``hallq check-config FILE``: every problem printed with its place; exit status says ok or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server.config import demo_text

ROOT = Path(__file__).resolve().parent.parent


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "check-config", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
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


def test_toml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    text = demo_text().replace('expected_minutes = 10', 'expected_minutes = 10 minutes', 1)
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
