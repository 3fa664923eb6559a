"""kiosk/static/place-rule.js (the visitor page's rule) answers every case of
tests/place_vectors.json as server/place.py does, run by node."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")

SCRIPT = """
const rule = require(process.argv[1]);
const vectors = require(process.argv[2]);
const out = vectors.map((c) => {
  const after = rule.step(c.place, c.event);
  return after === null ? null : {after, ahead: rule.ahead(after), eta_s: rule.etaS(after)};
});
process.stdout.write(JSON.stringify(out));
"""


def test_the_js_rule_agrees_with_the_vectors() -> None:
    if NODE is None:
        reason = "!!! THE JS PLACE RULE IS NOT CHECKED: node is missing (apt-get install nodejs) !!!"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    vectors_path = ROOT / "tests/place_vectors.json"
    done = subprocess.run(
        [NODE, "-e", SCRIPT, str(ROOT / "kiosk/static/place-rule.js"), str(vectors_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = json.loads(done.stdout)
    vectors = json.loads(vectors_path.read_text())
    assert len(answers) == len(vectors) >= 50
    for case, answer in zip(vectors, answers, strict=True):
        if case["after"] is None:
            assert answer is None, case["event"]
        else:
            assert answer is not None, case["event"]
            assert answer["after"] == case["after"], case["event"]
            assert (answer["ahead"], answer["eta_s"]) == (case["ahead"], case["eta_s"])
