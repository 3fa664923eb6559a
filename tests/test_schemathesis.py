"""schemathesis against a real ``hallq serve``, from the server's own /api/openapi.json.

Every operation of the document gets valid requests (from its body, path and query
schemas, with path parameters often pointing at real halls, windows, tickets and
appointments) and invalid ones (schemathesis' negative mode). Whatever arrives: never a
5xx, only documented status codes and content types, every error the contract's JSON, and a
refused request (4xx) leaves Redis as it was.
The default budget is small (``HALLQ_SCHEMATHESIS_EXAMPLES`` per operation and mode,
default 5, derandomized) so the suite stays fast; a long run sets it to hundreds
(with `--timeout` raised: `HALLQ_SCHEMATHESIS_EXAMPLES=60 HALLQ_FUZZ_RANDOM=1 pytest --timeout 1400 …`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import redis as sync_redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server import staff_overlay
from server.openapi_operations import OPERATIONS
from server.queue.scripts import ACTIONS
from tests.live import LiveServer

EXAMPLES = int(os.environ.get("HALLQ_SCHEMATHESIS_EXAMPLES", "5"))
STATUSES: dict[int, int] = {}
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("HALLQ_FUZZ_RANDOM") != "1",
    suppress_health_check=list(HealthCheck),
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: Written on purpose when a request is refused: the audit log (failed logins), the
#: failed-login and rate-limit counters. Everything else must stay byte-identical.
#: ``alive`` is the health probe's write, done whenever /healthz or the store watch looks.
#: (":stats" too: each process's hub counts the statistics of earlier events in the background,
#: so stats_seq and stats:DAY may move during any later request, refused or not.)
BOOKKEEPING = (":audit", ":loginfail:", ":rl:", ":ratelimit:", ":limit:", ":alive", ":stats")
#: Real values for body fields, so valid requests also get past "no such service/action".
REAL_FIELDS: dict[str, list[Any]] = {
    "services": [["register"], ["photo"], ["register", "pension"]],
    "action": sorted(ACTIONS),
    "ticket": ["A001", "B001", "D001"],
    "service": ["transfer", "photo"],
    "to_window": ["2", "5"],
    "lang": ["zh", "en"],
    "hall": ["demo"],
    "score": [1, 5],
}


def store_state(client: sync_redis.Redis) -> dict[bytes, bytes | None]:
    """Every key of the server's database as DUMPed (minus bookkeeping), for byte comparison."""
    keys = sorted(k for k in client.scan_iter(count=1000) if not any(b.encode() in k for b in BOOKKEEPING))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.dump(key)
    return dict(zip(keys, pipe.execute(), strict=True))


class Hall:
    """The live demo hall, with some real tickets and appointments to aim at."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.admin = server.login("admin", "admin1234")
        self.redis = sync_redis.Redis.from_url(server.redis_url)
        tickets = [server.issue([s])["ticket"]["token"] for s in ("register", "transfer", "photo")]
        status, slots = server.request("GET", "/api/halls/demo/slots?service=register")
        appointments: list[str] = []
        codes: list[str] = []
        for slot in (slots.get("slots") or [])[-2:] if status == 200 else []:
            status, body = server.request(
                "POST",
                "/api/halls/demo/appointments",
                {"services": ["register"], "date": slot.get("date") or "", "start": slot["start"]},
            )
            if status == 201:
                appointments.append(body["appointment"]["token"])
                codes.append(body["appointment"]["code"])
        self.real = {
            "hall": ["demo"],
            "window": ["1", "2", "5"],
            "token": tickets + appointments,
            "code": codes or ["00000000"],
            "id": ["1"],
        }


@pytest.fixture
def hall(live_server: LiveServer) -> Iterator[Hall]:
    hall = Hall(live_server)
    yield hall
    hall.redis.close()
    # staff the fuzzer added (POST /staff) must not follow the session's other demo servers
    (live_server.data_dir / staff_overlay.DEMO_FILE).unlink(missing_ok=True)


def aim(case: Any, hall: Hall, pick: int) -> None:
    """Point most cases' path parameters at real things (the rest stay as generated)."""
    for name, value in list((case.path_parameters or {}).items()):
        real = hall.real.get(name)
        if real and pick % 4:
            case.path_parameters[name] = real[pick % len(real)] if isinstance(value, str) else value
    if isinstance(case.body, dict) and not pick & 4:
        for name in list(case.body):
            if name in REAL_FIELDS:
                case.body[name] = REAL_FIELDS[name][pick % len(REAL_FIELDS[name])]


def run_case(case: Any, hall: Hall, pick: int) -> None:
    headers = {"Authorization": f"Bearer {hall.admin}"} if pick & 9 != 9 else {}  # a quarter anonymous
    if case.operation.path == "/api/auth/logout":  # never end the admin session the run uses
        hall.redis.delete(*hall.redis.keys("*:loginfail:*"), "-")  # not refused for the fuzzer's failures
        headers = {"Authorization": f"Bearer {hall.server.login('s05', '1234')}"}
    before = store_state(hall.redis)
    response = case.call(base_url=hall.server.url, headers=headers)
    STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
    if os.environ.get("HALLQ_SCHEMATHESIS_TRACE"):
        print(response.status_code, case.operation.label, case.path_parameters, case.body, response.text[:120])
    case.validate_response(response, checks=CHECKS, headers=headers)
    if 400 <= response.status_code < 500:
        after = store_state(hall.redis)
        changed = sorted({*before, *after} - {k for k in before if after.get(k) == before[k]})
        assert not changed, (
            f"{case.operation.method} {case.formatted_path} answered {response.status_code} "
            f"{response.text[:200]} but changed {changed[:10]}"
        )


def fuzz(strategy: Any, hall: Hall, ran: dict[str, int], key: str) -> Any:
    """A Hypothesis test of ``strategy``'s cases on the live hall, counting them in ``ran[key]``."""

    @BUDGET
    @given(case=strategy, pick=st.integers(0, 15))
    def check(case: Any, pick: int) -> None:
        aim(case, hall, pick)
        run_case(case, hall, pick)
        ran[key] = ran.get(key, 0) + 1

    return check


def operations(server: LiveServer) -> list[Any]:
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_error_and_refusals_change_nothing(hall: Hall) -> None:
    ran: dict[str, int] = {}
    described = operations(hall.server)
    labels = {operation.label for operation in described}
    # schemathesis leaves out the document's own URL (it read it already)
    assert labels | {"GET /api/openapi.json"} == {f"{op.method} {op.path}" for op in OPERATIONS}
    for operation in described:
        # A path parameter is any string, so nothing in a path is invalid: negative cases are
        # for bodies and query strings (and schemathesis spends long failing to make them).
        negatable = operation.body or any(p.location == "query" for p in operation.iter_parameters())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 2 if negatable else 1]:
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:  # noqa: BLE001 — schemathesis raises its own kinds when there is nothing to negate
                continue

            check = fuzz(strategy, hall, ran, mode.value)
            try:
                check()
            except Unsatisfiable:  # no parameters nor body: nothing to make invalid
                assert mode is GenerationMode.NEGATIVE, operation.label
    print(f"schemathesis cases: {ran}, statuses: {dict(sorted(STATUSES.items()))}")
    assert ran.get("positive", 0) >= 30 * min(EXAMPLES, 2)
    # the comparison sees a change when there is one
    before = store_state(hall.redis)
    status, _ = hall.server.request("POST", "/api/halls/demo/tickets", {"services": ["pension"]}, token=hall.admin)
    assert status == 201
    assert store_state(hall.redis) != before
