"""Every page's element ids are unique: ``getElementById`` finds the first of two, so a second
table with the same id is drawn into the first (seen: the manager page's window list went into
the live windows board, whose next redraw wiped it)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    p for folder in ("admin", "caller", "display", "kiosk") for p in (ROOT / folder).glob("templates/*.html")
)
ID = re.compile(r"""\bid=["']([^"'{}]+)["']""")


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_element_ids_are_unique(template: Path) -> None:
    ids = Counter(ID.findall(template.read_text(encoding="utf-8")))
    assert not [i for i, n in ids.items() if n > 1], template


def test_every_page_is_looked_at() -> None:
    assert len(TEMPLATES) >= 8
