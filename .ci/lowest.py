"""Print pip constraints pinning each runtime dependency of pyproject.toml to its floor.

CI installs hallq with them into a clean venv and runs a few fast tests, so the floors
we declare are versions that really work (``python .ci/lowest.py > lowest.txt``).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def floors(dependencies: list[str]) -> list[str]:
    """``name==floor`` for every requirement with a ``>=`` floor (extras and markers dropped)."""
    pins = []
    for requirement in dependencies:
        spec = requirement.split(";", 1)[0]
        match = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(.*)", spec)
        if not match:
            continue
        name, constraints = match.groups()
        floor = re.search(r">=\s*([0-9][^,\s]*)", constraints)
        if floor:
            pins.append(f"{name}=={floor.group(1)}")
    return pins


if __name__ == "__main__":
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    sys.stdout.write("\n".join(floors(project["dependencies"])) + "\n")
