"""The edge (server/edge.py): one table from refusal codes to HTTP statuses, one table of the
WebSocket close codes the server sends, read by the pad page and the keypad client alike.

The codes are collected by scanning the Lua scripts and the Python source, not from a
hand-kept list, so a new refusal without a status (or a status left for a code nobody
raises any more) fails here.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace

from starlette.requests import Request

from caller import padsocket
from server import edge, pages
from server.config import load_demo
from server.edge import CLOSE_CODES, STATUS_BY_CODE, client_close_codes, close_code, final_close_codes, http_status
from server.queue.errors import Refusal

ROOT = Path(__file__).resolve().parent.parent
REFUSAL_PATTERNS = [
    re.compile(r"fail\('([a-z_]+)'"),  # Lua: fail('code', ...)
    # Python: a Refusal or one of its kinds, and CaseError (casebook passes its code on)
    re.compile(r"\b(?:Refusal|AuthError|RateLimited|BadRequest|StatsQueryError|CaseError)\(\s*\"([a-z_]+)\""),
    re.compile(r"refuse\(\s*websocket,\s*\"([a-z_]+)\""),  # socket refusals
    re.compile(r"return \"([a-z_]+)\", \""),  # browser.write_refusal's (code, message)
]
#: Codes the app builds itself for what is no refusal (starlette's 404/405, a Lua error).
APP_CODES = {"not_found", "method_not_allowed", "http_error", "bad_input"}
#: A number a close code could be: 1000-1015 (RFC 6455 and IANA) or 4000-4999 (private use).
CLOSE_NUMBER = re.compile(r"\b(10(?:0\d|1[0-5])|4\d{3})\b")


def close_numbers(text: str) -> set[str]:
    """The numbers that could be close codes on the lines of ``text`` that speak of closing."""
    lines = [line for line in text.splitlines() if "close" in line.lower()]
    return {n for line in lines for n in CLOSE_NUMBER.findall(line)}


def sources(*suffixes: str) -> list[Path]:
    return sorted(p for s in suffixes for p in ROOT.joinpath("server").rglob(f"*{s}"))


def refusal_codes() -> set[str]:
    codes: set[str] = set()
    for path in sources(".py", ".lua"):
        text = path.read_text(encoding="utf-8")
        for pattern in REFUSAL_PATTERNS:
            codes.update(pattern.findall(text))
    return codes


def test_the_scan_finds_one_code_of_each_kind() -> None:
    codes = refusal_codes()
    # a Lua fail, a Refusal, an AuthError, RateLimited, BadRequest, StatsQueryError, CaseError,
    # a socket refusal and a browser refusal: a broken pattern cannot pass by finding nothing
    assert {
        "too_early",
        "unknown_hall",
        "forbidden",
        "rate_limited",
        "body_too_large",
        "invalid_by",
        "invalid_transition",
        "too_many_sockets",
        "cross_site",
    } <= codes
    assert len(codes) >= 80


def test_every_refusal_code_has_a_status_and_the_table_has_no_stale_entry() -> None:
    codes = refusal_codes()
    assert sorted(codes - set(STATUS_BY_CODE)) == [], "refusal codes without an HTTP status in server/edge.py"
    assert sorted(set(STATUS_BY_CODE) - codes) == [], "statuses for codes nothing refuses with"
    assert not APP_CODES & set(STATUS_BY_CODE)
    assert set(STATUS_BY_CODE.values()) == {400, 401, 403, 404, 409, 413, 415, 422, 429, 503}


def test_the_statuses_are_those_the_api_has_always_answered() -> None:
    malformed = ("bad_json", "bad_since", "body_too_large", "json_required")
    assert [http_status(c) for c in malformed] == [400, 400, 413, 415]
    assert [http_status(c) for c in ("bad_credentials", "not_logged_in")] == [401, 401]
    assert [http_status(c) for c in ("forbidden", "wrong_hall", "bad_origin", "cross_site")] == [403] * 4
    assert [http_status(c) for c in ("unknown_window", "unknown_case", "unknown_phrase")] == [404] * 3
    assert [http_status(c) for c in ("bad_field", "bad_hall_file", "invalid_by", "bad_status")] == [422] * 4
    assert [http_status(c) for c in ("too_many_attempts", "rate_limited", "too_many_sockets")] == [429] * 3
    assert [http_status(c) for c in ("redis_unavailable", "speech_unavailable")] == [503, 503]
    assert http_status("window_paused") == http_status("invalid_transition") == 409
    assert http_status("a_code_nobody_listed") == 409  # not possible now


def test_domain_errors_carry_no_transport_number() -> None:
    refusal = Refusal("unknown_window", "there is no window '9'", {"window": "9"})
    assert not hasattr(refusal, "status")
    assert refusal.body() == {"error": {"code": "unknown_window", "message": "there is no window '9'", "window": "9"}}
    errors = ROOT.joinpath("server", "queue", "errors.py").read_text(encoding="utf-8")
    assert not re.search(r"\b[45]\d\d\b", errors), "server/queue/errors.py names an HTTP status"
    # nowhere outside the edge does a refusal get or give a status
    given = re.compile(r"\b(?:Refusal|AuthError|RateLimited|BadRequest|StatsQueryError)\([^()]*\b[45]\d\d\)")
    read = re.compile(r"\b(?:refusal|exc|error)\.status\b")
    for path in sources(".py"):
        text = path.read_text(encoding="utf-8")
        assert not given.search(text) and not read.search(text), path


def test_refused_sockets_close_with_the_codes_they_always_had() -> None:
    expected = {
        "unknown_hall": 4404,
        "unknown_window": 4404,
        "unknown_ticket": 4404,
        "bad_since": 4400,
        "bad_origin": 4403,
        "not_logged_in": 4401,
        "wrong_hall": 4403,
        "forbidden": 4403,
        "too_many_sockets": 4429,
        "redis_unavailable": 1013,
    }
    assert {code: close_code(code) for code in expected} == expected
    assert close_code("bad_field") == CLOSE_CODES["bad_request"]


def test_every_close_code_in_server_code_is_in_the_table() -> None:
    sockets = ROOT.joinpath("server", "sockets.py").read_text(encoding="utf-8")
    refused = set(re.findall(r"refuse\(\s*websocket,\s*\"([a-z_]+)\"", sockets))
    # the pad socket also refuses with whatever require() raises
    refused |= {"not_logged_in", "wrong_hall", "forbidden"}
    assert {close_code(code) for code in refused} <= set(CLOSE_CODES.values())
    assert {close_code(code) for code in refused} | {CLOSE_CODES["normal"]} == set(CLOSE_CODES.values())
    for path in sources(".py"):
        if path.name == "edge.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "close" not in line.lower() and "refuse" not in line.lower():
                continue
            for found in CLOSE_NUMBER.findall(line):
                assert int(found) in CLOSE_CODES.values(), f"{path.name}:{number}: close code {found} not in the table"
                # a literal in a call would be a second source: code goes through the table
                call = rf"(close_quietly|refuse|\.close)\([^)]*\b{found}\b"
                assert not re.search(call, line), f"{path.name}:{number}: use server.edge, not {found}"


def test_the_pad_page_carries_the_close_code_table() -> None:
    hall = load_demo()
    runtime = SimpleNamespace(hall=lambda hall_id: SimpleNamespace(hall=hall))
    scope = {
        "type": "http",
        "app": SimpleNamespace(state=SimpleNamespace(runtime=runtime)),
        "path_params": {"hall": hall.id},
        "headers": [],
    }
    page = asyncio.run(pages.pad(Request(scope)))
    assert page.status_code == 200
    html = bytes(page.body).decode()
    block = re.search(r'<script id="close-codes" type="application/json">(.*?)</script>', html, re.S)
    assert block is not None, "the pad page lacks its close-code table"
    table = json.loads(block.group(1))
    assert table == client_close_codes()
    assert table["final"] == [4401, 4403, 4404]
    assert table["codes"] == CLOSE_CODES


def test_pad_js_reads_the_table_and_checks_only_codes_the_server_sends() -> None:
    script = ROOT.joinpath("caller", "static", "pad.js").read_text(encoding="utf-8")
    assert 'getElementById("close-codes")' in script
    # no close code of its own to compare with (4000 is the one it sends, closing a mute socket)
    assert close_numbers(script) <= {"4000"}
    assert '"unauthorized"' not in script
    error_codes = set(re.findall(r"err\.code === \"([a-z_]+)\"", script))
    assert error_codes and error_codes <= set(STATUS_BY_CODE)


def test_the_keypad_uses_the_table() -> None:
    assert padsocket.AUTH_CLOSE_CODES == final_close_codes() == edge.final_close_codes()
    assert set(padsocket.AUTH_CLOSE_CODES) <= set(CLOSE_CODES.values())
    source = "\n".join(path.read_text(encoding="utf-8") for path in ROOT.joinpath("caller").glob("*.py"))
    assert close_numbers(source) <= {"4000"}
